"""A gallery of the scale study's three views, to check by eye that the normalized crop frames each galaxy.

Each row is one image: the original with the three crop squares drawn on it, then the normalized, crop64 and
crop256 views as the network sees them. Built on ``matplotlib.figure.Figure`` (Agg canvas), so it neither
needs a display nor touches pyplot's global state.
"""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from galzoo.errors import DataError
from galzoo.plots.common import save_figure
from galzoo.preprocess.crops import FIXED_SIDES, SCALES, centre_offsets, crop_all_scales
from galzoo.preprocess.images import read_rgb
from galzoo.preprocess.scale import to_kaggle_frame

SQUARE_COLOURS = {"normalized": "cyan", "crop64": "yellow", "crop256": "magenta"}
PANEL_INCHES = 2.0
TITLE_INCHES = 0.3
GALLERY_DPI = 100


def plot_scale_gallery(image_paths: list[Path], out_png: Path, n: int = 8, output_size: int = 64) -> Path:
    """Plot the first ``n`` images of ``image_paths`` with their crops into ``out_png``; return its path.

    Images of any size of at least 256 px are accepted, shown as the crop stage sees them: resampled to the
    424 px Kaggle frame (``preprocess.scale.to_kaggle_frame``), so synthetic and real data can both be
    inspected.
    """
    paths = [Path(path) for path in image_paths[:n]]
    if not paths:
        raise DataError("no images to plot in the scale gallery")
    columns = 1 + len(SCALES)
    size = (PANEL_INCHES * columns, PANEL_INCHES * len(paths) + TITLE_INCHES)
    figure = Figure(figsize=size, dpi=GALLERY_DPI, layout="constrained")
    axes = figure.subplots(len(paths), columns, squeeze=False)
    for row, path in zip(axes, paths):
        original = read_rgb(path, expected_size=None)
        rgb = to_kaggle_frame(original)
        views, scale = crop_all_scales(rgb, output_size)
        sides = {**FIXED_SIDES, "normalized": scale.side}
        row[0].imshow(rgb)
        for name in reversed(SCALES):  # normalized last, on top: it coincides with crop256 on fallbacks
            top, left = centre_offsets(rgb.shape[0], rgb.shape[1], sides[name])
            square = Rectangle((left - 0.5, top - 0.5), sides[name], sides[name],
                               fill=False, linewidth=1.0, edgecolor=SQUARE_COLOURS[name])
            row[0].add_patch(square)
        row[0].set_title(f"{path.name} ({original.shape[1]}x{original.shape[0]})", fontsize=7)
        for axis, name in zip(row[1:], SCALES):
            axis.imshow(views[name])
            label = f"side {scale.side}, {scale.status}" if name == "normalized" else f"side {sides[name]}"
            axis.set_title(f"{name}: {label}", fontsize=7)
        for axis in row:
            axis.set_axis_off()
    legend = ", ".join(f"{name} {colour}" for name, colour in SQUARE_COLOURS.items())
    figure.suptitle(f"Crop squares on the original: {legend}; crops resized to {output_size}x{output_size}",
                    fontsize=8)
    return save_figure(figure, out_png)
