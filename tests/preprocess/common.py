"""Synthetic sky images the preprocess tests share: ellipses and discs on a dark, noisy sky, written to disk."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 424


def ellipse_mask(a: float, b: float, angle_deg: float = 0.0, centre=(SIZE / 2 - 0.5, SIZE / 2 - 0.5),
                 size: int = SIZE) -> np.ndarray:
    """Pixels inside an ellipse with semi-axes a (along angle_deg from the x axis) and b."""
    y, x = np.mgrid[:size, :size]
    theta = math.radians(angle_deg)
    dx, dy = x - centre[1], y - centre[0]
    u = dx * math.cos(theta) + dy * math.sin(theta)
    v = -dx * math.sin(theta) + dy * math.cos(theta)
    return (u / a) ** 2 + (v / b) ** 2 <= 1.0


def sky_image(mask: np.ndarray, brightness: int = 200, seed: int = 0) -> np.ndarray:
    """A bright uniform object on a dark, noisy sky, as uint8 RGB."""
    rng = np.random.default_rng(seed)
    sky = rng.normal(10.0, 2.0, size=mask.shape + (3,))
    sky[mask] = brightness
    return np.clip(np.rint(sky), 0, 255).astype(np.uint8)


def disc_image(radius: float, **kwargs) -> np.ndarray:
    return sky_image(ellipse_mask(radius, radius, **kwargs))


def write_image(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(rgb).save(path, quality=95)
    return path
