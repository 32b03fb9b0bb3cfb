"""The paired bootstrap that says whether one model's test accuracy beats another's (or the majority
class's): galaxies matched by GalaxyID, resampled within each seed's test set."""
import numpy as np
import pandas as pd
import pytest

from galzoo.errors import DataError
from galzoo.evaluation.significance import (
    correct_answers,
    majority_answers,
    paired_accuracy_difference,
    read_predictions,
)

CLASSES = ("spiral", "edge-on", "in-between smooth")


def predictions(actual, predicted, ids=None) -> pd.DataFrame:
    ids = ids if ids is not None else [f"g{i}" for i in range(len(actual))]
    return pd.DataFrame({"GalaxyID": ids, "actual": actual, "predicted": predicted})


def random_run(n, accuracy, seed, name, ids=None) -> pd.Series:
    """A run that is right on a random ``accuracy`` share of ``n`` galaxies."""
    rng = np.random.default_rng(seed)
    actual = rng.choice(CLASSES, n)
    right = rng.random(n) < accuracy
    predicted = np.where(right, actual, np.where(actual == "spiral", "edge-on", "spiral"))
    return correct_answers(predictions(actual, predicted, ids), name)


def test_identical_models_differ_by_zero_and_not_significantly():
    run = random_run(150, 0.6, seed=1, name="a")
    same = correct_answers(predictions(*_columns(run)), "b")
    result = paired_accuracy_difference({1: run}, {1: same}, n_resamples=1000)
    assert result.difference == 0 and result.low <= 0 <= result.high
    assert not result.significant


def test_a_model_right_exactly_where_the_other_is_wrong_is_significantly_better():
    actual = np.array(["spiral", "edge-on"] * 50)
    wrong_half = np.arange(100) % 4 < 2  # b is wrong on half the galaxies, a is right on exactly those
    a = correct_answers(predictions(actual, np.where(wrong_half, actual, "in-between smooth")), "a")
    b = correct_answers(predictions(actual, np.where(wrong_half, "in-between smooth", actual)), "b")
    result = paired_accuracy_difference({7: a}, {7: b}, n_resamples=2000)
    assert result.difference == pytest.approx(0.0)  # both 50%: the same accuracy, complementary galaxies
    assert not result.significant

    always_right = correct_answers(predictions(actual, actual), "always right")
    result = paired_accuracy_difference({7: always_right}, {7: b}, n_resamples=2000)
    assert result.difference == pytest.approx(0.5) and result.significant and result.low > 0.35
    reverse = paired_accuracy_difference({7: b}, {7: always_right}, n_resamples=2000)
    assert reverse.difference == pytest.approx(-0.5) and reverse.significant and reverse.high < -0.35


def test_galaxies_are_matched_by_id_not_by_row_order():
    ids = [f"g{i}" for i in range(60)]
    a = random_run(60, 0.7, seed=3, name="a", ids=ids)
    shuffled = a.sample(frac=1.0, random_state=0).rename("b")
    result = paired_accuracy_difference({1: a}, {1: shuffled}, n_resamples=500)
    assert result.difference == 0 and result.low == 0 and result.high == 0


def test_several_seeds_are_resampled_within_each_seed_and_averaged():
    # seed 1: a beats b by 20 points; seed 2: no difference. Averaged over seeds: 10 points.
    actual = np.array(["spiral"] * 100)
    right = correct_answers(predictions(actual, actual), "a seed 1")
    b1 = correct_answers(predictions(actual, np.where(np.arange(100) < 20, "edge-on", actual)), "b seed 1")
    a2 = random_run(80, 0.5, seed=5, name="a seed 2", ids=[f"h{i}" for i in range(80)])
    b2 = a2.rename("b seed 2")
    result = paired_accuracy_difference({1: right, 2: a2}, {1: b1, 2: b2}, n_resamples=3000, seed=4)
    assert result.difference == pytest.approx(0.10)
    assert result.seeds == (1, 2) and result.n_galaxies == 180
    # seed 2 adds nothing to the spread; seed 1's bootstrap of a 20% share over 100 galaxies, halved
    spread = 0.5 * np.sqrt(0.2 * 0.8 / 100)
    assert (result.high - result.low) == pytest.approx(2 * 1.96 * spread, rel=0.15)
    assert result.significant


def test_only_the_seeds_both_models_ran_are_paired():
    a = {1: random_run(50, 0.6, 1, "a1"), 2: random_run(50, 0.6, 2, "a2")}
    b = {2: random_run(50, 0.6, 2, "b2"), 3: random_run(50, 0.6, 3, "b3")}
    assert paired_accuracy_difference(a, b, n_resamples=200).seeds == (2,)


def test_the_result_is_reproducible_and_the_resample_count_is_a_parameter():
    a, b = {1: random_run(80, 0.6, 1, "a")}, {1: random_run(80, 0.6, 2, "b", ids=[f"g{i}" for i in range(80)])}
    first = paired_accuracy_difference(a, b, n_resamples=300, seed=9)
    assert first == paired_accuracy_difference(a, b, n_resamples=300, seed=9)
    assert paired_accuracy_difference(a, b, n_resamples=300, seed=10) != first
    assert paired_accuracy_difference(a, b, n_resamples=1).low == paired_accuracy_difference(a, b, n_resamples=1).high


def test_different_test_galaxies_are_an_error_naming_both_runs():
    a = random_run(30, 0.6, 1, "alexnet seed 1 (exp-a)")
    b = random_run(30, 0.6, 1, "vgg16 seed 1 (exp-b)", ids=[f"g{i}" for i in range(1, 31)])
    with pytest.raises(DataError, match=r"seed 1: alexnet seed 1 \(exp-a\) and vgg16 seed 1 \(exp-b\) were not "
                                        r"scored on the same test galaxies \(1 only in alexnet.*g0.*g30"):
        paired_accuracy_difference({1: a}, {1: b})


def test_runs_without_a_common_seed_are_an_error():
    with pytest.raises(DataError, match="a1 and b2 share no seed"):
        paired_accuracy_difference({1: random_run(10, 0.5, 1, "a1")}, {2: random_run(10, 0.5, 2, "b2")})


def test_the_majority_class_is_right_exactly_on_its_own_galaxies():
    frame = predictions(["spiral", "edge-on", "spiral"], ["edge-on", "edge-on", "edge-on"])
    assert majority_answers(frame, "spiral", "majority").tolist() == [True, False, True]
    assert correct_answers(frame, "model").tolist() == [False, True, False]


def test_a_galaxy_listed_twice_is_an_error():
    with pytest.raises(DataError, match="run x: test galaxies g1 appear more than once"):
        correct_answers(predictions(["spiral"] * 3, ["spiral"] * 3, ids=["g0", "g1", "g1"]), "run x")


def test_per_galaxy_predictions_are_read_with_ids_as_text_and_checked():
    frame = read_predictions("GalaxyID,actual,predicted\n00123,spiral,edge-on\n", "exp-a:test_predictions.csv")
    assert frame["GalaxyID"].tolist() == ["00123"]
    with pytest.raises(DataError, match="exp-a:test_predictions.csv: missing column.*GalaxyID"):
        read_predictions("actual,predicted\nspiral,spiral\n", "exp-a:test_predictions.csv")


def _columns(correct: pd.Series):
    """Predictions that give ``correct``: the actual class is always spiral, the predicted one right or not."""
    actual = np.array(["spiral"] * len(correct))
    return actual, np.where(correct.to_numpy(), "spiral", "edge-on"), list(correct.index)
