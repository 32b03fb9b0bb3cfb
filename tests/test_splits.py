"""Splits are fixed by the seed, and a dataset too small to split is a clear error."""
import numpy as np
import pandas as pd
import pytest

from galzoo.errors import DataError
from galzoo.splits import make_split, make_stratified_split


def test_split_is_90_10_then_validation_from_train_and_fixed_by_the_seed():
    ids = list(range(1000))
    split = make_split(ids, test_fraction=0.1, val_fraction=0.1, seed=7)
    assert split["subset"].value_counts().to_dict() == {"train": 810, "test": 100, "val": 90}
    assert split.equals(make_split(ids, test_fraction=0.1, val_fraction=0.1, seed=7))
    assert not split.equals(make_split(ids, test_fraction=0.1, val_fraction=0.1, seed=8))


def test_split_of_an_empty_or_tiny_dataset_is_a_clear_error():
    with pytest.raises(DataError, match="empty dataset"):
        make_split([], test_fraction=0.1, val_fraction=0.1, seed=0)
    with pytest.raises(DataError, match="every part needs at least one image"):
        make_split([1, 2], test_fraction=0.1, val_fraction=0.1, seed=0)


@pytest.mark.parametrize("name", [None, "GalaxyID"])
def test_a_stratified_split_has_the_columns_id_and_subset_whatever_the_ids_are_called(name):
    """pandas 3.0 names the reordered index after the ids passed in; the split file must say `id` all the same
    (found on a GPU machine whose pandas was 3.0: the classifier's train stage refused its own split)."""
    ids = pd.Series(range(100, 140), name=name)
    classes = np.repeat(["a", "b"], 20)
    split = make_stratified_split(ids, classes, test_fraction=0.2, val_fraction=0.2, seed=0)
    assert list(split.columns) == ["id", "subset"]
    assert split["id"].tolist() == ids.tolist()
