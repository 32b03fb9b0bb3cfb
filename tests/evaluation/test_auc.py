"""The one-vs-rest AUC from ranks is scikit-learn's ROC AUC, ties included, for two classes and for five."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from galzoo.evaluation.classification import ovr_auc


@pytest.mark.parametrize("seed", range(5))
def test_five_classes_match_scikit_learn_with_tied_scores(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, 150)
    dyadic = np.array([0.5, 0.25, 0.125, 0.0625, 0.0625])  # sums to 1 exactly
    tied = np.stack([rng.permutation(dyadic) for _ in range(100)])  # few distinct scores: many ties
    probabilities = np.concatenate([tied, rng.dirichlet(np.ones(5), 50)])
    expected = roc_auc_score(labels, probabilities, multi_class="ovr", average="macro", labels=list(range(5)))
    assert ovr_auc(labels, probabilities) == pytest.approx(expected, abs=1e-12)


def test_two_classes_are_the_one_curve_of_class_one():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 80)
    p1 = rng.random(80).round(1)
    probabilities = np.stack([1 - p1, p1], axis=1)
    assert ovr_auc(labels, probabilities) == pytest.approx(roc_auc_score(labels, p1), abs=1e-12)


def test_a_perfect_ranking_is_one_and_a_reversed_one_is_zero():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    assert ovr_auc(labels, probabilities) == 1.0
    assert ovr_auc(1 - labels, probabilities) == 0.0


def test_a_class_missing_from_the_labels_has_no_auc():
    assert np.isnan(ovr_auc(np.array([0, 1, 1]), np.full((3, 3), 1 / 3)))


def test_average_ranks_are_scipy_s_rankdata():
    from scipy.stats import rankdata

    from galzoo.evaluation.classification import average_ranks

    values = np.random.default_rng(3).integers(0, 6, 40).astype(float)
    assert np.array_equal(average_ranks(values), rankdata(values))
