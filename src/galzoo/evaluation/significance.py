"""Is one classifier's test accuracy really higher than another's, or than the majority class's? A paired
bootstrap over the test galaxies both were scored on.

Pairing is what makes small differences readable: both answers on a galaxy are resampled together, so the
galaxy-to-galaxy spread in difficulty cancels. Runs with the same seed share their split (the CNN
comparison's split is drawn from the seed), so two models are paired seed by seed; with several seeds each
seed's test set is resampled on its own (stratified by seed) and the per-seed differences are averaged.
The interval is over test galaxies only: it does not include training-seed variation beyond the seeds run.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from galzoo.errors import DataError
from galzoo.evaluation.bootstrap import N_RESAMPLES

PREDICTION_COLUMNS = ("GalaxyID", "actual", "predicted")
"""The per-galaxy test predictions a classification run writes (class names, one row per test galaxy)."""
LEVEL = 0.95
_CHUNK = 500  # resamples drawn at once: bounds memory on a paper-sized test set (2,879 galaxies)


def read_predictions(text: str, source: str) -> pd.DataFrame:
    """A run's per-galaxy test predictions from CSV text; ``source`` names the file in errors."""
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{source}: not a CSV of per-galaxy predictions ({exc})")
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}; expected {', '.join(PREDICTION_COLUMNS)}")
    return frame[list(PREDICTION_COLUMNS)]


def correct_answers(predictions: pd.DataFrame, run: str) -> pd.Series:
    """True where the run's predicted class is the actual one, indexed by GalaxyID and named ``run`` (errors
    about pairing name it)."""
    return _by_galaxy(predictions["actual"].to_numpy() == predictions["predicted"].to_numpy(), predictions, run)


def majority_answers(predictions: pd.DataFrame, majority_class: str, run: str) -> pd.Series:
    """Where always answering ``majority_class`` is right, on the galaxies of ``predictions``."""
    return _by_galaxy(predictions["actual"].to_numpy() == majority_class, predictions, run)


def _by_galaxy(correct: np.ndarray, predictions: pd.DataFrame, run: str) -> pd.Series:
    ids = predictions["GalaxyID"].astype(str)
    repeated = ids[ids.duplicated()].unique()
    if len(repeated):
        raise DataError(f"{run}: test galaxies {', '.join(repeated[:5])} appear more than once in its per-galaxy "
                        "predictions; each test galaxy must be one row")
    return pd.Series(correct.astype(bool), index=pd.Index(ids, name="GalaxyID"), name=run)


@dataclass(frozen=True)
class AccuracyDifference:
    """Accuracy of ``a`` minus that of ``b`` (a fraction), averaged over ``seeds``, with its interval."""

    difference: float
    low: float
    high: float
    seeds: tuple[int, ...]
    n_galaxies: int
    """test galaxies per seed, summed over the seeds"""

    @property
    def significant(self) -> bool:
        """The interval excludes 0: the difference is not test-set luck."""
        return self.low > 0 or self.high < 0


def paired_accuracy_difference(a: dict[int, pd.Series], b: dict[int, pd.Series], *,
                               n_resamples: int = N_RESAMPLES, level: float = LEVEL,
                               seed: int = 0) -> AccuracyDifference:
    """Paired bootstrap of accuracy(a) - accuracy(b) over the seeds both were run with.

    ``a`` and ``b`` map a seed to that run's per-galaxy correctness (:func:`correct_answers`). Within each
    seed the galaxies are matched by GalaxyID and resampled with replacement; the difference of each resample
    is the mean over seeds of the per-seed differences. The interval is the percentile interval at ``level``.
    """
    seeds = tuple(sorted(set(a) & set(b)))
    if not seeds:
        raise DataError(f"{_names(a)} and {_names(b)} share no seed, so no test galaxies to pair them on")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    observed, resampled, n_galaxies = [], np.zeros(n_resamples), 0
    for s in seeds:
        diff = _paired(a[s], b[s], s)
        observed.append(diff.mean())
        n_galaxies += diff.size
        for start in range(0, n_resamples, _CHUNK):
            rows = min(_CHUNK, n_resamples - start)
            resampled[start:start + rows] += diff[rng.integers(0, diff.size, size=(rows, diff.size))].mean(axis=1)
    resampled /= len(seeds)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(resampled, [tail, 100 - tail])
    return AccuracyDifference(float(np.mean(observed)), float(low), float(high), seeds, n_galaxies)


def _paired(x: pd.Series, y: pd.Series, seed: int) -> np.ndarray:
    """Per-galaxy ``x - y`` (1, 0 or -1), ``y`` put in ``x``'s galaxy order; different galaxies are an error."""
    only_x, only_y = x.index.difference(y.index), y.index.difference(x.index)
    if len(only_x) or len(only_y):
        raise DataError(
            f"seed {seed}: {x.name} and {y.name} were not scored on the same test galaxies ({len(only_x)} only in "
            f"{x.name}, e.g. {', '.join(only_x[:3]) or '-'}; {len(only_y)} only in {y.name}, e.g. "
            f"{', '.join(only_y[:3]) or '-'}): re-run evaluate_model for both on the same split")
    if x.empty:
        raise DataError(f"seed {seed}: {x.name} and {y.name} have no test galaxies")
    return x.to_numpy(np.float64) - y.reindex(x.index).to_numpy(np.float64)


def _names(runs: dict[int, pd.Series]) -> str:
    return " / ".join(str(series.name) for series in runs.values()) or "a model without runs"
