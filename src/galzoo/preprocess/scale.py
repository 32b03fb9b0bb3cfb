"""The normalized scale of Kabani & El-Sakka (2016), section 4: the side of a centred crop fitting the galaxy.

The paper's recipe, and the choices it leaves open:

1. Intensity ``I`` = the plain mean of R, G and B (the paper only says "the image I"; the Kaggle JPEGs are
   SDSS g, r, i composites, and an equal-weight mean favours no band). It is computed as the integer sum
   R + G + B, which leaves eq. 2 unchanged because the threshold scales with it.
2. Foreground = ``I >= mean(I) + std(I)`` over the whole image (eq. 2, population std).
3. The galaxy = the 8-connected foreground component at the centre (8-connectivity is scikit-image
   ``label``'s default in 2-D). "At the centre" means the component of the foreground pixel nearest to the
   geometric centre ``((H-1)/2, (W-1)/2)``, searched no further than ``CENTRE_SEARCH_RADIUS``; among equally
   near components the largest wins, following the paper's "largest region ... in the center". The radius
   lets a galaxy whose very centre dips below the threshold (a ring, a dust lane) still be found, while a
   neighbour well off centre is never mistaken for it.
4. Side = the major-axis length of the ellipse with the same normalised second central moments, i.e.
   ``4 * sqrt(largest eigenvalue of the pixel-coordinate covariance)``, exactly scikit-image's
   ``regionprops(...).axis_major_length``, rounded to whole pixels.

The LoG/DoG blob detector the paper suggests for off-centre galaxies is not implemented: Galaxy Zoo cutouts
are centred on their galaxy by construction.

When the measurement cannot be trusted the side falls back to ``FALLBACK_SIDE`` (see ``ScaleResult``) and
the status says why, so the crop stage never stops on an odd but readable image.

Images of another size than Kaggle's (``to_kaggle_frame``): the paper's three views are defined on the
424x424 Kaggle cutouts, and every pixel constant of the study (the 64 and 256 px crops, ``MIN_SIDE``,
``CENTRE_SEARCH_RADIUS``, ``LABEL_WINDOW``, ``FALLBACK_SIDE``) is in pixels of that frame. Galaxy Zoo
cutouts (Kaggle, Galaxy Zoo 1 and 2) scale the field to the galaxy, so what a crop means is the fraction of
the field it keeps: crop64 is the central 64/424 of the field, crop256 the central 256/424. An image of
another size is therefore first resampled to the 424 px frame (its centred square, if it is not square),
and every view and threshold then keeps its meaning unchanged (one synthetic galaxy drawn at 256 to 848 px
gives views within 1-3 grey levels on average of its 424 px views, and a normalized side within 1 px).
Cropping 64 and 256 px of, say, a 300 px image instead would show the network more of the field than the
paper's crops (crop64 then differs by 34 grey levels on average); cropping 64/424 and 256/424 of the side
would mean rescaling every constant above too, for about the same views at more code. A 424x424 image is
never resampled, so its crops are exactly those of the published pipeline.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from galzoo.errors import DataError
from galzoo.sources import KAGGLE_IMAGE_SIZE

FALLBACK_SIDE = 256
"""Side used when no trustworthy galaxy region is found: the study's own crop256 view. A failed
normalisation then degrades to a scale the study already compares, rather than to an invented one; the
full 424 px image would shrink a typical galaxy (median normalized side 136 px on real Kaggle images) to
~20 px at 64x64."""

MIN_SIDE = 16
"""Smallest side (px) accepted as a galaxy. Galaxy Zoo cutouts are scaled to their galaxy's size (on 680
real Kaggle images the side runs from 76 to 278 px), so a central region under 16 px is a star, a hot
pixel or a noise blob rather than the galaxy."""

CENTRE_SEARCH_RADIUS = 10.0
"""How far (px) from the image centre the galaxy's nearest foreground pixel may lie."""

LABEL_WINDOW = 256
"""Side of the centred square labelled first (see ``central_region``). On 680 real Kaggle images the
central component stays inside it 98.5% of the time, and labelling it costs a third of the whole image."""

KAGGLE_FRAME = KAGGLE_IMAGE_SIZE
"""Side (px) of the frame the scale study crops from: the Kaggle cutouts' (see ``to_kaggle_frame``)."""

MIN_IMAGE_SIDE = 256
"""Smallest image side (px) the scale study accepts (choice). Resampling would enlarge anything, but below
the crop256 view's own side the 424 px frame is enlarged more than 424/256 = 1.66x, and the crop64 view
(64/424 of the field) would rest on fewer than 39 real pixels, interpolated up to 64: mostly invented
detail. 256 is also the side the README has always promised to accept. Enforced when an image is
resampled, and checked from the image headers when the folder source is downloaded."""

STATUSES = ("ok", "no_region", "clipped", "too_small")

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class ScaleResult:
    """The normalized crop side of one image and how it was obtained.

    ``status`` is one of ``STATUSES``:

    - ``ok``: ``side`` is the rounded major-axis length;
    - ``no_region``: blank image, or no foreground within ``CENTRE_SEARCH_RADIUS`` of the centre;
      ``side = FALLBACK_SIDE`` and ``major_axis`` is NaN;
    - ``clipped``: the major axis exceeds the image; ``side`` = the image's shorter side;
    - ``too_small``: the central region is under ``MIN_SIDE``; ``side = FALLBACK_SIDE``.

    ``major_axis`` is always the measured length in pixels (NaN when there was nothing to measure), kept
    so that fallbacks can be audited.
    """

    side: int
    status: str
    major_axis: float


def intensity_sum(rgb: np.ndarray) -> np.ndarray:
    """R + G + B as uint16: three times the mean intensity, with no float image (this is the hot path)."""
    total = np.add(rgb[..., 0], rgb[..., 1], dtype=np.uint16)
    total += rgb[..., 2]
    return total


def threshold_mask(rgb: np.ndarray) -> np.ndarray | None:
    """Eq. 2: pixels at or above mean + std of the intensity; None for a constant image (none stands out)."""
    intensity = intensity_sum(rgb)
    squares = intensity.ravel().astype(np.uint32)  # at most 765**2: fits, and no float copy of the image
    squares *= squares
    count = intensity.size
    total = int(intensity.sum(dtype=np.uint64))
    spread = count * int(squares.sum(dtype=np.uint64)) - total * total  # count**2 * variance, exactly
    if spread == 0:
        return None
    # The smallest integer t >= mean + std, i.e. with count * t - total >= sqrt(spread), in exact integer
    # arithmetic, so that a pixel sitting exactly on the threshold is never lost to rounding.
    root = math.isqrt(spread)
    margin = root if root * root == spread else root + 1
    return intensity >= -(-(total + margin) // count)


def _components_near(mask: np.ndarray, centre_y: float, centre_x: float) -> tuple[np.ndarray, np.ndarray]:
    """Label ``mask``; return the labels and the label(s) of the foreground pixel(s) nearest the centre.

    Several labels come back only when distinct components tie for nearest; none when no foreground pixel
    lies within ``CENTRE_SEARCH_RADIUS``.
    """
    labels, _ = ndimage.label(mask, structure=_EIGHT_CONNECTED)
    top = max(0, math.ceil(centre_y - CENTRE_SEARCH_RADIUS))
    left = max(0, math.ceil(centre_x - CENTRE_SEARCH_RADIUS))
    near = labels[top : math.floor(centre_y + CENTRE_SEARCH_RADIUS) + 1,
                  left : math.floor(centre_x + CENTRE_SEARCH_RADIUS) + 1]
    ys, xs = np.nonzero(near)
    distance2 = (ys + (top - centre_y)) ** 2 + (xs + (left - centre_x)) ** 2
    if distance2.size == 0 or distance2.min() > CENTRE_SEARCH_RADIUS**2:
        return labels, np.empty(0, dtype=labels.dtype)
    nearest = distance2 == distance2.min()
    return labels, np.unique(near[ys[nearest], xs[nearest]])


def _touches_edge(region: np.ndarray) -> bool:
    return bool(region[0].any() or region[-1].any() or region[:, 0].any() or region[:, -1].any())


def _central_component(mask: np.ndarray) -> tuple[np.ndarray, tuple[slice, slice]] | None:
    """The central component as a mask of the centred window it was found in, with that window's slices.

    Labelling is the costliest step, so it is first tried on the centred ``LABEL_WINDOW`` square: a
    component that does not reach the window's edge cannot extend beyond it, so the answer is exact. Only
    components reaching the edge (and ties) are relabelled on the whole image.
    """
    height, width = mask.shape
    centre_y, centre_x = (height - 1) / 2, (width - 1) / 2
    # Window sides of the image's parity, so that the window is centred exactly on the image centre.
    window_h = min(height, LABEL_WINDOW + (height - LABEL_WINDOW) % 2)
    window_w = min(width, LABEL_WINDOW + (width - LABEL_WINDOW) % 2)
    top, left = (height - window_h) // 2, (width - window_w) // 2
    window = (slice(top, top + window_h), slice(left, left + window_w))
    labels, candidates = _components_near(mask[window], centre_y - top, centre_x - left)
    if candidates.size == 0:
        return None
    if candidates.size == 1:
        inner = labels == candidates[0]
        if (window_h, window_w) == (height, width) or not _touches_edge(inner):
            return inner, window
    labels, candidates = _components_near(mask, centre_y, centre_x)
    largest = max((labels == candidate for candidate in candidates), key=np.count_nonzero)
    return largest, (slice(0, height), slice(0, width))


def central_region(mask: np.ndarray) -> np.ndarray | None:
    """The 8-connected component of ``mask`` at the image centre (rule in the module docstring), or None."""
    found = _central_component(mask)
    if found is None:
        return None
    component, window = found
    region = np.zeros_like(mask)
    region[window] = component
    return region


def major_axis_length(region: np.ndarray) -> float:
    """Major axis of the ellipse with the region's normalised second central moments (skimage's definition).

    Works on the flat indices of the region's pixels instead of calling ``regionprops``, which computes
    every moment up to third order and is several times slower.
    """
    flat = np.flatnonzero(region)
    rows, cols = np.divmod(flat, region.shape[1])
    # Raw integer moments are exact; float only enters at the divisions.
    count = flat.size
    mean_r = int(rows.sum()) / count
    mean_c = int(cols.sum()) / count
    var_r = int(rows @ rows) / count - mean_r * mean_r
    var_c = int(cols @ cols) / count - mean_c * mean_c
    cov = int(rows @ cols) / count - mean_r * mean_c
    largest_eigenvalue = (var_r + var_c) / 2 + math.hypot((var_r - var_c) / 2, cov)
    return 4.0 * math.sqrt(max(largest_eigenvalue, 0.0))


def find_normalized_side(rgb: np.ndarray) -> ScaleResult:
    """The paper's normalized crop side for one ``H x W x 3`` uint8 image; never raises on a valid image."""
    if not (isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8):
        shape = getattr(rgb, "shape", None)
        raise DataError(f"expected an H x W x 3 uint8 RGB array, got {type(rgb).__name__} of shape {shape}")
    image_side = min(rgb.shape[0], rgb.shape[1])
    fallback = min(FALLBACK_SIDE, image_side)
    mask = threshold_mask(rgb)
    found = None if mask is None else _central_component(mask)
    if found is None:
        return ScaleResult(side=fallback, status="no_region", major_axis=math.nan)
    major_axis = major_axis_length(found[0])  # moments are central: the window offset does not matter
    side = math.floor(major_axis + 0.5)
    if side > image_side:
        return ScaleResult(side=image_side, status="clipped", major_axis=major_axis)
    if side < MIN_SIDE:
        return ScaleResult(side=fallback, status="too_small", major_axis=major_axis)
    return ScaleResult(side=side, status="ok", major_axis=major_axis)


def to_kaggle_frame(rgb: np.ndarray, frame: int = KAGGLE_FRAME) -> np.ndarray:
    """``rgb`` as a ``frame x frame`` image, the Kaggle cutout the scale study's views are defined on.

    A ``frame x frame`` image comes back as it is (the same array, not a copy), so Kaggle-sized images give
    exactly the crops they always have. Any other image of at least ``MIN_IMAGE_SIDE`` px loses the longer
    side's excess, centred (rounding as ``crops.centre_offsets``: half a pixel up or left), then is resampled
    to ``frame``: an exact area average (Pillow's BOX) to shrink, BILINEAR to enlarge, as
    ``crops.resize_square`` does. Why resampling rather than cropping in pixels: the module docstring.
    A smaller image is a DataError naming its size, the minimum and the stage that needs it.
    """
    height, width = rgb.shape[:2]
    if height == width == frame:
        return rgb
    side = min(height, width)
    if side < MIN_IMAGE_SIDE:
        raise DataError(f"image is {width}x{height} pixels; the scale study's crop stage needs at least "
                        f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} (it resamples every image to the {frame} px Kaggle "
                        f"frame, and its crop256 view is 256 px of that frame)")
    top, left = (height - side) // 2, (width - side) // 2
    square = np.ascontiguousarray(rgb[top : top + side, left : left + side])
    if side == frame:
        return square
    resample = Image.Resampling.BOX if side > frame else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(square).resize((frame, frame), resample))
