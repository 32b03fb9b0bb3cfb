"""Helpers the source tests share (more than one test module asks the same question of a folder or image)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

#: Answers of SkyServer and VizieR written by hand in their formats (see tests/sources/test_sdss.py).
RECORDED_SDSS = Path(__file__).resolve().parents[1] / "data" / "sdss"


def leftovers(folder: Path) -> list[str]:
    """What a folder holds (nothing when it does not exist): a failed step must leave no debris."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def jpeg(rgb=(120, 60, 30), size: int = 200) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def mean_colour(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=float).mean(axis=(0, 1))
