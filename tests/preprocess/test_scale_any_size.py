"""Specification: the scale study crops images of any size of at least 256 px. Each is first resampled to the
424 px Kaggle frame (``preprocess.scale.to_kaggle_frame``), so its three views keep the share of the field
they have in the paper; a 424 px image is never resampled, and keeps exactly the crops it always had."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galzoo.config import load_params
from galzoo.errors import DataError
from galzoo.preprocess import SCALES, crop_all_scales, load_index, load_store, read_rgb
from galzoo.preprocess.scale import KAGGLE_FRAME, MIN_IMAGE_SIDE, to_kaggle_frame
from galzoo.sources.folder import fetch_folder, stage_side_needs
from galzoo.studies import StageFiles, get_study
from tests.conftest import REPO_ROOT, SHARED_DATA
from tests.preprocess.common import ellipse_mask, sky_image, write_image

GZ1 = SHARED_DATA / "gz1_sample"


def galaxy(size: int, seed: int = 0, a: float = 70, b: float = 35) -> np.ndarray:
    """The same tilted ellipse on the same share of the field, at ``size`` px (Galaxy Zoo scales the cutout
    to the galaxy, so a smaller cutout shows the same galaxy in fewer pixels)."""
    k = size / KAGGLE_FRAME
    centre = (size / 2 - 0.5, size / 2 - 0.5)
    return sky_image(ellipse_mask(a * k, b * k, 30, centre=centre, size=size), seed=seed)


def user_folder(root: Path, sizes: list[int]) -> Path:
    """A user's folder of JPEGs (``<i>.jpg``, one galaxy each, the i-th of ``sizes`` px) with a class per image."""
    (root / "images").mkdir(parents=True)
    for i, size in enumerate(sizes):
        write_image(root / "images" / f"{100 + i}.jpg", galaxy(size, seed=i, a=40 + 10 * i, b=25))
    pd.DataFrame({"GalaxyID": [100 + i for i in range(len(sizes))], "class": "elliptical"}).to_csv(
        root / "labels.csv", index=False)
    return root


def crop_folder(folder: Path, out: Path, **overrides):
    """download (the folder source, checking sizes as the stage does) and the scale study's crop stage."""
    params = load_params(REPO_ROOT / "params.yaml", overrides={
        "data.source": "folder", "data.folder.path": str(folder), "crop.workers": 1, **overrides})
    raw = fetch_folder(params.data.folder, out / "raw", side_needs=stage_side_needs(params), progress=False)
    get_study("scale_study").build_store(params, StageFiles(raw=raw, store=out / "crops"))
    return raw, out / "crops"


def test_a_kaggle_sized_image_is_not_resampled():
    rgb = galaxy(KAGGLE_FRAME)
    assert to_kaggle_frame(rgb) is rgb


@pytest.mark.parametrize("shape", [(256, 256), (300, 300), (423, 423), (425, 425), (600, 600), (300, 400),
                                   (500, 424)])
def test_every_other_size_becomes_the_kaggle_frame(shape):
    rgb = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    framed = to_kaggle_frame(rgb)
    assert framed.shape == (KAGGLE_FRAME, KAGGLE_FRAME, 3) and framed.dtype == np.uint8


def test_a_rectangular_image_keeps_its_centred_square():
    rgb = np.zeros((300, 400, 3), np.uint8)
    rgb[:, 50:350] = galaxy(300)
    rgb[:, :50], rgb[:, 350:] = 255, 255  # the excess of the longer side: must not reach the frame
    np.testing.assert_array_equal(to_kaggle_frame(rgb), to_kaggle_frame(galaxy(300)))


@pytest.mark.parametrize("size", [256, 300, 423, 600, 848])
def test_each_view_keeps_its_share_of_the_field(size):
    """The same galaxy at another cutout size gives the views of its 424 px cutout (up to resampling), where
    64 and 256 px crops of the image itself would show another part of the field."""
    reference, reference_scale = crop_all_scales(galaxy(KAGGLE_FRAME))
    views, scale = crop_all_scales(to_kaggle_frame(galaxy(size)))
    assert scale.status == "ok" and abs(scale.side - reference_scale.side) <= 2
    for name in SCALES:
        assert np.abs(views[name].astype(int) - reference[name]).mean() < 4, name


def test_an_image_under_256_px_is_refused_naming_the_crop_stage():
    with pytest.raises(DataError, match=r"200x200 pixels.*crop stage needs at least 256x256"):
        to_kaggle_frame(galaxy(200))
    with pytest.raises(DataError, match=r"424x255 pixels"):
        to_kaggle_frame(np.zeros((255, 424, 3), np.uint8))
    assert MIN_IMAGE_SIDE == 256


def test_a_folder_of_300_px_images_runs_through_the_scale_study_crop(tmp_path):
    raw, store = crop_folder(user_folder(tmp_path / "mine", [300, 300, 300]), tmp_path)
    index = load_index(store)
    assert index["status"].tolist() == ["ok"] * 3
    for name in SCALES:
        assert load_store(store, name).shape == (3, 64, 64, 3)
    for row, galaxy_id in enumerate(index["id"]):
        expected, scale = crop_all_scales(to_kaggle_frame(read_rgb(raw / "images" / f"{galaxy_id}.jpg", None)))
        assert index.loc[row, "normalized_side"] == scale.side
        for name in SCALES:
            np.testing.assert_array_equal(load_store(store, name)[row], expected[name])


def test_mixed_sizes_from_256_to_600_px_are_accepted_423_among_them(tmp_path):
    _, store = crop_folder(user_folder(tmp_path / "mine", [256, 423, 424, 600]), tmp_path)
    assert load_index(store)["status"].tolist() == ["ok"] * 4


def test_424_px_images_keep_the_crops_they_always_had(tmp_path):
    """The crop stage's store of Kaggle-sized images equals crops of the images as read, untouched."""
    raw, store = crop_folder(user_folder(tmp_path / "mine", [424, 424, 424]), tmp_path)
    for row, path in enumerate(sorted((raw / "images").iterdir())):
        expected, _ = crop_all_scales(read_rgb(path))
        for name in SCALES:
            np.testing.assert_array_equal(load_store(store, name)[row], expected[name])


def test_real_kaggle_images_keep_the_crops_they_always_had(real_sample, tmp_path):
    folder = tmp_path / "kaggle"
    (folder / "images").mkdir(parents=True)
    paths = sorted(real_sample.glob("*.jpg"))[:6]
    for path in paths:
        shutil.copy(path, folder / "images" / path.name)
    pd.DataFrame({"GalaxyID": [p.stem for p in paths], "class": "any"}).to_csv(folder / "labels.csv", index=False)
    _, store = crop_folder(folder, tmp_path)
    for row, path in enumerate(paths):
        expected, _ = crop_all_scales(read_rgb(path))
        for name in SCALES:
            np.testing.assert_array_equal(load_store(store, name)[row], expected[name])


@pytest.mark.skipif(not (GZ1 / "labels.csv").is_file(), reason=f"{GZ1} is absent (not part of galzoo)")
def test_real_423_px_galaxy_zoo_1_images_run_through_the_scale_study_crop(tmp_path):
    labels = pd.read_csv(GZ1 / "labels.csv", dtype={"GalaxyID": str}).head(6)
    folder = tmp_path / "gz1"
    (folder / "images").mkdir(parents=True)
    for galaxy_id in labels["GalaxyID"]:
        shutil.copy(GZ1 / "images" / f"{galaxy_id}.jpeg", folder / "images" / f"{galaxy_id}.jpeg")
    labels.to_csv(folder / "labels.csv", index=False)
    raw, store = crop_folder(folder, tmp_path)
    index = load_index(store)
    assert len(index) == 6 and set(index["status"]) <= {"ok", "clipped", "no_region", "too_small"}
    assert read_rgb(raw / "images" / f"{labels['GalaxyID'][0]}.jpg", None).shape == (423, 423, 3)
    for name in SCALES:
        array = load_store(store, name)
        assert array.shape == (6, 64, 64, 3) and array.std() > 0
