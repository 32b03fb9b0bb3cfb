"""Dai & Tong's (2018, sec. 4) preprocessing: multi-scale training crops and multi-scale test views.

The crop stage stores the centre ``source_side`` square of each image (240 px, the largest crop the paper
uses) at ``store_size`` px, so a side S of the original image is ``S * store_size / source_side`` stored
pixels. Training, per sample: centre crop of random side S, resize to 80, random 64 crop, rotation by a
random multiple of 90 degrees, random horizontal flip, colour jitter, per-image whitening. Test: centre crop
of each side Q, resize to 80, centre 64 crop, whitening; one view per Q.

Every training sample draws its own S, crop, rotation, flip and jitter from a generator seeded by torch's
RNG, so runs are reproducible from the seed, DataLoader workers draw different streams, and nothing is
fixed per run (the authors' TensorFlow code drew rotation and crop size once, when the graph was built).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from galzoo.config import CnnComparisonAugmentParams
from galzoo.preprocess.crops import centre_crop

LUMA = np.array([0.299, 0.587, 0.114], np.float32)
"""Rec. 601 luma weights: the grey that saturation jitter blends towards."""


def whiten(image: np.ndarray) -> np.ndarray:
    """Per-image standardisation as TensorFlow's ``per_image_standardization``: zero mean, unit std, with the
    std floored at ``1/sqrt(n)`` so a flat image is not blown up."""
    image = image.astype(np.float32)
    std = max(float(image.std()), 1.0 / float(np.sqrt(image.size)))
    return ((image - image.mean()) / std).astype(np.float32)


def colour_jitter(image: np.ndarray, params: CnnComparisonAugmentParams, rng: np.random.Generator) -> np.ndarray:
    """Brightness, saturation, hue and contrast changes (TensorFlow's ``distort_color`` order) on a float RGB
    image in [0, 1]; the result is clipped back to [0, 1]."""
    image = image + rng.uniform(-params.brightness, params.brightness)
    grey = (image @ LUMA)[..., None]
    image = grey + rng.uniform(*params.saturation) * (image - grey)
    if params.hue > 0:
        hsv = cv2.cvtColor(np.clip(image, 0, 1).astype(np.float32), cv2.COLOR_RGB2HSV)  # hue in [0, 360)
        hsv[..., 0] = (hsv[..., 0] + 360 * rng.uniform(-params.hue, params.hue)) % 360
        image = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    mean = image.mean(axis=(0, 1), keepdims=True)
    image = mean + rng.uniform(*params.contrast) * (image - mean)
    return np.clip(image, 0, 1)


class MultiScaleCrops:
    """The train and test views of one stored crop (uint8 ``store_size`` square), as float32 HWC arrays."""

    def __init__(self, params: CnnComparisonAugmentParams, *, source_side: int, store_size: int):
        self.params, self.source_side, self.store_size = params, source_side, store_size

    def _crop_resize(self, stored: np.ndarray, side: int) -> np.ndarray:
        if stored.shape[0] != self.store_size:
            raise ValueError(f"expected a stored crop of {self.store_size} px, got {stored.shape[0]} px")
        stored_side = max(1, min(self.store_size, round(side * self.store_size / self.source_side)))
        square = np.ascontiguousarray(centre_crop(stored, stored_side))
        size = self.params.resize
        interpolation = cv2.INTER_AREA if stored_side >= size else cv2.INTER_LINEAR
        return cv2.resize(square, (size, size), interpolation=interpolation).astype(np.float32) / 255.0

    def train_view(self, stored: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        low, high = p.train_sides
        image = self._crop_resize(stored, int(rng.integers(low, high + 1)))
        margin = p.resize - p.input_size
        top, left = rng.integers(0, margin + 1, size=2)
        image = image[top:top + p.input_size, left:left + p.input_size]
        if p.rotate90:
            image = np.rot90(image, k=int(rng.integers(4)))
        if rng.random() < p.hflip_p:
            image = image[:, ::-1]
        return whiten(colour_jitter(np.ascontiguousarray(image), p, rng))

    def test_view(self, stored: np.ndarray, side: int) -> np.ndarray:
        image = self._crop_resize(stored, side)
        return whiten(centre_crop(image, self.params.input_size))


def to_chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class AugmentedCrops(Dataset):
    """Training samples: a fresh random view of the stored crop each time an item is read."""

    def __init__(self, images: np.ndarray, rows: np.ndarray, targets: np.ndarray, crops: MultiScaleCrops):
        if len(rows) != len(targets):
            raise ValueError(f"{len(rows)} rows but {len(targets)} targets")
        self.images, self.rows, self.targets, self.crops = images, np.asarray(rows), torch.as_tensor(targets), crops

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        rng = np.random.default_rng(int(torch.randint(2**62, ())))  # torch's RNG: seeded per run and per worker
        view = self.crops.train_view(np.asarray(self.images[self.rows[index]]), rng)
        return to_chw(view), self.targets[index]


def multiscale_test_views(images: np.ndarray, rows: np.ndarray, crops: MultiScaleCrops,
                          sides: list[int]) -> torch.Tensor:
    """All test views at once: ``N x len(sides) x 3 x H x W`` float32 (small: 4 views of 64 px per galaxy)."""
    views = np.stack([np.stack([crops.test_view(np.asarray(images[row]), side) for side in sides])
                      for row in rows])
    return torch.from_numpy(np.ascontiguousarray(views.transpose(0, 1, 4, 2, 3)))
