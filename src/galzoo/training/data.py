"""Datasets over the uint8 array store: pick rows, augment, standardise, hand tensors to the loop."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from galzoo.errors import DataError
from galzoo.preprocess.store import load_index, load_store
from galzoo.splits import read_split
from galzoo.tasks import task_targets


def channel_stats(images: np.ndarray, rows: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over ``images[rows]`` (uint8 N x H x W x 3), in chunks to bound memory."""
    total = np.zeros(3)
    total_sq = np.zeros(3)
    count = 0
    for start in range(0, len(rows), chunk):
        block = images[np.sort(rows[start:start + chunk])].astype(np.float64)
        total += block.sum(axis=(0, 1, 2))
        total_sq += (block**2).sum(axis=(0, 1, 2))
        count += block.shape[0] * block.shape[1] * block.shape[2]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 1e-12))
    return mean.astype(np.float32), std.astype(np.float32)


class ArrayDataset(Dataset):
    """Rows of an N x H x W x 3 uint8 array with float32 targets, standardised per channel.

    ``transform`` (an albumentations pipeline) sees the uint8 image, so augmentation happens before
    standardisation, as the paper's pipeline did.
    """

    def __init__(self, images: np.ndarray, rows: np.ndarray, targets: np.ndarray,
                 mean: np.ndarray, std: np.ndarray, transform=None):
        if len(rows) != len(targets):
            raise ValueError(f"{len(rows)} rows but {len(targets)} targets")
        self.images, self.rows = images, np.asarray(rows)
        self.targets = torch.as_tensor(np.asarray(targets, dtype=np.float32))
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(3, 1, 1)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        image = np.asarray(self.images[self.rows[index]])
        if self.transform is not None:
            image = self.transform(image=image)["image"]
        x = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)  # astype copies the read-only memmap
        return (x - self.mean) / self.std, self.targets[index]


class LabelledStore:
    """One array of the store joined with labels.csv, a split and a task: store rows and targets per subset."""

    def __init__(self, crops_dir: Path, raw_dir: Path, split_path: Path, scale: str, task_name: str):
        self.images = load_store(crops_dir, scale)
        index = load_index(crops_dir)
        split = read_split(split_path)
        # images were matched to labels by the crop stage
        self.task, task_ids, targets = task_targets(task_name, raw_dir)
        row_of = pd.Series(index["row"].to_numpy(), index=index["id"].astype(str))
        self.subsets: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for subset in ("train", "val", "test"):
            ids = split.loc[split["subset"] == subset, "id"].astype(str)
            missing = ids[~ids.isin(row_of.index)]
            if len(missing):
                raise DataError(f"{split_path}: {len(missing)} {subset} id(s) are not in the crop index "
                                f"{crops_dir / 'index.csv'}, e.g. {list(missing[:5])}: re-run crop and split")
            positions = task_ids.get_indexer(ids)
            if (positions < 0).any():
                raise DataError(f"{split_path}: {int((positions < 0).sum())} {subset} id(s) have no labels row or "
                                f"are not selected by task {self.task.name}, e.g. {list(ids[positions < 0][:5])}")
            self.subsets[subset] = (ids.to_numpy(), row_of.loc[ids].to_numpy(), targets[positions])

    def dataset(self, subset: str, mean, std, transform=None) -> ArrayDataset:
        _, rows, targets = self.subsets[subset]
        return ArrayDataset(self.images, rows, targets, mean, std, transform)
