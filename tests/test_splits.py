"""Splits are fixed by the seed, and a dataset too small to split is a clear error."""
import pytest

from galzoo.errors import DataError
from galzoo.splits import make_split


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
