"""Trivial baselines every score is read against: a model is only learning if it beats them.

Both use the training split alone (as a model would), scored on the same test galaxies as the model.
"""
from __future__ import annotations

import numpy as np

from galzoo.evaluation.classification import classification_scores


def majority_class_baseline(train_labels: np.ndarray, test_labels: np.ndarray,
                            class_names: tuple[str, ...]) -> dict:
    """Scores of always predicting the training split's most frequent class (ties: the first class)."""
    counts = np.bincount(np.asarray(train_labels, np.int64), minlength=len(class_names))
    majority = int(counts.argmax())
    always = np.zeros((len(test_labels), len(class_names)))
    always[:, majority] = 1.0
    scores = classification_scores(test_labels, always, class_names)
    return {"name": "majority class", "class": class_names[majority], "accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"]}


def training_mean_baseline(train_targets: np.ndarray, test_targets: np.ndarray) -> dict:
    """Scores of predicting every test galaxy's vote fractions as the training split's mean vector."""
    train_targets, test_targets = np.asarray(train_targets, np.float64), np.asarray(test_targets, np.float64)
    if train_targets.ndim != 2 or test_targets.ndim != 2 or train_targets.shape[1] != test_targets.shape[1]:
        raise ValueError(f"expected two N x outputs target arrays with the same outputs, got shapes "
                         f"{train_targets.shape} and {test_targets.shape}")
    mse = float(((test_targets - train_targets.mean(axis=0)) ** 2).mean())
    return {"name": "training mean", "mse": mse, "rmse": float(np.sqrt(mse))}
