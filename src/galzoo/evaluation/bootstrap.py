"""Bootstrap confidence intervals over test galaxies: how sure is a difference between two models?"""
from __future__ import annotations

import numpy as np

N_RESAMPLES = 5000


def paired_difference_interval(a: np.ndarray, b: np.ndarray, *, level: float = 0.95,
                               n_resamples: int = N_RESAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``a - b`` and its percentile-bootstrap interval, resampling galaxies (pairs) with replacement.

    Pairing matters: both models saw the same test galaxies, so per-galaxy differences cancel the
    galaxy-to-galaxy spread that would swamp two independent intervals.
    """
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if diff.ndim != 1 or diff.size == 0:
        raise ValueError(f"expected two equal-length 1-D arrays of per-galaxy scores, got shape {diff.shape}")
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(n_resamples, diff.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(diff.mean()), float(low), float(high)
