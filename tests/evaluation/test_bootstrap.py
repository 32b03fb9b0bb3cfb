"""Paired bootstrap intervals: how sure a difference between two models on the same test galaxies is."""
import numpy as np
import pytest

from galzoo.evaluation.bootstrap import paired_difference_interval


def test_paired_bootstrap_interval_excludes_zero_for_a_consistent_difference_and_covers_it_for_none():
    rng = np.random.default_rng(1)
    base = rng.gamma(2.0, 0.005, size=300)
    mean, low, high = paired_difference_interval(base, base + 0.001 + rng.normal(0, 0.0005, 300))
    assert mean == pytest.approx(-0.001, abs=2e-4) and high < 0
    _, low, high = paired_difference_interval(base, rng.permutation(base))
    assert low < 0 < high
