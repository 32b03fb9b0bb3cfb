"""Per-sample real-time augmentation on the CPU with albumentations (the paper recipes' transforms).

Each call draws its own transform, as Kabani & El-Sakka's Table 1 describes (and unlike Dai & Tong's code,
which drew one transform per run).
"""
from __future__ import annotations

import albumentations as A
import cv2

from galzoo.config import AugmentParams

BORDER_MODES = {"reflect": cv2.BORDER_REFLECT_101, "constant": cv2.BORDER_CONSTANT}


def scale_study_augmentation(params: AugmentParams, seed: int) -> A.Compose:
    """Rotation by a uniform angle, both flips, and shifts of up to ``shift_px`` pixels in x and y."""
    half_angle = params.rotation_deg / 2
    return A.Compose(
        [
            A.Affine(
                rotate=(-half_angle, half_angle),
                translate_px={"x": (-params.shift_px, params.shift_px), "y": (-params.shift_px, params.shift_px)},
                interpolation=cv2.INTER_LINEAR,
                border_mode=BORDER_MODES[params.border],
                p=1.0,
            ),
            A.HorizontalFlip(p=params.hflip_p),
            A.VerticalFlip(p=params.vflip_p),
        ],
        seed=seed,
    )
