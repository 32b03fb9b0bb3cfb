"""What the network sees in the Perseus study: the rotated copies of each object of a subset."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from galzoo.errors import DataError
from galzoo.sources.perseus import read_perseus_raw
from galzoo.studies.perseus.pixels import colour_region, rotate, to_greyscale
from galzoo.studies.perseus.selection import read_perseus_split
from galzoo.studies.perseus.store import load_perseus_store

class RotatedCopies(Dataset):
    """Every object of a subset at every angle of ``rotations_deg`` (object-major), scaled to [0, 1] as the
    authors' ``rescale=1/255``; rotated copies are made on the fly from the one stored cutout."""

    def __init__(self, images: np.ndarray, rows: np.ndarray, labels: np.ndarray, angles: list[float], *,
                 border: str, greyscale: bool):
        if len(rows) != len(labels):
            raise ValueError(f"{len(rows)} rows but {len(labels)} labels")
        self.images, self.rows, self.labels = images, np.asarray(rows), torch.tensor(np.array(labels, np.int64))
        self.angles, self.greyscale = list(angles), greyscale
        self.border = cv2.BORDER_CONSTANT if border == "constant" else cv2.BORDER_REFLECT_101

    def __len__(self) -> int:
        return len(self.rows) * len(self.angles)

    def __getitem__(self, index: int):
        item, copy = divmod(index, len(self.angles))
        image = rotate(np.asarray(self.images[self.rows[item]]), self.angles[copy], self.border)
        if self.greyscale:
            image = to_greyscale(image)
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255.0
        return x, self.labels[item]


class PerseusData:
    """The stored cutouts, the catalogue rows of the selected and independent objects, and the split."""

    def __init__(self, raw_dir: Path, store_dir: Path, split_path: Path):
        self.images, index = load_perseus_store(store_dir)
        split = read_perseus_split(split_path)
        catalogue = read_perseus_raw(raw_dir).set_index("id")
        missing = split.loc[~split["id"].isin(index["id"]) | ~split["id"].isin(catalogue.index), "id"]
        if len(missing):
            raise DataError(f"{split_path}: {len(missing)} object(s) not in the store or the catalogue, e.g. "
                            f"{missing.tolist()[:5]}: re-run crop_task and split_task")
        row_of = pd.Series(index["row"].to_numpy(), index=index["id"])
        self.objects = catalogue.loc[split["id"]].assign(subset=split["subset"].to_numpy(),
                                                          label=split["label"].to_numpy(),
                                                          row=row_of[split["id"]].to_numpy())
        self.objects["region"] = colour_region(self.objects["r_sdss"], self.objects["g_z"])

    def subset(self, name: str) -> pd.DataFrame:
        return self.objects[self.objects["subset"] == name]

    def dataset(self, name: str, angles: list[float], *, border: str, greyscale: bool) -> RotatedCopies:
        part = self.subset(name)
        return RotatedCopies(self.images, part["row"].to_numpy(), part["label"].astype(int).to_numpy(), angles,
                             border=border, greyscale=greyscale)
