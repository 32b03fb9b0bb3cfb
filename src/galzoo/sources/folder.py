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

The images may have any size, but each stage that crops them needs a smallest side (:func:`stage_side_needs`:
the scale study's ``crop``, the task's ``crop_task``). Given those needs, every image's size is read from its
header (no decoding) before anything is written, and an image too small for a stage fails here, naming the
stage and the parameter, rather than minutes later in that stage.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from PIL import Image

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

if TYPE_CHECKING:
    from galzoo.config import Params

LABELS_FILE = "labels.csv"
CLASSES_FILE = "classes.csv"
CLASS_COLUMN = "class"
_NAME = "folder"
_MAX_LISTED_IMAGES = 20
_HEADER_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclass(frozen=True)
class SideNeed:
    """The smallest image side (px) one stage after ``download`` needs, and why (for error messages)."""

    side: int
    #: the dvc.yaml stage that needs it: ``crop`` or ``crop_task``
    stage: str
    #: what sets it, naming the params.yaml key: ``cnn_comparison.crop.source_side = 240``
    reason: str


def stage_side_needs(params: Params) -> tuple[SideNeed, ...]:
    """The smallest image side each cropping stage of ``dvc.yaml`` needs under ``params``.

    - ``crop`` (the scale study): ``preprocess.scale.MIN_IMAGE_SIDE``; it resamples every image to the
      424 px Kaggle frame, so its views (``crop.scales``) set no size of their own;
    - ``crop_task`` (the study of ``model`` on ``task``): the centre crop its store keeps, the study
      section's ``crop.source_side`` (``cnn_comparison``, ``efficientnet``), cut in pixels of the image.
      A task that cannot run on ``params`` (a ConfigError) adds nothing: ``crop_task`` reports it itself.
    """
    from galzoo.errors import ConfigError
    from galzoo.preprocess.scale import KAGGLE_FRAME, MIN_IMAGE_SIDE
    from galzoo.studies import resolve, study_for  # lazy: the studies load torch

    needs = [SideNeed(MIN_IMAGE_SIDE, "crop", f"the scale study resamples every image to the {KAGGLE_FRAME} px "
                                              f"Kaggle frame its views are defined on, from no less than its "
                                              f"crop256 view (galzoo.preprocess.scale.MIN_IMAGE_SIDE)")]
    try:
        study = study_for(params)
    except ConfigError:
        return tuple(needs)
    crop = getattr(study.section(params), "crop", None)
    source_side = getattr(crop, "source_side", None)
    if source_side is not None:
        task = resolve(params).task
        needs.append(SideNeed(int(source_side), "crop_task",
                              f"{study.name}.crop.source_side = {source_side}, the centre crop kept for task {task}"))
    return tuple(needs)


def image_side(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image, from its header only (fast: nothing is decoded)."""
    try:
        with Image.open(path) as image:
            return image.size
    except _HEADER_ERRORS as err:
        raise DataError(f"{path}: not a readable image ({type(err).__name__}: {err})") from err


def check_image_sides(paths: Iterable[Path], needs: Sequence[SideNeed], *, where: str = "") -> None:
    """Raise one DataError naming every image whose shorter side is under a stage's need (and which stages).

    Only the headers are read. No needs: nothing is checked.
    """
    if not needs:
        return
    paths = list(paths)
    small: list[str] = []
    failed: set[SideNeed] = set()
    for path in paths:
        width, height = image_side(path)
        short = [need for need in needs if min(width, height) < need.side]
        if short:
            failed.update(short)
            stages = ", ".join(f"{need.stage} needs {need.side}" for need in short)
            small.append(f"{path}: {width}x{height} px ({stages})")
    if not small:
        return
    listed_images = "\n  ".join(small[:_MAX_LISTED_IMAGES])
    more = len(small) - _MAX_LISTED_IMAGES
    if more > 0:
        listed_images += f"\n  ... and {more} more"
    minimum = max(need.side for need in failed)
    reasons = "\n  ".join(f"stage {need.stage}: at least {need.side} px, because {need.reason}"
                           for need in sorted(failed, key=lambda need: -need.side))
    raise DataError(f"{where or 'data.folder.path'}: {len(small)} of {len(paths)} images have a side under "
                    f"{minimum} px, the least the stages after download need:\n  {listed_images}\n"
                    f"The stages and what sets their minimum side:\n  {reasons}\n"
                    f"Remove or replace these images (or change the parameter named)")


def fetch_folder(params: FolderParams, out_dir: Path | str, *, side_needs: Sequence[SideNeed] = (),
                 progress: bool = True) -> Path:
    """Write the folder's images (and its labels or classes) to ``out_dir``, all or nothing.

    ``side_needs`` (:func:`stage_side_needs`): every image's shorter side is checked against them first
    (none: any size is copied).
    """
    if not params.path:
        raise ConfigError("data.folder.path: required when data.source is folder")
    folder, out_dir = Path(params.path).expanduser(), Path(out_dir)
    if not folder.is_dir():
        raise ConfigError(f"data.folder.path: {folder} is not a folder")
    if _inside(out_dir, folder) or _inside(folder, out_dir):
        raise ConfigError(f"data.folder.path: {folder} and the output {out_dir} must not contain one another")
    images = _find_images(folder)
    check_image_sides(images.values(), side_needs, where=str(_images_dir(folder)))
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
