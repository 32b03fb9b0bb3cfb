"""Specification of the three views: the raw centre, the area-averaged wide centre and the normalized crop."""
from __future__ import annotations

import numpy as np
import pytest

from galzoo.errors import ConfigError, DataError
from galzoo.preprocess import SCALES, centre_crop, check_scale, crop_all_scales
from galzoo.preprocess.crops import centre_offsets, resize_square
from tests.preprocess.common import SIZE, disc_image


def test_every_view_is_64x64x3_uint8():
    views, result = crop_all_scales(disc_image(50))
    assert set(views) == set(SCALES)
    for view in views.values():
        assert view.shape == (64, 64, 3) and view.dtype == np.uint8
    assert result.status == "ok"


def test_crop64_is_the_raw_centre():
    rgb = np.random.default_rng(3).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    views, _ = crop_all_scales(rgb)
    np.testing.assert_array_equal(views["crop64"], rgb[180:244, 180:244])


def test_crop256_is_the_4x4_area_average_of_the_centre():
    rgb = np.random.default_rng(4).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    views, _ = crop_all_scales(rgb)
    expected = rgb[84:340, 84:340].reshape(64, 4, 64, 4, 3).mean(axis=(1, 3))
    assert np.abs(views["crop256"] - expected).max() <= 1.0


def test_normalized_view_frames_the_galaxy():
    views, result = crop_all_scales(disc_image(100))
    assert result.side == pytest.approx(200, rel=0.05)
    # The disc fills the crop: bright in the middle, corners (outside the inscribed circle) dark.
    assert views["normalized"][32, 32].min() > 150
    assert views["normalized"][1, 1].max() < 60


def test_only_requested_views_are_cut():
    views, _ = crop_all_scales(disc_image(50), output_size=32, scales=("crop256",))
    assert list(views) == ["crop256"] and views["crop256"].shape == (32, 32, 3)


def test_centre_crop_rounding():
    assert centre_offsets(SIZE, SIZE, 64) == (180, 180)  # exactly centred on 211.5
    assert centre_offsets(SIZE, SIZE, 121) == (151, 151)  # odd in even: half a pixel up-left
    rgb = np.arange(5 * 5 * 3, dtype=np.uint8).reshape(5, 5, 3)
    np.testing.assert_array_equal(centre_crop(rgb, 3), rgb[1:4, 1:4])
    with pytest.raises(DataError, match="does not fit"):
        centre_crop(rgb, 6)


def test_unknown_scale_is_a_config_error_naming_the_valid_forms():
    assert check_scale("crop64") == "crop64"
    assert check_scale("crop240") == "crop240"
    for bad in ("crop", "crop0", "centre64", "crop64px"):
        with pytest.raises(ConfigError, match=rf"'{bad}'.*'normalized' or a centre crop 'crop<N>'"):
            check_scale(bad)
    with pytest.raises(ConfigError, match="crop0"):
        crop_all_scales(disc_image(50), scales=("crop0",))


def test_any_centre_crop_size_is_a_view():
    image = disc_image(50)
    views, _ = crop_all_scales(image, output_size=120, scales=("crop240",))
    assert views["crop240"].shape == (120, 120, 3)
    expected = resize_square(centre_crop(image, 240), 120)
    np.testing.assert_array_equal(views["crop240"], expected)
