"""Predictions and regression scores for the 37-answer task (MSE, RMSE, RMSE per question)."""
from __future__ import annotations

import numpy as np

from galzoo import tree
from galzoo.training.inference import enable_dropout_only  # noqa: F401 (the scale study's tests use it here)
from galzoo.training.inference import predict_dataset as predict  # noqa: F401 (evaluations and tests use it here)


def regression_scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """MSE and RMSE over all 37 outputs (the Kaggle metric) and the RMSE of each question's answers."""
    err = (np.asarray(pred) - np.asarray(true)) ** 2
    scores = {"mse": float(err.mean()), "rmse": float(np.sqrt(err.mean()))}
    for q in tree.QUESTIONS:
        scores[f"rmse_q{q.number}"] = float(np.sqrt(err[:, tree.question_slice(q)].mean()))
    return scores
