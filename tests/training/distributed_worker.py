"""Tiny data-parallel training runs for tests/test_distributed.py: ``torchrun --nproc_per_node=N`` this file.

Dropout- and batch-norm-free networks (so N processes compute exactly what one does, up to rounding):

- ``distributed_worker.py OUT.json``: tiny uint8 images through the device path (galzoo.training.fit with
  DeviceBatches and ResidentImages); rank 0 writes the history and final weights as JSON to ``OUT.json``.
- ``distributed_worker.py perseus PARAMS DATA OUT``: the Perseus study's own training (``train_perseus``) of
  ``TINY_CLASSIFIER`` with ``PARAMS`` (a params.yaml) on ``DATA`` (raw/, store/, split.csv), into ``OUT``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from galzoo.config import AugmentParams, Recipe
from galzoo.training.batch_augment import AffineAugment
from galzoo.training.device_data import DeviceBatches, ResidentImages
from galzoo.training.distributed import SINGLE_PROCESS, Distributed, distributed_session
from galzoo.training.loop import fit
from galzoo.training.runtime import Acceleration

SIZE, TRAIN, VAL, OUTPUTS = 16, 24, 6, 3
RECIPE = Recipe(loss="mse", optimizer="sgd", momentum=0.9, nesterov=False, weight_decay=0.0, batch_size=8, lr=0.05,
                lr_drop_epochs=[2], lr_drop_factor=0.1, epochs=3)
AUGMENT = AugmentParams(rotation_deg=360, hflip_p=0.5, vflip_p=0.5, shift_px=2, border="reflect")


def tiny_problem() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (TRAIN + VAL, SIZE, SIZE, 3), dtype=np.uint8)
    targets = np.stack([images[..., c].mean(axis=(1, 2)) / 255 for c in range(OUTPUTS)], 1).astype(np.float32)
    return images, targets


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(16, OUTPUTS))


TINY_CLASSIFIER = "test_tiny_classifier"


def tiny_classifier(*, num_outputs: int, input_size: int) -> nn.Module:
    """What ``create_model(TINY_CLASSIFIER, ...)`` builds once it is registered."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(16, num_outputs))


def train_perseus_study(params_path: Path, data: Path, out: Path) -> None:
    from galzoo.config import load_params
    from galzoo.models.registry import register_model
    from galzoo.studies.perseus import train_perseus

    register_model(TINY_CLASSIFIER, "a tiny test network")(tiny_classifier)
    train_perseus(load_params(params_path), raw_dir=data / "raw", store_dir=data / "store",
                  split_path=data / "split.csv", model_path=out / "model.pt", live_dir=out / "live", progress=False)


def train(dist: Distributed = SINGLE_PROCESS, device: torch.device = torch.device("cpu")) -> dict:
    images, targets = tiny_problem()
    augment = AffineAugment.scale_study(AUGMENT, [128.0] * 3, [64.0] * 3, device)
    rows = np.arange(TRAIN + VAL)
    batches = DeviceBatches(images, rows[:TRAIN], targets[:TRAIN], augment, batch_size=RECIPE.batch_size, seed=5,
                            device=device, dist=dist)
    val = ResidentImages(images, rows[TRAIN:], targets[TRAIN:], augment.plain, device=device)
    model = tiny_model()
    history = fit(model, batches, val, RECIPE, device=device, amp_dtype=None, seed=5, eval_batch_size=4,
                  progress=False, accel=Acceleration(dist=dist))
    return {"train_loss": history.train_loss, "val_loss": history.val_loss,
            "weights": torch.cat([p.detach().flatten() for p in model.parameters()]).tolist()}


if __name__ == "__main__":
    if sys.argv[1] == "perseus":
        train_perseus_study(*map(Path, sys.argv[2:5]))
    else:
        with distributed_session(torch.device("cpu")) as (dist, device):
            result = train(dist, device)
            if dist.is_main:
                with open(sys.argv[1], "w") as out:
                    json.dump({**result, "world_size": dist.world_size}, out)
