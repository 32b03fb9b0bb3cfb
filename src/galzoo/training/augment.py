"""Per-sample real-time augmentation on the CPU with albumentations (the paper recipes' transforms).

Each call draws its own transform, as Kabani & El-Sakka's Table 1 describes (and unlike Dai & Tong's code,
which drew one transform per run).
"""
from __future__ import annotations

import albumentations as A
import cv2

from galzoo.config import AugmentParams, KerasAugmentParams

BORDER_MODES = {"reflect": cv2.BORDER_REFLECT_101, "constant": cv2.BORDER_CONSTANT, "nearest": cv2.BORDER_REPLICATE}


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


def keras_augmentation(params: KerasAugmentParams, seed: int) -> A.Compose:
    """Kalvankar et al.'s Keras ImageDataGenerator: a uniform angle in [-rotation_deg, rotation_deg], shifts of
    up to ``shift`` of the side in x and y, both flips, and brightness times a factor in ``brightness``
    (Keras scales the pixel values and clips, as MultiplicativeNoise with one factor per image does)."""
    low, high = params.brightness
    return A.Compose(
        [
            A.Affine(
                rotate=(-params.rotation_deg, params.rotation_deg),
                translate_percent={"x": (-params.shift, params.shift), "y": (-params.shift, params.shift)},
                interpolation=cv2.INTER_LINEAR,
                border_mode=BORDER_MODES[params.border],
                p=1.0,
            ),
            A.HorizontalFlip(p=params.hflip_p),
            A.VerticalFlip(p=params.vflip_p),
            A.MultiplicativeNoise(multiplier=(low, high), per_channel=False, elementwise=False, p=1.0),
        ],
        seed=seed,
    )
