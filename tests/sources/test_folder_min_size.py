"""Specification: images of a user's folder too small for a stage after ``download`` fail at ``download``,
naming the file, its size, the minimum and the stage and parameter that need it (read from the headers)."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from galzoo.config import FolderParams, load_params
from galzoo.errors import DataError
from galzoo.sources import fetch_source
from galzoo.sources.folder import SideNeed, check_image_sides, fetch_folder, image_side, stage_side_needs
from tests.conftest import REPO_ROOT
from tests.sources.common import leftovers


def params(**overrides):
    return load_params(REPO_ROOT / "params.yaml",
                       overrides={"data.source": "folder", "data.folder.path": "/any/folder", **overrides})


def write_images(folder: Path, sizes: dict[str, tuple[int, int]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, size in sizes.items():
        Image.new("RGB", size, (30, 60, 90)).save(folder / name)
    return folder


def fetch(folder: Path, out: Path, **overrides) -> Path:
    p = params(**{"data.folder.path": str(folder), **overrides})
    return fetch_folder(p.data.folder, out, side_needs=stage_side_needs(p), progress=False)


def test_the_needs_are_the_scale_study_crop_and_the_task_crop_of_the_current_params():
    needs = {need.stage: need for need in stage_side_needs(params(model="kabani_maxout", task="auto"))}
    assert needs["crop"].side == 256
    assert needs["crop_task"].side == 240 and "cnn_comparison.crop.source_side = 240" in needs["crop_task"].reason
    effnet = {need.stage: need for need in stage_side_needs(params(model="efficientnet_b0"))}
    assert effnet["crop_task"].side == 212 and "efficientnet.crop.source_side" in effnet["crop_task"].reason
    bigger = {n.stage: n.side for n in stage_side_needs(params(**{"cnn_comparison.crop.source_side": 300}))}
    assert bigger == {"crop": 256, "crop_task": 300}


def test_a_200_px_image_fails_at_download_naming_the_stage(tmp_path):
    folder = write_images(tmp_path / "mine", {"1.jpg": (300, 300), "2.png": (200, 200), "3.jpg": (424, 424)})
    with pytest.raises(DataError) as error:
        fetch(folder, tmp_path / "raw")
    message = str(error.value)
    assert f"{folder / '2.png'}: 200x200 px (crop needs 256, crop_task needs 240)" in message
    assert "1 of 3 images have a side under 256 px" in message
    assert "stage crop: at least 256 px" in message and "MIN_IMAGE_SIDE" in message
    assert "stage crop_task: at least 240 px, because cnn_comparison.crop.source_side = 240" in message
    assert "1.jpg" not in message and "3.jpg" not in message
    assert leftovers(tmp_path / "raw") == []  # nothing written: all or nothing


def test_the_task_crop_alone_can_be_the_one_that_fails(tmp_path):
    folder = write_images(tmp_path / "mine", {"1.jpg": (280, 280)})
    needed = r"(?s)280x280 px \(crop_task needs 300\).*cnn_comparison.crop.source_side = 300"
    with pytest.raises(DataError, match=needed):
        fetch(folder, tmp_path / "raw", **{"cnn_comparison.crop.source_side": 300})


def test_the_shorter_side_counts(tmp_path):
    folder = write_images(tmp_path / "mine", {"wide.jpg": (600, 250)})
    with pytest.raises(DataError, match=r"wide.jpg: 600x250 px \(crop needs 256\)"):
        fetch(folder, tmp_path / "raw")


def test_423_and_300_px_images_are_accepted(tmp_path):
    folder = write_images(tmp_path / "mine", {"1.jpg": (423, 423), "2.png": (300, 300), "3.jpeg": (256, 300)})
    out = fetch(folder, tmp_path / "raw")
    assert sorted(p.name for p in (out / "images").iterdir()) == ["1.jpg", "2.png", "3.jpg"]


def test_without_needs_any_size_is_copied_as_before(tmp_path):
    folder = write_images(tmp_path / "mine", {"1.jpg": (8, 8)})
    out = fetch_folder(FolderParams(path=str(folder)), tmp_path / "raw", progress=False)
    assert (out / "images" / "1.jpg").is_file()


def test_only_the_headers_are_read(tmp_path):
    """A JPEG cut short after its header still gives its size: nothing is decoded (the crop stage, which
    decodes, reports truncation)."""
    path = write_images(tmp_path, {"cut.jpg": (300, 200)}) / "cut.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert image_side(path) == (300, 200)


def test_an_unreadable_image_is_named(tmp_path):
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(DataError, match=r"notes.jpg: not a readable image"):
        check_image_sides([tmp_path / "notes.jpg"], [SideNeed(256, "crop", "why")])


def test_many_small_images_are_counted_after_the_first_twenty(tmp_path):
    folder = write_images(tmp_path / "mine", {f"{i}.png": (64, 64) for i in range(25)})
    with pytest.raises(DataError, match=r"(?s)25 of 25 images.*\.\.\. and 5 more"):
        check_image_sides(sorted(folder.iterdir()), [SideNeed(256, "crop", "why")])


def test_the_download_dispatch_hands_the_needs_to_the_folder_source(tmp_path):
    folder = write_images(tmp_path / "mine", {"1.jpg": (200, 200)})
    p = params(**{"data.folder.path": str(folder)})
    with pytest.raises(DataError, match=r"1.jpg: 200x200 px \(crop needs 256, crop_task needs 240\)"):
        fetch_source(p.data, tmp_path / "raw", side_needs=stage_side_needs(p), progress=False)
