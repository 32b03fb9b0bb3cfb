"""Specification of reading images: RGB uint8 pixels, and an error naming every bad file."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFile

from galzoo.errors import DataError
from galzoo.preprocess import read_rgb
from tests.preprocess.common import SIZE, disc_image, write_image


def test_read_rgb_returns_the_pixels(tmp_path):
    rgb = disc_image(40)
    Image.fromarray(rgb).save(tmp_path / "lossless.png")
    out = read_rgb(tmp_path / "lossless.png")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgb)


def test_read_rgb_converts_grey_and_rgba(tmp_path):
    Image.new("L", (SIZE, SIZE), 77).save(tmp_path / "grey.png")
    Image.new("RGBA", (SIZE, SIZE), (1, 2, 3, 0)).save(tmp_path / "rgba.png")
    assert (read_rgb(tmp_path / "grey.png") == 77).all()
    assert read_rgb(tmp_path / "rgba.png")[0, 0].tolist() == [1, 2, 3]


def test_read_rgb_any_size_when_asked(tmp_path):
    write_image(tmp_path / "small.jpg", np.zeros((30, 40, 3), dtype=np.uint8))
    assert read_rgb(tmp_path / "small.jpg", expected_size=None).shape == (30, 40, 3)


@pytest.mark.parametrize("kind", ["truncated", "not-an-image", "wrong-size", "missing"])
def test_read_rgb_names_the_bad_file(bad_images, kind):
    path, phrase = bad_images[kind]
    with pytest.raises(DataError, match=phrase) as caught:
        read_rgb(path)
    assert str(path) in str(caught.value)


def test_truncated_jpeg_fails_even_if_pillow_was_told_to_accept_it(bad_images, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(DataError, match="truncated"):
        read_rgb(bad_images["truncated"][0])


def test_the_fast_jpeg_decoder_gives_exactly_pillows_pixels(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "noise.jpg"
    Image.fromarray(rng.integers(0, 255, (424, 424, 3), dtype=np.uint8)).save(path, quality=85)
    with Image.open(path) as reference:
        np.testing.assert_array_equal(read_rgb(path), np.asarray(reference.convert("RGB")))
