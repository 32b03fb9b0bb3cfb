"""Train / validation / test splits, written once from the seed and shared by every model and scale.

The comparison tables are only fair if every row saw the same galaxies, so splits are files (DVC outputs),
never re-drawn inside a training run.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from galzoo.errors import DataError

SUBSETS = ("train", "val", "test")


def make_split(ids, *, test_fraction: float, val_fraction: float, seed: int) -> pd.DataFrame:
    """Random split: ``test_fraction`` of all ids for test, then ``val_fraction`` of the rest for validation.

    Kabani & El-Sakka hold out 10% for test; the validation part is carved from what remains for training.
    Returns a frame with columns ``id`` and ``subset``, in the order of ``ids``.
    """
    ids = pd.Index(ids)
    if ids.empty:
        raise DataError("cannot split an empty dataset")
    if ids.has_duplicates:
        raise DataError(f"cannot split: duplicate ids {list(ids[ids.duplicated()][:5])}")
    n = len(ids)
    n_test = int(round(n * test_fraction))
    n_val = int(round((n - n_test) * val_fraction))
    if n_test < 1 or n_val < 1 or n - n_test - n_val < 1:
        raise DataError(f"cannot split {n} images into train/val/test with test_fraction={test_fraction} and "
                        f"val_fraction={val_fraction}: every part needs at least one image")
    order = np.random.default_rng(seed).permutation(n)
    subset = np.empty(n, dtype=object)
    subset[order[:n_test]] = "test"
    subset[order[n_test:n_test + n_val]] = "val"
    subset[order[n_test + n_val:]] = "train"
    return pd.DataFrame({"id": ids, "subset": subset})


def write_split(split: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    split.to_csv(path, index=False)


def read_split(path: Path) -> pd.DataFrame:
    if not Path(path).is_file():
        raise DataError(f"{path}: split file not found (run the split stage)")
    split = pd.read_csv(path)
    if list(split.columns) != ["id", "subset"]:
        raise DataError(f"{path}: expected columns id,subset, got {','.join(split.columns)}")
    unknown = set(split["subset"]) - set(SUBSETS)
    if unknown:
        raise DataError(f"{path}: unknown subset(s) {sorted(unknown)}; expected {list(SUBSETS)}")
    return split



def make_stratified_split(ids, classes, *, test_fraction: float, val_fraction: float, seed: int) -> pd.DataFrame:
    """:func:`make_split` within each class, so every subset keeps the class proportions (Dai & Tong's 9:1
    split "with equal class distribution"). Each class needs at least one image in every subset."""
    ids, classes = pd.Index(ids), np.asarray(classes)
    if len(ids) != len(classes):
        raise DataError(f"{len(ids)} ids but {len(classes)} class labels: expected one label per id")
    parts = []
    rng = np.random.default_rng(seed)
    for label in np.unique(classes):
        members = ids[classes == label]
        try:
            part = make_split(members, test_fraction=test_fraction, val_fraction=val_fraction,
                              seed=int(rng.integers(2**31)))
        except DataError as exc:
            raise DataError(f"class {label} ({len(members)} images): {exc}") from None
        parts.append(part)
    # back in the order of `ids`; renamed because pandas 3.0 names the index after `ids` (3.1 keeps "id")
    return pd.concat(parts).set_index("id").loc[ids].rename_axis("id").reset_index()
