"""Read one galaxy image into a uint8 RGB array, refusing anything that is not a complete image.

Decoding dominates the crop stage, so JPEGs take simplejpeg's libjpeg-turbo fast path (bit-identical to
Pillow here and about 1.6x faster); anything it declines goes to Pillow, whose error is the one reported.
``Image.draft``
(libjpeg's DCT-domain downscaling) is deliberately not used: the crop64 view needs every pixel of the
centre at full resolution, and a draft decode would change them.

Three rules hold for every decoder here (the JPEG fast path, Pillow and FITS):

* **One pixel limit.** An image of more than ``max_image_pixels()`` pixels (width x height; default
  ``DEFAULT_MAX_IMAGE_PIXELS``, Pillow's own default of 89,478,485, i.e. a 9459 x 9459 square; set
  ``GALZOO_MAX_IMAGE_PIXELS`` to change it, or pass ``max_pixels``) is refused from its header, before any
  pixel is decoded: a 3 MB JPEG of 14000 x 14000 pixels would otherwise decode to 590 MB (and a FITS image
  to several GB of float copies). Pillow's own limit is switched off while galzoo opens a file, so there is
  one limit and one message, and raising galzoo's raises it for every format.
* **8 bits per channel out.** 8-bit images are decoded exactly as before (Pillow's ``convert("RGB")`` or
  the identical fast path). 16-bit PNGs keep each sample's 8 most significant bits, ``v >> 8`` (= ``v //
  256``), so the full range 0..65535 maps onto 0..255 and nothing saturates (0..255 -> 0, 65280..65535 ->
  255). That is the rule Pillow itself applies when it decodes 16-bit RGB, RGBA and grey+alpha PNGs (it has
  no 16-bit colour mode), applied here to 16-bit grey too, so one picture saved as 16-bit grey or 16-bit RGB
  reads the same; it is also scikit-image's ``img_as_ubyte``. It differs from ``round(v * 255 / 65535)``
  by at most one grey level. 32-bit integer and floating-point rasters have no agreed range and are refused.
* **FITS pixels must be finite.** A FITS image with no finite pixel (all NaN or infinite) is refused; one
  whose non-finite share exceeds ``NONFINITE_WARN_SHARE`` (10%) is read with a note on stderr naming the
  file and the share (those pixels become 0, the darkest level).
"""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image, ImageFile

from galzoo.errors import ConfigError, DataError
from galzoo.sources import KAGGLE_IMAGE_SIZE  # the side read_rgb checks by default (the synthetic data mimic it)

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
"""What Pillow raises for unreadable, truncated or malformed files (UnidentifiedImageError is an OSError)."""

_JPEG_MAGIC = b"\xff\xd8"

MAX_PIXELS_ENV = "GALZOO_MAX_IMAGE_PIXELS"
"""Environment variable that sets the pixel limit (a positive whole number; ``_`` separators allowed). It
reaches every process that decodes images: the crop stages' workers and ``galzoo predict``'s."""

DEFAULT_MAX_IMAGE_PIXELS = 89_478_485
"""Pixel limit (width x height) when ``GALZOO_MAX_IMAGE_PIXELS`` is unset: Pillow's default
(``1024**3 // 4 // 3``, a 9459 x 9459 square, 268 MB as uint8 RGB). Galaxy cutouts are far smaller (Galaxy
Zoo: 424 x 424, 180k pixels)."""

SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
"""Pillow's modes of 16-bit unsigned grey images (a 16-bit grey PNG opens as one of these)."""

NONFINITE_WARN_SHARE = 0.10
"""A FITS image with more than this share of non-finite pixels (NaN or infinite in any plane) is read with a
note: a few NaN (masked hot pixels) are routine, a tenth of the image (a cutout off the survey's edge) changes
what the model sees."""

FITS_CLIP_PERCENTILES = (0.5, 99.5)
"""Percentiles of a FITS image mapped to 0 and 255 (see ``stretch_to_uint8``)."""

_PILLOW_LIMIT = threading.Lock()
"""Guards the moment Pillow's process-global pixel limit is switched off for one ``Image.open``."""


# ------------------------------------------------------------------------------------------ pixel limit


def max_image_pixels() -> int:
    """The pixel limit in force: ``GALZOO_MAX_IMAGE_PIXELS`` when set, else ``DEFAULT_MAX_IMAGE_PIXELS``.

    Read on every call (cheap), so a changed environment takes effect at once. A value that is not a
    positive whole number is a ConfigError naming the variable.
    """
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise ConfigError(f"{MAX_PIXELS_ENV}={text!r}: expected a positive whole number of pixels "
                          f"(width x height; unset, the limit is {DEFAULT_MAX_IMAGE_PIXELS:,})")
    return limit


def check_pixel_count(path: str | Path, width: int, height: int, max_pixels: int | None = None) -> None:
    """Raise a DataError naming ``path`` when a ``width x height`` image exceeds the pixel limit
    (``max_pixels``, or ``max_image_pixels()`` when None). Call it with the header's size, before decoding."""
    limit = max_image_pixels() if max_pixels is None else max_pixels
    pixels = width * height
    if pixels > limit:
        raise DataError(
            f"{path}: image is {width}x{height} = {pixels:,} pixels, over the limit of {limit:,} pixels that "
            f"guards against decompression bombs (small files that decode to gigabytes); if the image is "
            f"genuine, raise the limit: export {MAX_PIXELS_ENV}={pixels}"
        )


# ---------------------------------------------------------------------------------------- JPEG and PNG


def _decode_jpeg_fast(
    data: bytes, path: Path, expected_size: int | None, max_pixels: int | None
) -> np.ndarray | None:
    """simplejpeg's strict decode, or None when it declines (not a JPEG, CMYK, truncated, wrong size).

    Raises a DataError, without decoding, when the header's size is over the pixel limit."""
    if not data.startswith(_JPEG_MAGIC):
        return None
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    if expected_size is not None and (width, height) != (expected_size, expected_size):
        return None  # Pillow's path reports the size
    check_pixel_count(path, width, height, max_pixels)
    try:
        return simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except ValueError:
        return None


def _open_without_pillows_limit(path: Path) -> Image.Image:
    """``Image.open`` (header only) with Pillow's own decompression-bomb check off: galzoo's limit, checked
    by the caller from the same header, is the one that applies (and its message the one shown)."""
    with _PILLOW_LIMIT:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _to_rgb(image: Image.Image, path: Path) -> np.ndarray:
    """A loaded Pillow image as ``H x W x 3`` uint8 (see the module docstring for the bit-depth rule)."""
    if image.mode == "RGB":
        return np.asarray(image)
    sixteen_bit = image.mode in SIXTEEN_BIT_MODES or (image.mode == "I" and image.format == "PNG")
    if sixteen_bit:  # Pillow's convert("RGB") would clip every value over 255 to 255
        grey = (np.asarray(image) >> 8).astype(np.uint8)  # an "I" PNG (older Pillow) holds 0..65535 too
        rgb = np.repeat(grey[..., None], 3, axis=2)
        rgb.flags.writeable = False
        return rgb
    if image.mode in ("I", "F"):
        kind = "floating-point" if image.mode == "F" else "integer"
        raise DataError(f"{path}: {image.format or 'image'} of 32-bit {kind} pixels (Pillow mode {image.mode}); "
                        f"expected 8 or 16 bits per channel: save it as an 8- or 16-bit PNG, or as FITS")
    return np.asarray(image.convert("RGB"))


def read_rgb(
    path: str | Path, expected_size: int | None = KAGGLE_IMAGE_SIZE, *, max_pixels: int | None = None
) -> np.ndarray:
    """Decode ``path`` into a ``H x W x 3`` uint8 array, fully, or raise a DataError naming the file.

    ``expected_size`` is the required side of a square image (``None`` accepts any size); it is checked
    from the header, before decoding, and so is the pixel limit (``max_pixels``, or ``max_image_pixels()``:
    ``GALZOO_MAX_IMAGE_PIXELS`` or 89,478,485). Greyscale, palette, RGBA and CMYK images are converted with
    Pillow's ``convert("RGB")``: grey is copied to the three channels, alpha is dropped (not composited).
    16-bit PNGs keep each sample's top 8 bits (``v >> 8``: 0..65535 onto 0..255); 32-bit integer or float
    rasters are refused. The array is read-only (numpy wraps Pillow's immutable bytes): copy it before
    editing in place.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found" if not path.exists() else f"{path}: not a file")
    fast = _decode_jpeg_fast(path.read_bytes(), path, expected_size, max_pixels)
    if fast is not None:
        fast.flags.writeable = False  # same contract as the Pillow path
        return fast
    # A truncated JPEG must fail rather than come back grey-padded. Pillow's switch is process-global and
    # any imported library may have flipped it, so it is reset on every call instead of trusted.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with _open_without_pillows_limit(path) as image:
            width, height = image.size
            if expected_size is not None and (width, height) != (expected_size, expected_size):
                raise DataError(
                    f"{path}: image is {width}x{height} pixels, expected {expected_size}x{expected_size}"
                )
            check_pixel_count(path, width, height, max_pixels)
            image.load()
            return _to_rgb(image, path)
    except _DECODE_ERRORS as err:
        raise DataError(f"{path}: not a readable, complete image ({type(err).__name__}: {err})") from err


# ------------------------------------------------------------------------------------------------ FITS


def stretch_to_uint8(data: np.ndarray, percentiles: tuple[float, float] = FITS_CLIP_PERCENTILES) -> np.ndarray:
    """Linear stretch of a float image to uint8: the low/high percentiles (of all channels together) map to
    0 and 255, values beyond them are clipped; NaN and infinite pixels become 0.

    Why this stretch: the models were trained on 8-bit JPEG-like RGB, where the sky sits near 0 and the
    galaxy's core near 255. Percentile clipping puts the sky at the bottom and the galaxy at the top of the
    range whatever the FITS units (counts, nanomaggies, an already stretched image) while a few hot pixels,
    cosmic rays or a bright star (the top 0.5%) cannot squash the galaxy into the lowest grey levels. One
    stretch for the three channels keeps their ratios, i.e. the colour. Linear, not asinh: a FITS that is
    already display-scaled keeps its look; for raw fluxes an asinh stretch (as SDSS used for the Galaxy Zoo
    JPEGs) made beforehand is closer to the training images.
    """
    values = np.asarray(data, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, np.uint8)
    low, high = np.percentile(values[finite], percentiles)
    if not high > low:
        return np.zeros(values.shape, np.uint8)
    scaled = (np.where(finite, values, low) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _fits_planes(data: np.ndarray, path: Path) -> np.ndarray:
    """A FITS data array as ``H x W x 3``: 2-D grey copied to 3 channels, or 3 planes first or last."""
    data = np.squeeze(data)  # e.g. (1, H, W) from a single-plane cube
    if data.ndim == 2:
        return np.repeat(data[..., None], 3, axis=2)
    if data.ndim == 3 and data.shape[0] == 3:  # FITS order: NAXIS3 planes of NAXIS2 x NAXIS1
        return np.moveaxis(data, 0, -1)
    if data.ndim == 3 and data.shape[2] == 3:
        return data
    raise DataError(f"{path}: FITS image of shape {data.shape}; expected 2-D (grey) or 3 planes "
                    f"(3 x H x W or H x W x 3)")


def _fits_image_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(width, height)`` of the image a FITS data shape (numpy order) holds, for the pixel limit: the two
    image axes of a grey image or a 3-plane cube; for any other shape, all its values as one row."""
    axes = tuple(n for n in shape if n != 1)
    if len(axes) == 2:
        return axes[1], axes[0]
    if len(axes) == 3 and axes[0] == 3:
        return axes[2], axes[1]
    if len(axes) == 3 and axes[2] == 3:
        return axes[1], axes[0]
    return int(np.prod(axes, dtype=np.int64)), 1


def _check_finite(rgb: np.ndarray, path: Path) -> None:
    """Refuse a FITS image without a finite pixel; note one with more than NONFINITE_WARN_SHARE of them."""
    bad = ~np.isfinite(rgb).all(axis=2)
    share = float(bad.mean())
    if share == 1.0:
        raise DataError(f"{path}: FITS image has no finite pixels (all {bad.size:,} are NaN or infinite); "
                        f"nothing to score")
    if share > NONFINITE_WARN_SHARE:
        print(f"galzoo: {path}: {share:.1%} of the FITS image's pixels are NaN or infinite (over "
              f"{NONFINITE_WARN_SHARE:.0%}); they are read as 0, the darkest level, and the scores may suffer",
              file=sys.stderr)


def read_fits_rgb(path: str | Path, *, max_pixels: int | None = None) -> np.ndarray:
    """The first image HDU of a FITS file as uint8 ``H x W x 3`` (planes in file order as R, G, B), stretched
    by ``stretch_to_uint8``. For SDSS-like colour order give the planes as i, r, g (as the Kaggle JPEGs).

    The pixel limit (``max_pixels``, or ``max_image_pixels()``) is checked from the header, before the data
    are read. An image with no finite pixel is a DataError; one with more than ``NONFINITE_WARN_SHARE`` of
    non-finite pixels is read with a note on stderr.
    """
    from astropy.io import fits  # imported here: only FITS inputs pay for it

    path = Path(path)
    try:
        with fits.open(path, memmap=False) as hdus:
            hdu = next((hdu for hdu in hdus if hdu.is_image and hdu.header.get("NAXIS", 0) > 0), None)
            if hdu is not None:
                shape = tuple(int(hdu.header[f"NAXIS{axis}"]) for axis in range(hdu.header["NAXIS"], 0, -1))
                check_pixel_count(path, *_fits_image_size(shape), max_pixels)
            data = None if hdu is None else hdu.data
    except (OSError, ValueError, TypeError, EOFError, KeyError) as err:
        raise DataError(f"{path}: not a readable FITS file ({type(err).__name__}: {err})") from err
    if data is None:
        raise DataError(f"{path}: FITS file without image data")
    rgb = _fits_planes(np.asarray(data), path)
    _check_finite(rgb, path)
    return stretch_to_uint8(rgb)
