"""``galzoo gallery``: the galaxies a model rates highest on chosen answers, one row per answer.

Like figures 23-31 of Núñez Beltrán & Reyes (2023), which show the test galaxies with the highest predicted
``Class1.1`` (smooth), ``Class4.1`` (spiral), ``Class1.3`` (star) and so on, to judge by eye whether a
high value means what the answer says. Reads the CSV of ``galzoo predict`` (vote fractions or class
probabilities) and the images it was run on. Built on ``matplotlib.figure.Figure`` (Agg canvas), so it
needs no display and leaves pyplot's global state alone.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from galzoo.errors import DataError
from galzoo.plots.common import save_figure
from galzoo.predict import ID_COLUMN, SUPPORTED_SUFFIXES, read_image

PANEL_INCHES = 1.6
ROW_TITLE_INCHES = 0.35
GALLERY_DPI = 100


def read_predictions(path: Path) -> pd.DataFrame:
    """A ``galzoo predict`` CSV with its ids kept as text (Kaggle ids are numbers, file names are not)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: predictions file not found (write it with galzoo predict)")
    try:
        frame = pd.read_csv(path, dtype={ID_COLUMN: str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV ({err})") from err
    if ID_COLUMN not in frame.columns:
        raise DataError(f"{path}: no {ID_COLUMN} column; expected the output of galzoo predict")
    return frame


def value_columns(frame: pd.DataFrame) -> list[str]:
    """The numeric prediction columns a gallery row can rank by (answers or ``p_<class>``)."""
    return [c for c in frame.columns if c != ID_COLUMN and pd.api.types.is_numeric_dtype(frame[c])]


def find_image(image_dir: Path, galaxy_id: str) -> Path:
    """The image of ``galaxy_id`` in ``image_dir``: ``<id>`` plus any supported ending (either case)."""
    for suffix in SUPPORTED_SUFFIXES:
        for candidate in (image_dir / f"{galaxy_id}{suffix}", image_dir / f"{galaxy_id}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    raise DataError(f"{image_dir}: no image of galaxy {galaxy_id} (looked for {galaxy_id} with endings "
                    f"{', '.join(SUPPORTED_SUFFIXES)})")


def plot_prediction_gallery(predictions: pd.DataFrame, image_dir: Path, columns: list[str], out_png: Path,
                            n: int = 8, source: str = "predictions") -> Path:
    """One row per column of ``columns``: the ``n`` galaxies with the highest value, each titled with its id
    and value. ``source`` names the predictions in error messages. Returns ``out_png``."""
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise DataError(f"{image_dir}: image folder not found")
    if n < 1:
        raise DataError(f"-n must be at least 1, got {n}")
    if not columns:
        raise DataError("no answer columns chosen for the gallery")
    available = value_columns(predictions)
    unknown = [c for c in columns if c not in available]
    if unknown:
        raise DataError(f"{source}: unknown column(s) {unknown}; available: {', '.join(available)}")
    if predictions.empty:
        raise DataError(f"{source}: no predictions to show")
    shown = min(n, len(predictions))
    figure = Figure(figsize=(PANEL_INCHES * shown, (PANEL_INCHES + ROW_TITLE_INCHES) * len(columns)),
                    dpi=GALLERY_DPI, layout="constrained")
    rows = figure.subfigures(len(columns), 1, squeeze=False)[:, 0]
    for row, column in zip(rows, columns):
        # Highest first; ties keep the file's order (a stable sort), so the figure is reproducible.
        top = predictions.sort_values(column, ascending=False, kind="stable").head(shown)
        axes = np.atleast_1d(row.subplots(1, shown))
        for axis, (galaxy_id, value) in zip(axes, zip(top[ID_COLUMN], top[column])):
            axis.imshow(read_image(find_image(image_dir, galaxy_id)))
            axis.set_title(f"{galaxy_id}\n{value:.3f}", fontsize=7)
            axis.set_axis_off()
        row.suptitle(f"highest predicted {column}", fontsize=9)
    return save_figure(figure, out_png)
