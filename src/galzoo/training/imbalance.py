"""Remedies for a training split whose classes differ much in size (a user's folder of 70% ellipticals).

The papers used none of them, so they are switches that are off by default (``<study>.imbalance``):

- ``weighted_loss``: cross-entropy with class weights ``w_c = N / (K * n_c)``, where ``n_c`` is the number of
  training galaxies of class c, ``N`` their total and ``K`` the number of classes present in the training split.
  The mean weight over the training galaxies is then 1 (``sum_c n_c * w_c / N = 1``), so the loss keeps the
  plain cross-entropy's scale and the recipe's lr keeps its meaning. A batch's loss is
  ``(1 / B) * sum_i w_{y_i} * CE_i``: divided by the batch size B, not by the batch's summed weights as
  ``nn.CrossEntropyLoss(weight=...)`` does, so that with several processes the average of their losses is
  exactly the one process's loss of the whole batch.
- ``sqrt_weighted_loss``: the same loss with the square roots of those weights, scaled again to a mean of 1
  over the training galaxies. A milder pull: with ``weighted_loss`` a class of 26 galaxies among 2,714 weighs
  21 times the average and drags the whole network towards itself; here it weighs about 6.
- ``balanced_sampling``: every pass draws as many galaxies as the split holds, with replacement, galaxy i with
  probability ``1 / (K * n_{y_i})``: each class is equally likely in expectation. The draws come from the
  same seeded generator as the shuffled order (``device_data``), so every process draws the same global
  batches and takes its share of each.

``none`` (the papers) trains with the plain ``nn.CrossEntropyLoss`` and the shuffled passes, as before.
"""
from __future__ import annotations

from typing import get_args

import numpy as np
import torch
from torch import nn

from galzoo.config.cnn_comparison import Imbalance


def class_counts_of(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """How many of ``labels`` (integer classes in ``[0, num_classes)``) fall in each class."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    return np.bincount(labels, minlength=num_classes)


def class_weights(labels: np.ndarray, num_classes: int, power: float = 1.0) -> torch.Tensor:
    """``w_c = N / (K * n_c)`` for each class (module docstring), raised to ``power`` and scaled so that the
    mean weight over ``labels`` stays 1; a class absent from ``labels`` gets 0, as no training galaxy can carry
    its weight."""
    counts = class_counts_of(labels, num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    if power != 1.0:  # at power 1 the mean is already 1
        weights[present] **= power
        weights *= counts.sum() / (counts * weights).sum()
    return torch.as_tensor(weights, dtype=torch.float32)


def balanced_draw_weights(labels: np.ndarray) -> torch.Tensor:
    """Each galaxy's probability of being drawn, ``1 / (K * n_{y_i})``: the classes present are equally likely."""
    labels = np.asarray(labels)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return torch.as_tensor(1.0 / (len(counts) * counts[inverse]), dtype=torch.float64)


class WeightedCrossEntropy(nn.Module):
    """Cross-entropy with one weight per class, averaged over the batch: ``(1 / B) * sum_i w_{y_i} * CE_i``."""

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        per_sample = nn.functional.cross_entropy(logits, targets, reduction="none")
        return (self.weights[targets] * per_sample).mean()


def imbalance_remedy(remedy: str, labels: np.ndarray, num_classes: int, *,
                     device: torch.device) -> tuple[nn.Module, torch.Tensor | None]:
    """The training loss (on ``device``) and the per-sample draw weights (None = shuffled passes) that
    ``remedy`` asks for, given the training split's ``labels``."""
    if remedy == "none":
        return nn.CrossEntropyLoss(), None
    if remedy == "weighted_loss":
        return WeightedCrossEntropy(class_weights(labels, num_classes)).to(device), None
    if remedy == "sqrt_weighted_loss":
        return WeightedCrossEntropy(class_weights(labels, num_classes, power=0.5)).to(device), None
    if remedy == "balanced_sampling":
        return nn.CrossEntropyLoss(), balanced_draw_weights(labels)
    raise ValueError(f"imbalance remedy {remedy!r}: expected one of {', '.join(get_args(Imbalance))}")
