"""Pixels and photometry of the Perseus study (Pruitt 2024): the red-image filter, the colour regions of the
colour-magnitude diagram, the greyscale ablation, and the resizing and rotation of cutouts."""
from __future__ import annotations

import cv2
import numpy as np

from galzoo.config import RedFilterParams

#: Pruitt (2024) sec. 7 and fig. 22: the red sequence lies between r = -14.3 (g - z) + 37 and + 46 (SDSS
#: modelMag r and g - z).
RED_SEQUENCE_SLOPE = -14.3
RED_SEQUENCE_INTERCEPTS = (37.0, 46.0)
REGIONS = ("blue_cloud", "red_sequence", "red_shoulder")
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def red_fraction(rgb: np.ndarray, params: RedFilterParams) -> float:
    """Fraction of pixels that are red: HSV hue within ``hue_deg`` of 0 degrees (both sides of the circle),
    saturation >= ``min_saturation`` and value >= ``min_value`` (0-255, OpenCV's 8-bit HSV).

    The paper's "overly red" cutouts come from an under-subtracted i-band sky (sec. 3.3): a saturated red wash
    over most of the image, which a galaxy's own colour never gives.
    """
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb, np.uint8), cv2.COLOR_RGB2HSV)
    hue = hsv[..., 0].astype(np.float32) * 2.0  # OpenCV stores hue / 2 in 8 bits
    near_red = np.minimum(hue, 360.0 - hue) <= params.hue_deg
    red = near_red & (hsv[..., 1] >= params.min_saturation) & (hsv[..., 2] >= params.min_value)
    return float(red.mean())


def colour_region(r: np.ndarray, g_z: np.ndarray) -> np.ndarray:
    """``blue_cloud`` / ``red_sequence`` / ``red_shoulder`` in the (g - z, r) plane, "" without photometry.

    Between the two lines is the red sequence; redder (larger g - z at a given r) is the red shoulder, bluer
    the blue cloud. (The paper's table 4 prints the blue-cloud and red-shoulder names the other way round:
    its 90 "blue cloud" objects with 1 member are the redder region of its own lines.)
    """
    r, g_z = np.asarray(r, np.float64), np.asarray(g_z, np.float64)
    offset = r - RED_SEQUENCE_SLOPE * g_z  # the intercept of the line through the point
    low, high = RED_SEQUENCE_INTERCEPTS
    region = np.where(offset < low, REGIONS[0], np.where(offset <= high, REGIONS[1], REGIONS[2])).astype(object)
    region[~(np.isfinite(r) & np.isfinite(g_z))] = ""
    return region


def to_greyscale(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luminance in all three channels (the paper's greyscale ablation keeps the network's input)."""
    grey = np.clip(rgb.astype(np.float32) @ LUMA + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def resize_cutout(rgb: np.ndarray, size: int) -> np.ndarray:
    """The whole cutout at ``size`` x ``size`` (area averaging when shrinking); the store and predict share it."""
    if rgb.shape[:2] == (size, size):
        return np.ascontiguousarray(rgb)
    interpolation = cv2.INTER_AREA if min(rgb.shape[:2]) >= size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(rgb), (size, size), interpolation=interpolation)


def rotate(image: np.ndarray, angle_deg: float, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """``image`` turned counter-clockwise by ``angle_deg`` about its centre (multiples of 90 degrees exactly)."""
    angle = angle_deg % 360
    if angle % 90 == 0:
        return np.rot90(image, k=int(angle // 90)).copy()
    size = image.shape[0]
    matrix = cv2.getRotationMatrix2D(((size - 1) / 2, (size - 1) / 2), angle, 1.0)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)
