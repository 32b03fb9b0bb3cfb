"""Datasets over the uint8 array store: pick rows, augment, standardise, hand tensors to the loop."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


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
