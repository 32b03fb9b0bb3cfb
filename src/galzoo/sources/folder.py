"""A folder of the user's own images, with an optional ``labels.csv``, into the raw layout.

The folder holds ``.jpg``/``.jpeg``/``.png`` images (directly, or in an ``images/`` subfolder as in the raw
layout itself); an image's file name without suffix is its GalaxyID. ``labels.csv`` beside them may be

* in the Kaggle format (GalaxyID + the 37 columns Class1.1 ... Class11.6): validated and written as
  ``labels.csv``, so every study runs on it;
* a class column (``GalaxyID,class``, any strings): written as ``classes.csv`` and no ``labels.csv``, for
  classification tasks that read classes directly;
* absent: only the images are written (the tasks that need labels say so).

Images and label rows must match one to one; a mismatch is an error listing both sides, never a silent
drop. The user's folder is only read: images are copied (or hard-linked with ``data.folder.hardlink``).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from galzoo import tree
from galzoo.config import FolderParams
from galzoo.errors import ConfigError, DataError
from galzoo.labels import ID_COLUMN
from galzoo.progress import progress_bar
from galzoo.sources.archive import staged_directory
from galzoo.sources.layout import (
    check_ids_survive_csv,
    check_one_to_one,
    listed,
    output_suffix,
    report,
    write_labels,
    write_source_record,
)

LABELS_FILE = "labels.csv"
CLASSES_FILE = "classes.csv"
CLASS_COLUMN = "class"
_NAME = "folder"


def fetch_folder(params: FolderParams, out_dir: Path | str, *, progress: bool = True) -> Path:
    """Write the folder's images (and its labels or classes) to ``out_dir``, all or nothing."""
    if not params.path:
        raise ConfigError("data.folder.path: required when data.source is folder")
    folder, out_dir = Path(params.path).expanduser(), Path(out_dir)
    if not folder.is_dir():
        raise ConfigError(f"data.folder.path: {folder} is not a folder")
    if _inside(out_dir, folder) or _inside(folder, out_dir):
        raise ConfigError(f"data.folder.path: {folder} and the output {out_dir} must not contain one another")
    images = _find_images(folder)
    labels_path = folder / LABELS_FILE
    table = _read_table(labels_path) if labels_path.is_file() else None
    if table is not None:
        check_one_to_one(images, table[ID_COLUMN], images=str(_images_dir(folder)), labels=str(labels_path))

    with staged_directory(out_dir) as staging:
        record = {"source": _NAME, "folder": str(folder.resolve()), "images": len(images)}
        if table is None:
            record["labels"] = None
        elif CLASS_COLUMN in table.columns:
            table.to_csv(staging / CLASSES_FILE, index=False)
            check_ids_survive_csv(table[ID_COLUMN], staging / CLASSES_FILE, str(labels_path))
            record["labels"] = "classes"
            record["classes"] = {str(k): int(v) for k, v in table[CLASS_COLUMN].value_counts().sort_index().items()}
        else:
            write_labels(table, staging, source=str(labels_path))
            record["labels"] = "votes37"
        _place_images(images, staging / "images", params.hardlink, progress)
        write_source_record(staging, record)
    what = {None: "no labels.csv: images only", "classes": f"classes in {CLASSES_FILE}",
            "votes37": "vote fractions in labels.csv"}[record["labels"]]
    report(_NAME, f"{len(images)} images from {folder} written to {out_dir} ({what})")
    return out_dir


def _images_dir(folder: Path) -> Path:
    """``folder/images`` when the folder is itself in the raw layout, else the folder."""
    return folder / "images" if (folder / "images").is_dir() else folder


def _find_images(folder: Path) -> dict[str, Path]:
    """GalaxyID -> image file; two images with one name (a.jpg and a.png) are an error."""
    images_dir = _images_dir(folder)
    found: dict[str, Path] = {}
    for path in sorted(images_dir.iterdir()):
        if not path.is_file() or output_suffix(path) is None or path.name.startswith("."):
            continue
        if path.stem in found:
            raise DataError(f"{images_dir}: two images for GalaxyID {path.stem}: {found[path.stem].name} and "
                            f"{path.name}; keep one")
        found[path.stem] = path
    if not found:
        raise DataError(f"{images_dir}: no images (.jpg, .jpeg or .png) found")
    return found


def _read_table(path: Path) -> pd.DataFrame:
    """labels.csv as text ids: either GalaxyID + the 37 columns, or GalaxyID + class."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)  # ids and class names stay as written
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file: {exc}") from None
    table.columns = [str(c).strip() for c in table.columns]
    if ID_COLUMN not in table.columns:
        raise DataError(f"{path}: no {ID_COLUMN} column; expected {ID_COLUMN} + the 37 columns Class1.1 ... "
                        f"Class11.6, or {ID_COLUMN},{CLASS_COLUMN}")
    table[ID_COLUMN] = table[ID_COLUMN].str.strip()
    empty = table[ID_COLUMN] == ""
    if empty.any():
        raise DataError(f"{path}: empty {ID_COLUMN} on line(s) {listed(empty[empty].index + 2)}")
    duplicated = table[ID_COLUMN][table[ID_COLUMN].duplicated()]
    if len(duplicated):
        raise DataError(f"{path}: duplicate {ID_COLUMN}(s): {listed(duplicated)}")
    kaggle = [c for c in tree.ANSWER_COLUMNS if c in table.columns]
    if len(kaggle) == tree.N_ANSWERS:
        table[kaggle] = table[kaggle].apply(pd.to_numeric, errors="coerce")  # text is an error in validate_labels
        return table
    if CLASS_COLUMN in table.columns and not kaggle:
        classes = table[CLASS_COLUMN].str.strip()
        blank = table[ID_COLUMN][classes == ""]
        if len(blank):
            raise DataError(f"{path}: empty {CLASS_COLUMN} for {ID_COLUMN}(s) {listed(blank)}")
        return pd.DataFrame({ID_COLUMN: table[ID_COLUMN], CLASS_COLUMN: classes})
    if kaggle:
        missing = [c for c in tree.ANSWER_COLUMNS if c not in table.columns]
        raise DataError(f"{path}: has {len(kaggle)} of the 37 Galaxy Zoo columns; missing {listed(missing)}")
    raise DataError(f"{path}: columns {list(table.columns)}; expected {ID_COLUMN} + the 37 columns Class1.1 ... "
                    f"Class11.6 (vote fractions) or {ID_COLUMN},{CLASS_COLUMN} (one class name per image)")


def _place_images(images: dict[str, Path], target: Path, hardlink: bool, progress: bool) -> None:
    """Copy (or hard-link) each image as ``<GalaxyID>.jpg|.png``; copies keep the user's files untouched."""
    target.mkdir()
    for galaxy_id, path in progress_bar(images.items(), total=len(images), desc="copy images", unit="img",
                                        enabled=progress):
        destination = target / f"{galaxy_id}{output_suffix(path)}"
        if hardlink:
            try:
                os.link(path, destination)
                continue
            except OSError:  # another file system, or links not supported: copy instead
                pass
        shutil.copyfile(path, destination)


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())
