"""Read one galaxy image into a uint8 RGB array, refusing anything that is not a complete image.

Decoding dominates the crop stage, so JPEGs take simplejpeg's libjpeg-turbo fast path (bit-identical to
Pillow here and about 1.6x faster); anything it declines goes to Pillow, whose error is the one reported.
``Image.draft``
(libjpeg's DCT-domain downscaling) is deliberately not used: the crop64 view needs every pixel of the
centre at full resolution, and a draft decode would change them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image, ImageFile

from galzoo.errors import DataError
from galzoo.sources import KAGGLE_IMAGE_SIZE  # the side read_rgb checks by default (the synthetic data mimic it)

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
"""What Pillow raises for unreadable, truncated or malformed files (UnidentifiedImageError is an OSError)."""

_JPEG_MAGIC = b"\xff\xd8"


def _decode_jpeg_fast(data: bytes, expected_size: int | None) -> np.ndarray | None:
    """simplejpeg's strict decode, or None when it declines (not a JPEG, CMYK, truncated, wrong size)."""
    if not data.startswith(_JPEG_MAGIC):
        return None
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        if expected_size is not None and (width, height) != (expected_size, expected_size):
            return None
        return simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except ValueError:
        return None


def read_rgb(path: str | Path, expected_size: int | None = KAGGLE_IMAGE_SIZE) -> np.ndarray:
    """Decode ``path`` into a ``H x W x 3`` uint8 array, fully, or raise a DataError naming the file.

    ``expected_size`` is the required side of a square image (``None`` accepts any size); it is checked
    from the header, before decoding. Greyscale, palette, RGBA and CMYK images are converted with Pillow's
    ``convert("RGB")``: grey is copied to the three channels, alpha is dropped (not composited).
    The array is read-only (numpy wraps Pillow's immutable bytes): copy it before editing in place.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found" if not path.exists() else f"{path}: not a file")
    fast = _decode_jpeg_fast(path.read_bytes(), expected_size)
    if fast is not None:
        fast.flags.writeable = False  # same contract as the Pillow path
        return fast
    # A truncated JPEG must fail rather than come back grey-padded. Pillow's switch is process-global and
    # any imported library may have flipped it, so it is reset on every call instead of trusted.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(path) as image:
            width, height = image.size
            if expected_size is not None and (width, height) != (expected_size, expected_size):
                raise DataError(
                    f"{path}: image is {width}x{height} pixels, expected {expected_size}x{expected_size}"
                )
            image.load()
            if image.mode != "RGB":
                image = image.convert("RGB")
            return np.asarray(image)
    except _DECODE_ERRORS as err:
        raise DataError(f"{path}: not a readable, complete image ({type(err).__name__}: {err})") from err
