"""Specification of the folder source: a user's own images (+ optional labels) into the raw layout."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galzoo.config import DataParams, FolderParams, SyntheticParams
from galzoo.dataset import open_raw_dataset
from galzoo.errors import ConfigError, DataError
from galzoo.sources import fetch_source
from galzoo.sources.folder import fetch_folder
from tests.conftest import labels_frame

IDS = ["100001", "100002", "100003"]


def write_images(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (8, 8), (40 * i, 90, 150)).save(folder / name)


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Content and permissions of every file: the source must leave the user's folder exactly as it was."""
    return {str(p.relative_to(folder)): (hashlib.md5(p.read_bytes()).hexdigest(), p.stat().st_mode)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def user_folder(tmp_path) -> Path:
    folder = tmp_path / "my galaxies"
    write_images(folder, ["100001.jpg", "100002.JPEG", "100003.png"])
    (folder / "notes.txt").write_text("not an image: ignored")
    return folder


def fetch(folder: Path, out: Path, **options) -> Path:
    return fetch_folder(FolderParams(path=str(folder), **options), out, progress=False)


def test_kaggle_format_labels_are_validated_and_written_with_the_images(user_folder, tmp_path):
    labels = labels_frame(3, first_id=100001)
    labels.to_csv(user_folder / "labels.csv", index=False)
    before = snapshot(user_folder)
    data = DataParams(source="folder", synthetic=SyntheticParams(n_images=10, seed=1),
                      folder=FolderParams(path=str(user_folder)))
    out = fetch_source(data, tmp_path / "raw" / "folder", progress=False)
    dataset = open_raw_dataset(out)
    assert [str(i) for i in dataset.ids] == IDS
    assert sorted(p.name for p in (out / "images").iterdir()) == ["100001.jpg", "100002.jpg", "100003.png"]
    np.testing.assert_allclose(dataset.labels.to_numpy(), labels.iloc[:, 1:].to_numpy())
    assert not (out / "classes.csv").exists()
    assert snapshot(user_folder) == before


def test_a_class_column_becomes_classes_csv_and_no_labels_csv(user_folder, tmp_path):
    pd.DataFrame({"GalaxyID": IDS, "class": ["spiral", "elliptical", "spiral"]}).to_csv(
        user_folder / "labels.csv", index=False)
    out = fetch(user_folder, tmp_path / "raw")
    classes = pd.read_csv(out / "classes.csv", dtype=str)
    assert classes.to_dict("list") == {"GalaxyID": IDS, "class": ["spiral", "elliptical", "spiral"]}
    assert not (out / "labels.csv").exists()
    assert json.loads((out / "source.json").read_text())["classes"] == {"elliptical": 1, "spiral": 2}
    assert len(list((out / "images").iterdir())) == 3


def test_without_labels_only_the_images_are_written(user_folder, tmp_path):
    out = fetch(user_folder, tmp_path / "raw")
    assert sorted(p.name for p in out.iterdir()) == ["images", "source.json"]
    assert len(list((out / "images").iterdir())) == 3


def test_mismatched_ids_are_an_error_listing_both_sides_and_leave_no_output(user_folder, tmp_path):
    pd.DataFrame({"GalaxyID": ["100001", "100002", "999999"], "class": "spiral"}).to_csv(
        user_folder / "labels.csv", index=False)
    with pytest.raises(DataError) as error:
        fetch(user_folder, tmp_path / "raw")
    message = str(error.value)
    assert "1 label row(s) have no image" in message and "999999" in message
    assert "1 image(s)" in message and "100003" in message
    assert not (tmp_path / "raw").exists()


def test_labels_that_break_the_decision_tree_are_refused(user_folder, tmp_path):
    labels = labels_frame(3, first_id=100001)
    labels.loc[1, "Class1.1"] += 0.2
    labels.to_csv(user_folder / "labels.csv", index=False)
    with pytest.raises(DataError, match="GalaxyID 100002: the answers of question .* the tree requires"):
        fetch(user_folder, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_a_labels_file_in_neither_format_is_an_error_naming_the_expected_columns(user_folder, tmp_path):
    pd.DataFrame({"GalaxyID": IDS, "type": "spiral"}).to_csv(user_folder / "labels.csv", index=False)
    with pytest.raises(DataError, match="expected GalaxyID \\+ the 37 columns.*GalaxyID,class"):
        fetch(user_folder, tmp_path / "raw")


def test_two_images_with_the_same_name_are_an_error(user_folder, tmp_path):
    write_images(user_folder, ["100001.png"])
    with pytest.raises(DataError, match="two images for GalaxyID 100001"):
        fetch(user_folder, tmp_path / "raw")


def test_ids_that_would_change_when_read_back_are_an_error(tmp_path):
    folder = tmp_path / "zeros"
    write_images(folder, ["007.jpg", "008.jpg"])
    pd.DataFrame({"GalaxyID": ["007", "008"], "class": ["a", "b"]}).to_csv(folder / "labels.csv", index=False)
    with pytest.raises(DataError, match="'007' -> '7'"):
        fetch(folder, tmp_path / "raw")


def test_hard_links_share_the_users_files_instead_of_copying(user_folder, tmp_path):
    out = fetch(user_folder, tmp_path / "raw", hardlink=True)
    assert (out / "images" / "100001.jpg").stat().st_ino == (user_folder / "100001.jpg").stat().st_ino
    copied = fetch(user_folder, tmp_path / "raw_copy")
    assert (copied / "images" / "100001.jpg").stat().st_ino != (user_folder / "100001.jpg").stat().st_ino


def test_a_folder_in_the_raw_layout_is_read_from_its_images_subfolder(tmp_path):
    folder = tmp_path / "earlier"
    write_images(folder / "images", ["5.jpg", "6.jpg"])
    out = fetch(folder, tmp_path / "raw")
    assert sorted(p.name for p in (out / "images").iterdir()) == ["5.jpg", "6.jpg"]


def test_a_missing_folder_is_an_error_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="data.folder.path: .*nowhere is not a folder"):
        fetch(tmp_path / "nowhere", tmp_path / "raw")
