"""Writing the common raw layout: ``images/<GalaxyID>.<ext>``, ``labels.csv`` and a ``source.json`` record.

Every real source builds its output in a staging folder (:func:`galzoo.sources.archive.staged_directory`)
with these helpers, so the checks that images and label rows match one to one, and that labels.csv
survives being read back, are written once.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from galzoo import tree
from galzoo.errors import DataError
from galzoo.labels import ID_COLUMN, validate_labels

#: The suffixes downstream stages read (galzoo.dataset.IMAGE_SUFFIXES); .jpeg is written as .jpg.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_MAX_LISTED = 10


def output_suffix(path: Path | str) -> str | None:
    """The suffix an image is stored under (``.jpg`` or ``.png``), None for a file that is not an image."""
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        return None
    return ".png" if suffix == ".png" else ".jpg"


def is_resource_fork(path) -> bool:
    """macOS metadata that zips made on a Mac carry beside each file (``__MACOSX/``, ``._name.jpg``)."""
    parts = Path(str(path)).parts
    return "__MACOSX" in parts or parts[-1].startswith("._")


def is_image_member(path) -> bool:
    """An image entry of an archive (Kaggle and Zenodo name them ``<id>.jpg``), not a resource fork."""
    return output_suffix(path) is not None and not is_resource_fork(path)


def check_one_to_one(image_ids, label_ids, *, images: str, labels: str) -> None:
    """Raise a DataError listing the ids that have an image but no label row, and the reverse."""
    image_ids, label_ids = {str(i) for i in image_ids}, [str(i) for i in label_ids]
    no_image = [i for i in label_ids if i not in image_ids]
    no_label = sorted(image_ids - set(label_ids))
    problems = []
    if no_image:
        problems.append(f"{len(no_image)} label row(s) have no image in {images}: {listed(no_image)}")
    if no_label:
        problems.append(f"{len(no_label)} image(s) in {images} have no row in {labels}: {listed(no_label)}")
    if problems:
        raise DataError(f"{labels}: images and labels do not match; " + "; ".join(problems)
                        + ". Every image needs exactly one row (GalaxyID = the image's file name without suffix)")


def write_labels(frame: pd.DataFrame, out_dir: Path, source: str) -> Path:
    """Validate ``frame`` (GalaxyID + the 37 columns) and write it as ``out_dir/labels.csv``."""
    validate_labels(frame, source=source)
    frame = frame[[ID_COLUMN, *tree.ANSWER_COLUMNS]]
    path = out_dir / "labels.csv"
    frame.to_csv(path, index=False)
    check_ids_survive_csv(frame[ID_COLUMN], path, source)
    return path


def check_ids_survive_csv(ids: pd.Series, path: Path, source: str) -> None:
    """Downstream stages read ids with pandas' default types: "00123" would come back as 123 and lose its image."""
    read_back = pd.read_csv(path, usecols=[ID_COLUMN])[ID_COLUMN].astype(str).tolist()
    changed = [f"{a!r} -> {b!r}" for a, b in zip(ids.astype(str), read_back) if a != b]
    if changed:
        raise DataError(f"{source}: {len(changed)} GalaxyID(s) change when read back from a CSV file: "
                        f"{listed(changed)}; rename those images (e.g. without leading zeros) so the ids stay as "
                        f"they are")


def write_source_record(out_dir: Path, record: dict) -> None:
    """``source.json``: where the data came from and what was left out, for whoever uses the dataset later."""
    (out_dir / "source.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def report(source: str, message: str) -> None:
    """A note for the person running the stage (galaxies left out, files reused)."""
    print(f"galzoo: {source}: {message}", file=sys.stderr)


def listed(items) -> str:
    items = [str(i) for i in items]
    more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return ", ".join(items[:_MAX_LISTED]) + more
