"""Specification of the array store: one array per scale and an index, built serially or in parallel, and
its errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from galzoo.errors import ConfigError, DataError
from galzoo.preprocess import SCALES, build_store, crop_all_scales, load_index, load_store, read_rgb
from galzoo.preprocess.store import INDEX_COLUMNS
from tests.preprocess.common import disc_image, write_image


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
