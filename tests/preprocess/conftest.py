"""Fixtures of the preprocess tests: image files that are bad in every way a reader must name."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.preprocess.common import disc_image, write_image


@pytest.fixture
def bad_images(tmp_path) -> dict[str, tuple[Path, str]]:
    """One file per way of being bad, with the phrase its error must contain."""
    truncated = write_image(tmp_path / "truncated.jpg", disc_image(50))
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    (tmp_path / "notes.jpg").write_text("this is not an image")
    write_image(tmp_path / "small.jpg", disc_image(50, size=300, centre=(150, 150)))
    return {
        "truncated": (truncated, "not a readable, complete image"),
        "not-an-image": (tmp_path / "notes.jpg", "not a readable, complete image"),
        "wrong-size": (tmp_path / "small.jpg", "300x300 pixels, expected 424x424"),
        "missing": (tmp_path / "absent.jpg", "not found"),
    }
