"""Specification of the normalized scale: the major axis of the central component, its statuses and fallbacks."""
from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.measure import label, regionprops

from galzoo.errors import DataError
from galzoo.preprocess import find_normalized_side, read_rgb
from galzoo.preprocess.scale import (
    FALLBACK_SIDE,
    LABEL_WINDOW,
    MIN_SIDE,
    STATUSES,
    central_region,
    major_axis_length,
    threshold_mask,
)
from tests.preprocess.common import SIZE, disc_image, ellipse_mask, sky_image

REAL_IMAGES_CHECKED = 50


def skimage_major_axis(rgb: np.ndarray) -> float:
    """The paper's recipe written plainly with scikit-image, for the centred component."""
    intensity = rgb.astype(np.float64).mean(axis=2)
    labels = label(intensity >= intensity.mean() + intensity.std(), connectivity=2)
    centre = labels[SIZE // 2 - 1 : SIZE // 2 + 1, SIZE // 2 - 1 : SIZE // 2 + 1]
    assert centre.all(), "reference needs the central pixels in the galaxy"
    return regionprops((labels == np.bincount(centre.ravel()).argmax()).astype(np.uint8))[0].axis_major_length


@pytest.mark.parametrize("radius", [10, 40, 100, 150])
def test_disc_of_radius_r_gives_normalized_side_2r(radius):
    result = find_normalized_side(disc_image(radius))
    assert result.status == "ok"
    assert result.side == pytest.approx(2 * radius, rel=0.05)


def test_disc_larger_than_the_first_labelling_window_is_measured_whole():
    radius = LABEL_WINDOW / 2 + 20
    assert find_normalized_side(disc_image(radius)).side == pytest.approx(2 * radius, rel=0.05)


@pytest.mark.parametrize("angle", [0, 30, 90, 135])
def test_ellipse_gives_its_major_axis(angle):
    result = find_normalized_side(sky_image(ellipse_mask(80, 30, angle)))
    assert result.status == "ok"
    assert result.side == pytest.approx(160, rel=0.05)


def test_side_is_the_rounded_major_axis():
    result = find_normalized_side(disc_image(33))
    assert result.side == math.floor(result.major_axis + 0.5)


@pytest.mark.parametrize(
    "mask",
    [
        ellipse_mask(50, 20, 10),
        ellipse_mask(120, 60, 75),
        ellipse_mask(30, 30) | ellipse_mask(10, 60, centre=(150, 211)),
        ellipse_mask(3, 3),
        np.eye(SIZE, dtype=bool),
    ],
    ids=["ellipse", "big-ellipse", "disc-with-arm", "dot", "diagonal-line"],
)
def test_major_axis_equals_skimage_regionprops(mask):
    expected = regionprops(mask.astype(np.uint8))[0].axis_major_length
    assert major_axis_length(mask) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "rgb",
    [
        sky_image(ellipse_mask(70, 25, 20)),
        sky_image(ellipse_mask(60, 60) | ellipse_mask(15, 40, centre=(260, 330))),
    ],
    ids=["ellipse", "galaxy-with-neighbour"],
)
def test_normalized_side_equals_the_plain_skimage_recipe_on_synthetic_images(rgb):
    assert find_normalized_side(rgb).major_axis == pytest.approx(skimage_major_axis(rgb), rel=0.01)


def test_normalized_side_equals_the_plain_skimage_recipe_on_real_images(real_sample):
    paths = sorted(real_sample.glob("*.jpg"))[:REAL_IMAGES_CHECKED]
    for path in paths:
        rgb = read_rgb(path)
        assert find_normalized_side(rgb).major_axis == pytest.approx(skimage_major_axis(rgb), rel=0.01), path


def test_threshold_is_mean_plus_std_of_the_rgb_mean():
    rgb = np.random.default_rng(1).integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    intensity = rgb.astype(np.float64).mean(axis=2)
    np.testing.assert_array_equal(threshold_mask(rgb), intensity >= intensity.mean() + intensity.std())


def test_a_pixel_exactly_on_the_threshold_is_foreground():
    rgb = np.zeros((10, 10, 3), dtype=np.uint8)
    rgb[:5] = 2  # intensities 0 and 2 in equal parts: mean 1, std 1, threshold exactly 2
    np.testing.assert_array_equal(threshold_mask(rgb)[:, 0], [True] * 5 + [False] * 5)


def test_saturated_image_with_a_few_dark_pixels_has_no_region():
    rgb = np.full((SIZE, SIZE, 3), 255, dtype=np.uint8)
    rgb[::50, ::50] = 0  # mean + std lies above 255: nothing is foreground
    assert find_normalized_side(rgb).status == "no_region"


def test_ring_whose_centre_is_dark_is_still_found():
    rgb = sky_image(ellipse_mask(60, 60) & ~ellipse_mask(5, 5))
    result = find_normalized_side(rgb)
    assert result.status == "ok"
    assert result.side == pytest.approx(2 * math.hypot(60, 5), rel=0.05)


def test_object_just_off_centre_is_taken_but_a_distant_one_is_not():
    near = find_normalized_side(disc_image(20, centre=(SIZE / 2 + 25, SIZE / 2)))
    assert (near.status, near.side) == ("ok", pytest.approx(40, rel=0.05))
    far = find_normalized_side(disc_image(20, centre=(SIZE / 2 + 100, SIZE / 2)))
    assert (far.status, far.side) == ("no_region", FALLBACK_SIDE)


def test_central_region_is_the_component_at_the_centre():
    mask = ellipse_mask(40, 40) | ellipse_mask(30, 30, centre=(60, 60))
    np.testing.assert_array_equal(central_region(mask), ellipse_mask(40, 40))


def test_equally_near_components_the_largest_wins():
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[211, 150:207] = True  # nearest pixel (211, 206): 5.5**2 + 0.5**2 from the centre (211.5, 211.5)
    mask[100:207, 211] = True  # nearest pixel (206, 211): the same distance, and twice as long
    region = central_region(mask)
    assert region[100:207, 211].all() and np.count_nonzero(region) == 107


@pytest.mark.parametrize("value", [0, 128, 255], ids=["black", "grey", "saturated"])
def test_blank_image_has_no_region_and_falls_back(value):
    result = find_normalized_side(np.full((SIZE, SIZE, 3), value, dtype=np.uint8))
    assert (result.status, result.side) == ("no_region", FALLBACK_SIDE)
    assert math.isnan(result.major_axis)


def test_pure_noise_never_raises():
    rgb = np.random.default_rng(2).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    result = find_normalized_side(rgb)
    assert result.status in STATUSES
    assert 1 <= result.side <= SIZE


def test_object_wider_than_the_image_is_clipped_to_the_image():
    result = find_normalized_side(sky_image(ellipse_mask(400, 60)))
    assert (result.status, result.side) == ("clipped", SIZE)
    assert result.major_axis > SIZE


def test_tiny_dot_is_too_small_and_falls_back():
    result = find_normalized_side(disc_image(3))
    assert (result.status, result.side) == ("too_small", FALLBACK_SIDE)
    assert result.major_axis < MIN_SIDE


def test_fallback_never_exceeds_a_small_image():
    result = find_normalized_side(np.zeros((200, 200, 3), dtype=np.uint8))
    assert (result.status, result.side) == ("no_region", 200)


def test_non_rgb_array_is_refused():
    with pytest.raises(DataError, match="H x W x 3 uint8"):
        find_normalized_side(np.zeros((SIZE, SIZE), dtype=np.uint8))
