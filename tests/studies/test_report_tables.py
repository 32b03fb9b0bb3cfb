"""The report cells every study shares: a score's trivial baseline beside it (n/a for runs scored before
baselines existed), the interval-above-baseline mark, and the paired comparison of classifiers."""
import pandas as pd

from galzoo.studies import Run, get_study
from galzoo.studies.tables import (
    baseline_cell,
    lower_bound_above_baseline_cell,
    majority_class_cell,
    significance_lines,
)


def classifier(seed, accuracy, low, baseline_accuracy=None, predictions=None, majority="spiral"):
    metrics = {"model": "m", "task": "gz2_5class", "seed": seed, "budget": "embedded", "accuracy": accuracy,
               "ci95": {"accuracy": {"low": low, "high": accuracy + 0.1}}}
    if baseline_accuracy is not None:
        metrics["baseline"] = {"name": "majority class", "class": majority, "accuracy": baseline_accuracy,
                               "macro_f1": baseline_accuracy / 2}
    return Run(rev=str(seed) * 40, name=f"e{seed}", metrics=metrics, predictions=predictions)


def test_the_baseline_is_averaged_over_the_seeds_that_recorded_it_and_n_a_without_any():
    runs = [classifier(1, 0.6, 0.5, 0.30), classifier(2, 0.6, 0.5, 0.40), classifier(3, 0.6, 0.5)]
    assert baseline_cell(runs, "accuracy", 2, scale=100) == "35.00"
    assert baseline_cell(runs, "macro_f1", 3) == "0.175"
    assert baseline_cell([classifier(3, 0.6, 0.5)], "accuracy", 2) == "n/a"
    assert majority_class_cell(runs) == "spiral" and majority_class_cell([classifier(3, 0.6, 0.5)]) == "n/a"


def test_a_model_is_above_its_baseline_only_where_its_interval_starts_above_it():
    assert lower_bound_above_baseline_cell([classifier(1, 0.6, 0.45, 0.40)]) == "yes (1/1 seeds)"
    assert lower_bound_above_baseline_cell([classifier(1, 0.6, 0.45, 0.40),
                                            classifier(2, 0.5, 0.35, 0.40)]) == "partly (1/2 seeds)"
    assert lower_bound_above_baseline_cell([classifier(1, 0.5, 0.40, 0.40)]) == "no (0/1 seeds)"
    assert lower_bound_above_baseline_cell([classifier(1, 0.6, 0.45)]) == "n/a"


def test_models_without_a_seed_in_common_are_listed_but_not_compared():
    frame = pd.DataFrame({"GalaxyID": ["1", "2"], "actual": ["spiral", "edge-on"], "predicted": ["spiral"] * 2})
    lines = significance_lines([("a", [classifier(1, 0.5, 0.4, 0.5, frame)]),
                                ("b", [classifier(2, 0.5, 0.4, 0.5, frame)])], n_resamples=50)
    assert "| a | b | none in common | — | — | not compared |" in lines
    assert "| a | majority class | 1 | +0.00 | [+0.00, +0.00] | not significant |" in lines


def test_a_model_with_predictions_but_no_baseline_says_so():
    frame = pd.DataFrame({"GalaxyID": ["1"], "actual": ["spiral"], "predicted": ["spiral"]})
    lines = significance_lines([("a", [classifier(1, 1.0, 0.9, None, frame)])], n_resamples=50)
    assert "| a | majority class | — | n/a | n/a | no baseline in its metrics |" in lines


def test_without_any_per_galaxy_predictions_there_is_only_the_list_of_runs_to_re_evaluate():
    lines = significance_lines([("a", [classifier(1, 0.6, 0.5, 0.4)]), ("b", [classifier(1, 0.5, 0.4, 0.4)])])
    assert lines == ["Not compared, no per-galaxy predictions (re-run evaluate_model): a seed 1 (e1), b seed 1 (e1).",
                     ""]


def test_each_studys_log_line_names_its_baseline_when_the_metrics_have_one():
    metrics = {"model": "alexnet", "task": "gz2_5class", "accuracy": 0.6, "macro_f1": 0.5, "auc": 0.8, "n_test": 10,
               "ci95": {"accuracy": {"low": 0.5, "high": 0.7}}}
    assert "majority" not in get_study("cnn_comparison").summary(metrics)
    metrics["baseline"] = {"name": "majority class", "class": "spiral", "accuracy": 0.31, "macro_f1": 0.09}
    assert "(majority class 'spiral': accuracy 0.3100, macro F1 0.0900)" in get_study("cnn_comparison").summary(metrics)
    votes = {"model": "efficientnet_b0", "task": "votes37", "rmse": 0.12, "val_rmse": 0.11, "n_test": 5, "n_val": 5,
             "paper": {}, "baseline": {"name": "training mean", "rmse": 0.2, "mse": 0.04}}
    assert "training-mean test RMSE 0.20000" in get_study("efficientnet").summary(votes)


def test_a_saved_perseus_run_tells_its_selection_from_its_saved_counts():
    perseus = get_study("perseus")
    with_additions = {"selection": [{"step": "balanced random sample"}, {"step": "spectroscopic additions"}]}
    assert perseus.saved_run_params(with_additions) == {"perseus": {"selection": {"spec_additions": True}}}
    assert perseus.saved_run_params({"selection": [{"step": "balanced random sample"}]}) == {
        "perseus": {"selection": {"spec_additions": False}}}
    assert get_study("cnn_comparison").saved_run_params(with_additions) == {}
