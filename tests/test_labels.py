"""labels.csv: every bad input gets an error naming the file, the row or the column."""
import pandas as pd
import pytest

from galzoo.errors import DataError
from galzoo.labels import read_labels
from tests.conftest import labels_frame


def write(frame: pd.DataFrame, tmp_path):
    path = tmp_path / "labels.csv"
    frame.to_csv(path, index=False)
    return path


def test_valid_labels_are_read_indexed_by_galaxy_id(tmp_path):
    labels = read_labels(write(labels_frame(5), tmp_path))
    assert list(labels.index) == [100000, 100001, 100002, 100003, 100004]
    assert labels.shape == (5, 37)


def test_missing_labels_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match="labels.csv: labels file not found"):
        read_labels(tmp_path / "labels.csv")


def test_missing_columns_are_named(tmp_path):
    path = write(labels_frame(3).drop(columns=["Class7.2", "Class11.6"]), tmp_path)
    with pytest.raises(DataError, match="missing column.*Class7.2, Class11.6"):
        read_labels(path)


def test_an_empty_dataset_is_rejected(tmp_path):
    with pytest.raises(DataError, match="no rows"):
        read_labels(write(labels_frame(3).iloc[:0], tmp_path))


def test_a_vote_outside_the_unit_interval_names_the_galaxy_and_column(tmp_path):
    frame = labels_frame(4)
    frame.loc[2, "Class1.1"] = 1.5
    with pytest.raises(DataError, match=r"GalaxyID 100002: Class1.1 = 1.5 is outside \[0, 1\]"):
        read_labels(write(frame, tmp_path))


def test_a_row_that_breaks_the_tree_names_the_galaxy_and_question(tmp_path):
    frame = labels_frame(4)
    frame.loc[1, "Class10.1"] += 0.2
    with pytest.raises(DataError, match="GalaxyID 100001: the answers of question 10 sum to .* Class4.1"):
        read_labels(write(frame, tmp_path))


def test_non_numeric_cell_is_named(tmp_path):
    frame = labels_frame(3).astype({"Class3.1": object})
    frame.loc[0, "Class3.1"] = "n/a"
    with pytest.raises(DataError, match="GalaxyID 100000: column Class3.1 is empty or not a number"):
        read_labels(write(frame, tmp_path))


def test_duplicate_ids_are_named(tmp_path):
    frame = labels_frame(3)
    frame.loc[2, "GalaxyID"] = 100000
    with pytest.raises(DataError, match="duplicate GalaxyID.*100000"):
        read_labels(write(frame, tmp_path))
