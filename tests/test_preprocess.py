"""Specification of the crop stage: normalized scale, the three views, the array store and its errors."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile
from skimage.measure import label, regionprops

from galzoo.errors import ConfigError, DataError
from galzoo.preprocess import (
    SCALES,
    build_store,
    centre_crop,
    check_scale,
    crop_all_scales,
    find_normalized_side,
    load_index,
    load_store,
    read_rgb,
)
from galzoo.preprocess.crops import centre_offsets, resize_square
from galzoo.preprocess.scale import (
    FALLBACK_SIDE,
    LABEL_WINDOW,
    MIN_SIDE,
    STATUSES,
    central_region,
    major_axis_length,
    threshold_mask,
)
from galzoo.preprocess.store import INDEX_COLUMNS

SIZE = 424
REAL_IMAGES_CHECKED = 50


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


def skimage_major_axis(rgb: np.ndarray) -> float:
    """The paper's recipe written plainly with scikit-image, for the centred component."""
    intensity = rgb.astype(np.float64).mean(axis=2)
    labels = label(intensity >= intensity.mean() + intensity.std(), connectivity=2)
    centre = labels[SIZE // 2 - 1 : SIZE // 2 + 1, SIZE // 2 - 1 : SIZE // 2 + 1]
    assert centre.all(), "reference needs the central pixels in the galaxy"
    return regionprops((labels == np.bincount(centre.ravel()).argmax()).astype(np.uint8))[0].axis_major_length


def write_image(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(rgb).save(path, quality=95)
    return path


# --- normalized scale -------------------------------------------------------------------------------


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


# --- crops ------------------------------------------------------------------------------------------


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


# --- reading images ---------------------------------------------------------------------------------


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


# --- array store ------------------------------------------------------------------------------------


@pytest.fixture
def good_images(tmp_path) -> list[Path]:
    folder = tmp_path / "images"
    folder.mkdir()
    radii = [12, 30, 55, 80, 110, 140, 3]
    return [write_image(folder / f"{i}.jpg", disc_image(r)) for i, r in enumerate(radii)]


def test_build_store_writes_one_array_per_scale_and_an_index(good_images, tmp_path):
    ids = [f"g{i}" for i in range(len(good_images))]
    index = build_store(good_images, ids, tmp_path / "store", workers=1, progress=False)
    assert list(index.columns) == list(INDEX_COLUMNS)
    assert index["id"].tolist() == ids and index["row"].tolist() == list(range(len(ids)))
    assert index["status"].tolist()[-1] == "too_small"
    for name in SCALES:
        array = load_store(tmp_path / "store", name)
        assert array.shape == (len(ids), 64, 64, 3) and array.dtype == np.uint8
    for row, path in enumerate(good_images):
        views, result = crop_all_scales(read_rgb(path))
        np.testing.assert_array_equal(load_store(tmp_path / "store", "normalized")[row], views["normalized"])
        assert index.loc[row, "normalized_side"] == result.side
    reloaded = load_index(tmp_path / "store")
    assert reloaded["normalized_side"].tolist() == index["normalized_side"].tolist()


def test_build_store_in_parallel_equals_serial(good_images, tmp_path):
    ids = list(range(len(good_images)))
    serial = build_store(good_images, ids, tmp_path / "serial", workers=1, progress=False)
    parallel = build_store(good_images, ids, tmp_path / "parallel", workers=2, progress=False)
    assert serial.equals(parallel)
    for name in SCALES:
        np.testing.assert_array_equal(load_store(tmp_path / "serial", name),
                                      load_store(tmp_path / "parallel", name))


def test_build_store_only_writes_the_requested_scales(good_images, tmp_path):
    ids = list(range(len(good_images)))
    build_store(good_images, ids, tmp_path / "s", scales=("crop64",), output_size=32, workers=1,
                progress=False)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["crop64.npy", "index.csv"]
    assert load_store(tmp_path / "s", "crop64").shape == (len(good_images), 32, 32, 3)


@pytest.mark.parametrize("kind", ["truncated", "not-an-image", "wrong-size", "missing"])
@pytest.mark.parametrize("workers", [1, 2])
def test_build_store_names_a_bad_image_and_publishes_nothing(good_images, bad_images, tmp_path, kind,
                                                             workers):
    path, phrase = bad_images[kind]
    paths = good_images[:2] + [path] + good_images[2:]
    with pytest.raises(DataError, match=phrase) as caught:
        build_store(paths, list(range(len(paths))), tmp_path / "store", workers=workers, progress=False)
    assert str(path) in str(caught.value)
    assert list((tmp_path / "store").iterdir()) == []


def test_build_store_lists_every_bad_image_at_once(good_images, bad_images, tmp_path):
    bad = [path for path, _ in bad_images.values()]
    with pytest.raises(DataError, match=f"{len(bad)} of {len(bad) + 1} images") as caught:
        build_store(good_images[:1] + bad, list(range(len(bad) + 1)), tmp_path / "store", progress=False)
    for path in bad:
        assert str(path) in str(caught.value)


def test_build_store_takes_other_sizes_when_told(tmp_path):
    paths = [write_image(tmp_path / f"{i}.png", disc_image(40, size=300, centre=(149.5, 149.5))) for i in range(2)]
    index = build_store(paths, [0, 1], tmp_path / "store", expected_size=300, workers=1, progress=False)
    assert index["normalized_side"].tolist() == [80, 80]
    small = write_image(tmp_path / "small.png", disc_image(40, size=200, centre=(99.5, 99.5)))
    with pytest.raises(DataError, match=f"{small}: a 256 px centre crop does not fit a 200x200 image"):
        build_store([small], [0], tmp_path / "other", expected_size=None, workers=1, progress=False)


def test_build_store_refuses_bad_arguments(good_images, tmp_path):
    with pytest.raises(DataError, match="no images"):
        build_store([], [], tmp_path / "store", progress=False)
    with pytest.raises(DataError, match="one id per image"):
        build_store(good_images, [1], tmp_path / "store", progress=False)
    with pytest.raises(DataError, match="duplicate image ids"):
        build_store(good_images[:2], [7, 7], tmp_path / "store", progress=False)
    with pytest.raises(ConfigError, match="centre32"):
        build_store(good_images, list(range(len(good_images))), tmp_path / "store", scales=("centre32",))


def test_load_store_explains_what_is_missing_or_inconsistent(good_images, tmp_path):
    store = tmp_path / "store"
    with pytest.raises(DataError, match="crop64.npy.*not found"):
        load_store(store, "crop64")
    build_store(good_images, list(range(len(good_images))), store, workers=1, progress=False)
    with pytest.raises(ConfigError, match="centre99"):
        load_store(store, "centre99")
    with pytest.raises(DataError, match="crop99.npy.*not found"):
        load_store(store, "crop99")
    load_index(store).iloc[:-1].to_csv(store / "index.csv", index=False)
    rows = len(good_images)
    with pytest.raises(DataError, match=f"{rows} rows but .*index.csv has {rows - 1}"):
        load_store(store, "crop64")
    (store / "index.csv").unlink()
    with pytest.raises(DataError, match="index.csv.*not found"):
        load_index(store)


# --- gallery ----------------------------------------------------------------------------------------


def test_gallery_plots_synthetic_images(good_images, tmp_path):
    from galzoo.preprocess.gallery import GALLERY_DPI, PANEL_INCHES, plot_scale_gallery

    out = plot_scale_gallery(good_images, tmp_path / "plots" / "gallery.png", n=3)
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.width == (1 + len(SCALES)) * PANEL_INCHES * GALLERY_DPI  # original + one panel per view
        assert image.height >= 3 * PANEL_INCHES * GALLERY_DPI  # one row per galaxy


def test_the_fast_jpeg_decoder_gives_exactly_pillows_pixels(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "noise.jpg"
    Image.fromarray(rng.integers(0, 255, (424, 424, 3), dtype=np.uint8)).save(path, quality=85)
    with Image.open(path) as reference:
        np.testing.assert_array_equal(read_rgb(path), np.asarray(reference.convert("RGB")))
