"""Specification of decoding the images that are valid files but bad input: 16-bit PNGs (scaled to 8 bits by
their top byte, never saturated), FITS images without finite pixels (refused) or with many (noted), and
decompression bombs (refused from the header, by one pixel limit for every decoder)."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import simplejpeg
from astropy.io import fits
from astropy.io.fits.hdu.image import _ImageBaseHDU
from PIL import Image, ImageFile

from galzoo.errors import ConfigError, DataError
from galzoo.preprocess.images import (DEFAULT_MAX_IMAGE_PIXELS, MAX_PIXELS_ENV, max_image_pixels, read_fits_rgb,
                                      read_rgb)

# ------------------------------------------------------------------------------------------------ helpers

PNG_CHANNELS = {0: 1, 4: 2, 2: 3, 6: 4}
"""PNG colour type -> samples per pixel: grey, grey+alpha, RGB, RGBA."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> bytes:
    """The signature and IHDR chunk of a PNG: all a reader needs to know the image's size."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)


def write_png16(path: Path, samples: np.ndarray, colour_type: int) -> Path:
    """A 16-bit PNG of ``samples`` (H x W x channels, 0..65535): Pillow writes 16-bit grey only."""
    samples = samples.reshape(samples.shape[0], samples.shape[1], -1)
    assert samples.shape[2] == PNG_CHANNELS[colour_type]
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in samples)  # filter 0 on every row
    height, width = samples.shape[:2]
    path.write_bytes(png_header(width, height, 16, colour_type) + _chunk(b"IDAT", zlib.compress(rows))
                     + _chunk(b"IEND", b""))
    return path


def jpeg_claiming(path: Path, width: int, height: int) -> Path:
    """A 16x16 JPEG whose frame header (SOF0) claims ``width x height``: a decompression bomb's header."""
    Image.new("RGB", (16, 16), (9, 9, 9)).save(path, quality=10)
    data = bytearray(path.read_bytes())
    sof = data.index(b"\xff\xc0")  # marker, length (2), precision (1), height (2), width (2)
    data[sof + 5: sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any pixel is decoded: the bomb must be refused from its header."""
    def refuse(*args, **kwargs):
        raise AssertionError("pixels were decoded")
    monkeypatch.setattr(simplejpeg, "decode_jpeg", refuse)
    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def no_data(hdu):
    raise AssertionError("FITS data were read")


# --------------------------------------------------------------------------------------- 16-bit images

SIXTEEN_BIT = np.array([0, 255, 256, 32767, 32768, 65279, 65280, 65535])
TOP_BYTE = np.array([0, 0, 1, 127, 128, 254, 255, 255])  # v >> 8


def test_a_16_bit_grey_png_keeps_the_top_8_bits_of_each_sample(tmp_path):
    path = tmp_path / "grey16.png"
    Image.fromarray(SIXTEEN_BIT.reshape(1, -1).astype(np.uint16)).save(path)  # Pillow writes it as 16-bit
    with Image.open(path) as image:
        assert image.mode == "I;16"
    out = read_rgb(path, expected_size=None)
    assert out.dtype == np.uint8 and out.shape == (1, 8, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[0, :, channel], TOP_BYTE)


@pytest.mark.parametrize("colour_type", [0, 4, 2, 6], ids=["grey", "grey+alpha", "rgb", "rgba"])
def test_every_kind_of_16_bit_png_reads_as_the_same_8_bit_picture(tmp_path, colour_type):
    samples = np.repeat(SIXTEEN_BIT.reshape(1, -1, 1), PNG_CHANNELS[colour_type], axis=2)
    out = read_rgb(write_png16(tmp_path / "image.png", samples, colour_type), expected_size=None)
    np.testing.assert_array_equal(out[0], np.repeat(TOP_BYTE[:, None], 3, axis=1))


@pytest.mark.parametrize("colour_type", [0, 2], ids=["grey", "rgb"])
def test_a_16_bit_image_spanning_the_range_is_not_saturated(tmp_path, colour_type):
    rng = np.random.default_rng(0)
    samples = rng.integers(0, 65536, (64, 64, PNG_CHANNELS[colour_type]))
    out = read_rgb(write_png16(tmp_path / "noise.png", samples, colour_type), expected_size=None)
    assert (out == 255).mean() < 0.01  # was 98% for grey: every value over 255 clipped to 255
    np.testing.assert_array_equal(out[..., 0], samples[..., 0] >> 8)


def test_a_32_bit_float_raster_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(path)
    with pytest.raises(DataError, match=r"float\.tif.*32-bit floating-point"):
        read_rgb(path, expected_size=None)


@pytest.mark.parametrize("name, mode", [("rgb.png", "RGB"), ("grey.png", "L"), ("palette.png", "P"),
                                        ("rgba.png", "RGBA"), ("grey-alpha.png", "LA"), ("bilevel.png", "1"),
                                        ("rgb.jpg", "RGB"), ("grey.jpg", "L")])
def test_8_bit_images_decode_exactly_as_pillows_convert_to_rgb(tmp_path, name, mode):
    rgb = np.random.default_rng(3).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    path = tmp_path / name
    Image.fromarray(rgb).convert(mode).save(path)
    with Image.open(path) as reference:
        expected = np.asarray(reference.convert("RGB"))
    out = read_rgb(path, expected_size=None)
    assert out.dtype == expected.dtype and out.tobytes() == expected.tobytes()


# -------------------------------------------------------------------------------------------------- FITS


def write_fits(path: Path, data: np.ndarray) -> Path:
    fits.PrimaryHDU(data.astype(np.float32)).writeto(path)
    return path


def galaxy(size: int = 40) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    return np.exp(-((x - size / 2) ** 2 + (y - size / 2) ** 2) / 50.0) + 0.01 * (x + y)


@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf])
def test_a_fits_image_without_finite_pixels_is_refused_naming_the_file(tmp_path, fill):
    path = write_fits(tmp_path / "blank.fits", np.full((3, 20, 20), fill))
    with pytest.raises(DataError, match=r"blank\.fits: FITS image has no finite pixels"):
        read_fits_rgb(path)


def test_a_fits_image_with_a_quarter_of_nan_pixels_is_read_with_a_note_naming_the_file_and_share(tmp_path,
                                                                                                capsys):
    data = galaxy()
    data[:10] = np.nan  # 10 of 40 rows: 25%
    out = read_fits_rgb(write_fits(tmp_path / "edge.fits", data))
    assert out.shape == (40, 40, 3) and (out[:10] == 0).all()
    note = capsys.readouterr().err
    assert "edge.fits" in note and "25.0% of the FITS image's pixels are NaN or infinite" in note


def test_a_pixel_is_not_finite_when_any_of_its_planes_is_not(tmp_path, capsys):
    planes = np.stack([galaxy()] * 3)
    planes[2, :10] = np.nan  # one plane only, on 25% of the pixels
    read_fits_rgb(write_fits(tmp_path / "cube.fits", planes))
    assert "25.0%" in capsys.readouterr().err


def test_a_few_nan_pixels_pass_without_a_note(tmp_path, capsys):
    data = galaxy()
    data[:4] = np.nan  # 10%: not more than the threshold
    read_fits_rgb(write_fits(tmp_path / "masked.fits", data))
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------------------------------- pixel limit


def test_the_default_limit_is_pillows(monkeypatch):
    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)
    assert max_image_pixels() == DEFAULT_MAX_IMAGE_PIXELS == 1024 ** 3 // 4 // 3


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A PNG header claiming ``width x height``, without pixel data."""
    path.write_bytes(png_header(width, height) + _chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("name, make", [("bomb.jpg", jpeg_claiming), ("bomb.png", png_claiming)],
                         ids=["jpeg-fast-path", "png-pillow"])
def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, monkeypatch, no_decoding, name, make):
    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)
    path = make(tmp_path / name, 14000, 14000)
    with pytest.raises(DataError) as caught:
        read_rgb(path, expected_size=None)
    message = str(caught.value)
    assert message.startswith(f"{path}: image is 14000x14000 = 196,000,000 pixels, over the limit of 89,478,485")
    assert f"export {MAX_PIXELS_ENV}=196000000" in message


def test_a_fits_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)
    monkeypatch.setattr(_ImageBaseHDU, "data", property(no_data))  # reading the data would fail the test
    header = fits.Header({"SIMPLE": True, "BITPIX": 8, "NAXIS": 2, "NAXIS1": 14000, "NAXIS2": 14000})
    path = tmp_path / "bomb.fits"
    with path.open("wb") as out:  # a complete FITS file, but sparse: its 196 MB of zero data take no disk
        out.write(header.tostring().encode("ascii"))
        out.truncate(out.tell() + -(-14000 * 14000 // 2880) * 2880)  # data padded to whole 2880-byte blocks
    with pytest.raises(DataError, match=r"bomb\.fits: image is 14000x14000 = 196,000,000 pixels, over the limit"):
        read_fits_rgb(path)


def small_images(tmp: Path) -> dict[str, Path]:
    """One 20x20 (400-pixel) image per decoder: simplejpeg, Pillow (8- and 16-bit), astropy."""
    rgb = np.full((20, 20, 3), 100, np.uint8)
    Image.fromarray(rgb).save(tmp / "fast.jpg")
    Image.fromarray(rgb).save(tmp / "plain.png")
    write_png16(tmp / "deep.png", np.full((20, 20, 1), 5000), 0)
    write_fits(tmp / "sky.fits", galaxy(20))
    return {path.name: path for path in tmp.iterdir()}


def read_any(path: Path, **kwargs) -> np.ndarray:
    return read_fits_rgb(path, **kwargs) if path.suffix == ".fits" else read_rgb(path, None, **kwargs)


@pytest.mark.parametrize("name", ["fast.jpg", "plain.png", "deep.png", "sky.fits"])
def test_one_limit_set_by_the_environment_applies_to_every_decoder(tmp_path, monkeypatch, name):
    path = small_images(tmp_path)[name]
    monkeypatch.setenv(MAX_PIXELS_ENV, "399")
    with pytest.raises(DataError, match=rf"{name}: image is 20x20 = 400 pixels, over the limit of 399 pixels"):
        read_any(path)
    monkeypatch.setenv(MAX_PIXELS_ENV, "400")
    assert read_any(path).shape == (20, 20, 3)


@pytest.mark.parametrize("name", ["fast.jpg", "plain.png", "sky.fits"])
def test_the_max_pixels_argument_overrides_the_environment(tmp_path, monkeypatch, name):
    path = small_images(tmp_path)[name]
    monkeypatch.setenv(MAX_PIXELS_ENV, "400")
    with pytest.raises(DataError, match="over the limit of 100 pixels"):
        read_any(path, max_pixels=100)
    monkeypatch.setenv(MAX_PIXELS_ENV, "100")
    assert read_any(path, max_pixels=400).shape == (20, 20, 3)


def test_pillows_own_limit_is_not_the_one_in_force_and_is_left_as_found(tmp_path, monkeypatch):
    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone would refuse a 400-pixel PNG
    assert read_rgb(small_images(tmp_path)["plain.png"], None).shape == (20, 20, 3)
    assert Image.MAX_IMAGE_PIXELS == 100


@pytest.mark.parametrize("value", ["lots", "0", "-5", "1e9"])
def test_a_limit_that_is_not_a_positive_whole_number_is_an_error_naming_the_variable(tmp_path, monkeypatch,
                                                                                      value):
    monkeypatch.setenv(MAX_PIXELS_ENV, value)
    with pytest.raises(ConfigError, match=rf"{MAX_PIXELS_ENV}='{value}': expected a positive whole number"):
        read_rgb(small_images(tmp_path)["fast.jpg"], None)
