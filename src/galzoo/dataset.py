"""The common raw layout every source ends in: ``<root>/images/<id>.<ext>`` + ``<root>/labels.csv``.

Everything downstream of ``download`` reads only this layout, so adding a source is one module.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from galzoo.errors import DataError
from galzoo.labels import read_labels
from galzoo.tasks import CLASSES_FILE

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_MAX_LISTED = 10


@dataclass(frozen=True)
class RawDataset:
    root: Path
    labels: pd.DataFrame          # indexed by GalaxyID: the 37 Kaggle columns, or the class column of classes.csv
    image_paths: list[Path]       # in the order of labels.index

    @property
    def ids(self) -> pd.Index:
        return self.labels.index


def open_raw_dataset(root: Path | str) -> RawDataset:
    """Validate the raw layout: labels.csv is sound and images and label rows match one to one."""
    root = Path(root)
    images_dir = root / "images"
    if not images_dir.is_dir():
        raise DataError(f"{images_dir}: image folder not found (run the download stage)")
    labels = _read_any_labels(root)
    by_id: dict[str, Path] = {}
    for path in images_dir.iterdir():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in by_id:
                raise DataError(f"{images_dir}: two images for id {path.stem}: {by_id[path.stem].name}, {path.name}")
            by_id[path.stem] = path
    label_ids = [str(i) for i in labels.index]
    no_image = [i for i in label_ids if i not in by_id]
    if no_image:
        raise DataError(f"{root / labels.attrs['file']}: {len(no_image)} GalaxyID(s) have no image in {images_dir}: "
                        f"{_listed(no_image)}")
    no_label = sorted(set(by_id) - set(label_ids))
    if no_label:
        raise DataError(f"{root / labels.attrs['file']}: missing ids: {len(no_label)} image(s) in {images_dir} have no "
                        f"labels row: {_listed(no_label)}")
    return RawDataset(root, labels, [by_id[i] for i in label_ids])


def _read_any_labels(root: Path) -> pd.DataFrame:
    """labels.csv (vote fractions), else classes.csv (a class per galaxy, from a folder source)."""
    if not (root / "labels.csv").is_file() and not (root / CLASSES_FILE).is_file():
        raise DataError(f"{root}: neither labels.csv nor {CLASSES_FILE}: these images have no labels to train or "
                        f"score on (galzoo predict scores unlabelled images with a trained model)")
    if (root / "labels.csv").is_file():
        labels = read_labels(root / "labels.csv")
        labels.attrs["file"] = "labels.csv"
        return labels
    classes = pd.read_csv(root / CLASSES_FILE, dtype=str, keep_default_na=False).set_index("GalaxyID")
    classes.attrs["file"] = CLASSES_FILE
    return classes


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return ", ".join(items[:_MAX_LISTED]) + more
