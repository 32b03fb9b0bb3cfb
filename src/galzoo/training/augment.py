"""Per-sample real-time augmentation on the CPU with albumentations (the paper recipes' transforms).

Each call draws its own transform, as Kabani & El-Sakka's Table 1 describes (and unlike Dai & Tong's code,
which drew one transform per run).
"""
from __future__ import annotations

import random

import albumentations as A
import cv2
import numpy as np

from galzoo.config import AugmentParams, KerasAugmentParams

BORDER_MODES = {"reflect": cv2.BORDER_REFLECT_101, "constant": cv2.BORDER_CONSTANT, "nearest": cv2.BORDER_REPLICATE}


def _one_stream(pipeline: A.Compose, seed: int) -> A.Compose:
    """Give every transform of ``pipeline`` one shared random stream seeded by ``seed``.

    ``Compose(seed=...)`` seeds each transform with the same seed, so transforms drawing the same kind of
    number draw the same numbers: HorizontalFlip and VerticalFlip then always agree and an image is never
    mirrored, only turned by 180 degrees. Drawing in turn from one stream makes the flips independent.
    """
    pipeline.set_random_state(np.random.default_rng(seed), random.Random(seed))
    return pipeline


def scale_study_augmentation(params: AugmentParams, seed: int) -> A.Compose:
    """Rotation by a uniform angle, both flips, and shifts of up to ``shift_px`` pixels in x and y."""
    half_angle = params.rotation_deg / 2
    pipeline = A.Compose(
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
    )
    return _one_stream(pipeline, seed)


def keras_augmentation(params: KerasAugmentParams, seed: int) -> A.Compose:
    """Kalvankar et al.'s Keras ImageDataGenerator: a uniform angle in [-rotation_deg, rotation_deg], shifts of
    up to ``shift`` of the side in x and y, both flips, and brightness times a factor in ``brightness``
    (Keras scales the pixel values and clips, as MultiplicativeNoise with one factor per image does)."""
    low, high = params.brightness
    pipeline = A.Compose(
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
    )
    return _one_stream(pipeline, seed)
