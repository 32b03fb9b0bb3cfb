"""Regression scores of the 37 vote fractions."""
import numpy as np
import pytest

from galzoo.evaluation.regression import regression_scores


def test_regression_scores_are_mse_rmse_and_rmse_per_question():
    true = np.zeros((4, 37))
    pred = np.full((4, 37), 0.1)
    scores = regression_scores(pred, true)
    assert scores["mse"] == pytest.approx(0.01)
    assert scores["rmse"] == pytest.approx(0.1)
    assert scores["rmse_q11"] == pytest.approx(0.1)
