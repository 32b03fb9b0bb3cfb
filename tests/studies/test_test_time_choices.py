"""`cnn_comparison.test_rotations_flips` and `cnn_comparison.prior_power`: how the evaluate stage reads a
trained classifier's probabilities. Off (the paper's rule) they change nothing; on, each view is the mean
over the 8 rotations and flips of the square, and the averaged probabilities are divided by the training
class shares to a power before the argmax, in the scores, the saved predictions and the figures alike."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from galzoo.config import load_params
from galzoo.errors import ConfigError
from galzoo.evaluation.classification import predict_views, prior_adjusted
from galzoo.studies import Run, StageFiles, get_study, resolve
from galzoo.studies.cnn_comparison import evaluate_classifier, training_prior
from galzoo.training.inference import d4_transforms
from tests.conftest import REPO_ROOT, run_study
from tests.studies.test_imbalance_remedies import COUNTS, imbalanced_folder  # noqa: F401 (a fixture)
from tests.training.distributed_worker import TINY_CLASSIFIER


def test_a_power_of_zero_keeps_the_probabilities_and_one_balances_a_prior_shaped_output():
    prior = np.array([0.7, 0.2, 0.1])
    probabilities = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]])
    assert prior_adjusted(probabilities, prior, 0.0) is probabilities
    balanced = prior_adjusted(probabilities, prior, 1.0)
    np.testing.assert_allclose(balanced[0], [1 / 3] * 3)  # an output that only repeats the prior says nothing
    np.testing.assert_allclose(balanced.sum(axis=1), 1.0)
    assert probabilities[1].argmax() == 0 and balanced[1].argmax() == 2  # 0.2 / 0.1 beats 0.5 / 0.7


def test_the_shift_works_on_every_view_at_once_and_grows_with_the_power():
    prior = np.array([0.8, 0.2])
    per_view = np.array([[[0.7, 0.3], [0.9, 0.1]]])  # 1 galaxy x 2 views x 2 classes
    shifted = prior_adjusted(per_view, prior, 0.5)
    assert shifted.shape == per_view.shape
    np.testing.assert_allclose(shifted.sum(axis=-1), 1.0)
    minority = [prior_adjusted(per_view, prior, t)[0, 0, 1] for t in (0.0, 0.25, 0.5, 1.0)]
    assert minority == sorted(minority) and minority[0] == 0.3


def test_a_class_without_training_galaxies_cannot_be_divided_by():
    names = ("elliptical", "merger", "spiral")
    with pytest.raises(ConfigError, match=r"cnn_comparison.prior_power.*\['merger'\]"):
        training_prior(np.array([0, 0, 2]), names, 0.5)
    np.testing.assert_allclose(training_prior(np.array([0, 0, 2]), names, 0.0), [2 / 3, 0, 1 / 3])


@pytest.mark.parametrize("power", [-0.1, 1.5])
def test_prior_power_outside_zero_to_one_is_a_config_error_naming_the_key(power):
    with pytest.raises(ConfigError, match=r"cnn_comparison.prior_power"):
        load_params(REPO_ROOT / "params.yaml", overrides={"cnn_comparison.prior_power": power})


class Corner(nn.Module):
    """Not symmetric at all: the class scores are the mean of the top-left and of the bottom-right quarter."""

    def forward(self, x):
        half = x.shape[-1] // 2
        return torch.stack([x[..., :half, :half].mean(dim=(1, 2, 3)), x[..., half:, half:].mean(dim=(1, 2, 3))], 1)


def test_rotations_and_flips_average_each_view_over_its_eight_symmetries():
    views = torch.rand(3, 2, 1, 4, 4)
    plain = predict_views(Corner(), views, batch_size=4, device=torch.device("cpu"))
    averaged = predict_views(Corner(), views, batch_size=4, device=torch.device("cpu"), rotations_flips=True)
    by_hand = np.mean([predict_views(Corner(), t, batch_size=4, device=torch.device("cpu"))
                       for t in d4_transforms(views)], axis=0)
    assert averaged.shape == plain.shape == (3, 2, 2)
    np.testing.assert_allclose(averaged, by_hand, atol=1e-6)
    assert not np.allclose(averaged, plain)


@pytest.fixture(scope="module")
def trained(imbalanced_folder, tmp_path_factory):  # noqa: F811 (the fixture imported above)
    """One tiny classifier trained on the imbalanced folder, then evaluated with each choice below."""
    from galzoo.models import registry
    from tests.training.distributed_worker import tiny_classifier

    registry._REGISTRY[TINY_CLASSIFIER] = registry.ModelEntry(TINY_CLASSIFIER, tiny_classifier, "a tiny test network")
    raw, user = imbalanced_folder
    root = tmp_path_factory.mktemp("trained")
    overrides = {"model": TINY_CLASSIFIER, "task": "classes", "data.source": "folder", "data.folder.path": str(user),
                 "crop.workers": 1, "runtime.threads": 1, "cnn_comparison.split.test_fraction": 0.25,
                 "cnn_comparison.split.val_fraction": 0.25,
                 "cnn_comparison.budgets": {"embedded": {"iterations": 3, "batch_size": 4, "lr": 0.01,
                                                         "eval_every": 3, "lr_drop_iterations": [2]}}}
    counts, metrics, _ = run_study(load_params(REPO_ROOT / "params.yaml", overrides=overrides), raw, root)
    yield raw, root, overrides, metrics, counts
    registry._REGISTRY.pop(TINY_CLASSIFIER, None)


def evaluate_with(trained, tmp_path, **choices):
    raw, root, overrides, *_ = trained
    params = resolve(load_params(REPO_ROOT / "params.yaml", overrides={
        **overrides, **{f"cnn_comparison.{key}": value for key, value in choices.items()}}))
    files = StageFiles(raw=raw, store=root / "store", split=root / "split.csv", model=root / "model.pt",
                       metrics=tmp_path / "test.json", predictions=tmp_path / "pred.npz",
                       confusion=tmp_path / "confusion.csv")
    metrics = evaluate_classifier(params, **files.kwargs("raw", "store", "split", "model", "metrics",
                                                         "predictions", "confusion"))
    with np.load(tmp_path / "pred.npz") as saved:
        return metrics, dict(saved), pd.read_csv(tmp_path / "confusion.csv")


def test_the_defaults_score_as_the_paper_and_say_so(trained, tmp_path):
    metrics, saved, _ = evaluate_with(trained, tmp_path)
    assert metrics["test_rotations_flips"] is False and metrics["prior_power"] == 0.0
    assert metrics["accuracy"] == trained[3]["accuracy"]
    np.testing.assert_allclose(saved["decided"], saved["probabilities"].mean(axis=1))


def test_the_shifted_rule_is_what_the_scores_the_predictions_and_the_confusion_file_use(trained, tmp_path):
    metrics, saved, confusion = evaluate_with(trained, tmp_path, test_rotations_flips=True, prior_power=1.0)
    assert metrics["test_rotations_flips"] is True and metrics["prior_power"] == 1.0
    train_counts = np.array([trained[4]["classes"][name]["train"] for name in sorted(COUNTS)])
    prior = train_counts / train_counts.sum()
    expected = prior_adjusted(saved["probabilities"].mean(axis=1), prior, 1.0)
    np.testing.assert_allclose(saved["decided"], expected)
    names = saved["class_names"]
    assert list(confusion["predicted"]) == list(names[expected.argmax(axis=1)])
    assert metrics["accuracy"] == pytest.approx(float((expected.argmax(axis=1) == saved["labels"]).mean()))
    assert json.loads((tmp_path / "test.json").read_text())["prior_power"] == 1.0


def test_runs_with_other_test_time_choices_are_their_own_rows_in_the_report():
    study = get_study("cnn_comparison")

    def run(section):
        return Run(rev="a" * 40, name="a", metrics={}, params={"cnn_comparison": section})

    assert study.variant(run({})) == study.variant(run({"test_rotations_flips": False, "prior_power": 0})) == ""
    assert study.variant(run({"test_rotations_flips": True})) == "test rotations and flips"
    assert study.variant(run({"imbalance": "sqrt_weighted_loss", "prior_power": 0.3})
                         ) == "sqrt weighted loss, prior^0.3"
