"""The three views of the scale study (Kabani & El-Sakka 2016, section 4), each resized to ``output_size``.

- ``normalized``: a centred square whose side is the galaxy's major axis (see ``scale.py``);
- ``crop64``: the centre 64x64 (at the default 64 px output it is a pure crop, no resampling);
- ``crop256``: the centre 256x256.

Any ``crop<N>`` names the centre N x N square; the CNN comparison stores ``crop240`` (Dai & Tong's largest
crop) at 120 px and draws its random crops from it.

Resampling (the paper only says "by interpolation"): shrinking uses Pillow's BOX filter, an exact area
average over the source pixels each output pixel covers (what OpenCV calls INTER_AREA), so no aliasing and
no extra blur; enlarging (a normalized side under the output size) uses BILINEAR, since BOX would enlarge by
pixel replication.
"""
from __future__ import annotations

import re

import numpy as np
from PIL import Image

from galzoo.errors import ConfigError, DataError
from galzoo.preprocess.scale import ScaleResult, find_normalized_side

SCALES = ("normalized", "crop64", "crop256")
FIXED_SIDES = {"crop64": 64, "crop256": 256}
"""Crop side (px, on the original image) of the fixed-size views."""


_CENTRE_CROP = re.compile(r"crop([1-9][0-9]*)")


def check_scale(name: str) -> str:
    """Return ``name`` if it is ``normalized`` or ``crop<N>``; otherwise a ConfigError naming the valid forms."""
    if name != "normalized" and not _CENTRE_CROP.fullmatch(name):
        raise ConfigError(f"unknown scale {name!r}: expected 'normalized' or a centre crop 'crop<N>' "
                          f"(the scale study uses {', '.join(SCALES)})")
    return name


def crop_side(name: str, normalized_side: int) -> int:
    """Side (px, on the original image) of view ``name``: the normalized side, or N of ``crop<N>``."""
    check_scale(name)
    return normalized_side if name == "normalized" else int(name[4:])


def centre_offsets(height: int, width: int, side: int) -> tuple[int, int]:
    """Top-left corner of the centred ``side`` square: ``((height - side) // 2, (width - side) // 2)``.

    When ``height - side`` is odd the square cannot be exactly centred and sits half a pixel up (likewise
    left); e.g. a 121 px square in a 424 px image starts at 151 and is centred on 211, not 211.5.
    """
    if not 1 <= side <= min(height, width):
        raise DataError(f"a {side} px centre crop does not fit a {width}x{height} image")
    return (height - side) // 2, (width - side) // 2


def centre_crop(rgb: np.ndarray, side: int) -> np.ndarray:
    """The centred ``side x side`` square of ``rgb`` (a view; rounding as in ``centre_offsets``)."""
    top, left = centre_offsets(rgb.shape[0], rgb.shape[1], side)
    return rgb[top : top + side, left : left + side]


def resize_square(crop: np.ndarray, output_size: int) -> np.ndarray:
    """Resize a square uint8 RGB crop to ``output_size``: area average to shrink, bilinear to enlarge."""
    side = crop.shape[0]
    if side == output_size:
        return crop.copy()
    image = Image.fromarray(crop)
    if side % output_size == 0:
        # Whole-number factor (crop256 -> 64): the same box average (up to rounding), 2.5x faster in Pillow.
        return np.asarray(image.reduce(side // output_size))
    resample = Image.Resampling.BOX if side > output_size else Image.Resampling.BILINEAR
    return np.asarray(image.resize((output_size, output_size), resample))


def crop_all_scales(
    rgb: np.ndarray, output_size: int = 64, scales: tuple[str, ...] = SCALES
) -> tuple[dict[str, np.ndarray], ScaleResult]:
    """The requested views of one image as ``output_size x output_size x 3`` uint8, and its normalized side.

    The ScaleResult is always computed, even when ``normalized`` is not requested: the array store's index
    records it for every image.
    """
    for name in scales:
        check_scale(name)
    result = find_normalized_side(rgb)
    views = {name: resize_square(centre_crop(rgb, crop_side(name, result.side)), output_size) for name in scales}
    return views, result
