"""The raw layout: images paired with label rows, and every mismatch named by its GalaxyID."""
import pandas as pd
import pytest

from galzoo.dataset import open_raw_dataset
from galzoo.errors import DataError


def test_raw_dataset_pairs_images_with_label_rows(raw_dataset):
    data = open_raw_dataset(raw_dataset)
    assert [p.stem for p in data.image_paths] == [str(i) for i in data.ids]


def test_a_label_row_without_image_is_named(raw_dataset):
    (raw_dataset / "images" / "100003.jpg").unlink()
    with pytest.raises(DataError, match="1 GalaxyID.*have no image.*100003"):
        open_raw_dataset(raw_dataset)


def test_an_image_without_labels_row_is_named(raw_dataset):
    labels = pd.read_csv(raw_dataset / "labels.csv")
    labels[labels["GalaxyID"] != 100004].to_csv(raw_dataset / "labels.csv", index=False)
    with pytest.raises(DataError, match="missing ids: 1 image.*no labels row: 100004"):
        open_raw_dataset(raw_dataset)


def test_missing_image_folder_says_to_run_download(tmp_path):
    with pytest.raises(DataError, match="image folder not found"):
        open_raw_dataset(tmp_path)
