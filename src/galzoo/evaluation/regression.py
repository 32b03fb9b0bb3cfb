"""Predictions and regression scores for the 37-answer task (MSE, RMSE, RMSE per question)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from galzoo import tree
from galzoo.training.runtime import autocast


def enable_dropout_only(model: nn.Module) -> None:
    """Eval mode everywhere except dropout: the paper's non-deterministic score keeps dropout on, while
    batch-norm statistics (where a model has them) stay frozen, so test batches never leak into the model."""
    model.eval()
    for module in model.modules():
        if isinstance(module, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)):
            module.train()


@torch.no_grad()
def predict(model: nn.Module, dataset: Dataset, *, batch_size: int, device: torch.device,
            amp_dtype: torch.dtype | None = None, stochastic: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs and targets over ``dataset`` in its order, as float64 arrays.

    ``stochastic=False`` is the deterministic score (eval mode); ``True`` keeps dropout on (pair it with an
    augmenting dataset for the paper's non-deterministic score).
    """
    was_training = model.training
    if stochastic:
        enable_dropout_only(model)
    else:
        model.eval()
    outputs, targets = [], []
    for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        with autocast(device, amp_dtype):
            out = model(x.to(device))
        outputs.append(out.float().cpu().numpy())
        targets.append(y.numpy())
    model.train(was_training)
    return np.concatenate(outputs).astype(np.float64), np.concatenate(targets).astype(np.float64)


def regression_scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """MSE and RMSE over all 37 outputs (the Kaggle metric) and the RMSE of each question's answers."""
    err = (np.asarray(pred) - np.asarray(true)) ** 2
    scores = {"mse": float(err.mean()), "rmse": float(np.sqrt(err.mean()))}
    for q in tree.QUESTIONS:
        scores[f"rmse_q{q.number}"] = float(np.sqrt(err[:, tree.question_slice(q)].mean()))
    return scores
