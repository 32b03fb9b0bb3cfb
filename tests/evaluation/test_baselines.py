"""The trivial baselines: what a model must beat before its scores mean anything."""
import numpy as np
import pytest

from galzoo.evaluation.baselines import majority_class_baseline, training_mean_baseline

NAMES = ("elliptical", "spiral", "edge_on")


def test_the_majority_class_comes_from_the_training_split_and_is_scored_on_the_test_split():
    train = np.array([1, 1, 1, 0, 2])          # spiral is the training majority
    test = np.array([0, 0, 0, 1])              # ... but rare in this test split
    baseline = majority_class_baseline(train, test, NAMES)
    assert baseline["class"] == "spiral"
    assert baseline["accuracy"] == pytest.approx(0.25)
    # F1 of spiral: precision 1/4, recall 1 -> 0.4; the other classes are never predicted -> 0
    assert baseline["macro_f1"] == pytest.approx(0.4 / 3)


def test_a_tie_for_the_majority_goes_to_the_first_class():
    assert majority_class_baseline(np.array([2, 0]), np.array([0]), NAMES)["class"] == "elliptical"


def test_the_training_mean_baseline_scores_the_mean_vote_vector():
    train = np.array([[0.0, 1.0], [1.0, 0.0]])  # mean [0.5, 0.5]
    test = np.array([[1.0, 0.0]])
    baseline = training_mean_baseline(train, test)
    assert baseline == {"name": "training mean", "mse": pytest.approx(0.25), "rmse": pytest.approx(0.5)}


def test_the_training_mean_baseline_refuses_targets_of_different_widths():
    with pytest.raises(ValueError, match="same outputs"):
        training_mean_baseline(np.zeros((3, 37)), np.zeros((2, 36)))
