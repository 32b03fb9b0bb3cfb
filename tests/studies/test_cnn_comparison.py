"""The CNN comparison (Dai & Tong 2018): multi-scale views, stratified splits, classification scores,
test-time behaviour of batch-norm, the training loop by iterations, and the comparison table."""
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from galzoo.report import TEST_METRICS, render_comparison, runs_from_exp_show
from galzoo.studies.cnn_comparison import summarise
from galzoo.config import load_params
from galzoo.errors import DataError, GalzooError
from galzoo.evaluation.classification import bootstrap_intervals, classification_scores, predict_views
from galzoo.splits import make_stratified_split
from galzoo.training.loop import fit_iterations, iteration_lr_factor, sgd_step
from galzoo.training.multiscale import AugmentedCrops, MultiScaleCrops, colour_jitter, multiscale_test_views, whiten
from tests.conftest import REPO_ROOT, stored_galaxy

PARAMS = load_params(REPO_ROOT / "params.yaml")
AUGMENT = PARAMS.cnn_comparison.augment


def crops(**changes) -> MultiScaleCrops:
    return MultiScaleCrops(dataclasses.replace(AUGMENT, **changes), source_side=240, store_size=120)


# --- multi-scale views ------------------------------------------------------------------------------------

def test_every_training_sample_draws_its_own_transform():
    """The authors' graph drew one crop size and rotation per run; here each read of each sample differs."""
    images = np.stack([stored_galaxy()] * 16)  # sixteen copies of one galaxy
    dataset = AugmentedCrops(images, np.arange(16), np.zeros(16, np.int64), crops())
    torch.manual_seed(0)
    batch, _ = next(iter(DataLoader(dataset, batch_size=16)))
    distinct = {tuple(np.round(view.numpy().ravel()[::97], 4)) for view in batch}
    assert len(distinct) == 16
    again, _ = dataset[0]
    assert not torch.equal(again, batch[0])


def test_training_views_are_reproducible_from_the_seed():
    dataset = AugmentedCrops(stored_galaxy()[None], np.array([0]), np.array([0]), crops())
    torch.manual_seed(7)
    first = dataset[0][0]
    torch.manual_seed(7)
    assert torch.equal(first, dataset[0][0])


def test_training_views_are_whitened_64px_crops():
    view = crops().train_view(stored_galaxy(), np.random.default_rng(1))
    assert view.shape == (64, 64, 3) and view.dtype == np.float32
    assert abs(view.mean()) < 1e-4 and view.std() == pytest.approx(1, abs=1e-3)


def test_a_training_view_without_randomness_is_the_test_view_of_the_same_side():
    fixed = crops(train_sides=[200, 200], resize=64, input_size=64, rotate90=False, hflip_p=0.0, brightness=0.0,
                  contrast=[1.0, 1.0], saturation=[1.0, 1.0], hue=0.0)
    train = fixed.train_view(stored_galaxy(), np.random.default_rng(3))
    np.testing.assert_allclose(train, fixed.test_view(stored_galaxy(), 200), atol=1e-5)


def test_test_views_stack_one_view_per_side_and_differ_between_sides():
    images = np.stack([stored_galaxy(0), stored_galaxy(1)])
    views = multiscale_test_views(images, np.array([1, 0]), crops(), [180, 200, 220, 240])
    assert views.shape == (2, 4, 3, 64, 64)
    assert not torch.equal(views[0, 0], views[0, 3])
    np.testing.assert_allclose(views[1, 2].numpy().transpose(1, 2, 0), crops().test_view(images[0], 220))


def test_colour_jitter_with_no_range_changes_nothing():
    image = stored_galaxy().astype(np.float32) / 255
    still = dataclasses.replace(AUGMENT, brightness=0.0, contrast=[1.0, 1.0], saturation=[1.0, 1.0], hue=0.0)
    np.testing.assert_allclose(colour_jitter(image, still, np.random.default_rng(0)), image, atol=1e-6)
    assert not np.allclose(colour_jitter(image, AUGMENT, np.random.default_rng(0)), image, atol=1e-3)


def test_whitening_a_flat_image_does_not_blow_it_up():
    assert np.all(whiten(np.full((8, 8, 3), 0.5)) == 0)


# --- stratified split -------------------------------------------------------------------------------------

def test_stratified_split_keeps_class_proportions_in_every_subset():
    classes = np.repeat([0, 1, 2, 3, 4], [400, 300, 30, 100, 170])
    ids = [f"g{i}" for i in range(len(classes))]
    split = make_stratified_split(ids, classes, test_fraction=0.1, val_fraction=0.1, seed=1)
    assert list(split["id"]) == ids
    table = pd.crosstab(classes, split["subset"])
    np.testing.assert_array_equal(table["test"], [40, 30, 3, 10, 17])
    np.testing.assert_array_equal(table["val"], [36, 27, 3, 9, 15])


def test_stratified_split_is_fixed_by_the_seed_and_differs_between_seeds():
    classes = np.repeat([0, 1], [50, 50])
    ids = np.arange(100)
    a = make_stratified_split(ids, classes, test_fraction=0.2, val_fraction=0.1, seed=1)
    b = make_stratified_split(ids, classes, test_fraction=0.2, val_fraction=0.1, seed=1)
    c = make_stratified_split(ids, classes, test_fraction=0.2, val_fraction=0.1, seed=2)
    assert a.equals(b) and not a.equals(c)


def test_a_class_too_small_to_split_is_named():
    with pytest.raises(DataError, match="class 1 \\(2 images\\)"):
        make_stratified_split(np.arange(22), np.repeat([0, 1], [20, 2]), test_fraction=0.1, val_fraction=0.1,
                              seed=0)


# --- scores -----------------------------------------------------------------------------------------------

def test_scores_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 300)
    probabilities = rng.dirichlet(np.ones(5), 300)
    probabilities[np.arange(150), labels[:150]] += 1  # half of them right
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    names = tuple("abcde")
    scores = classification_scores(labels, probabilities, names)
    predicted = probabilities.argmax(1)
    assert scores["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(labels, predicted, average=average, zero_division=0)
        assert (scores[f"{average}_precision"], scores[f"{average}_recall"], scores[f"{average}_f1"]) == \
            pytest.approx((p, r, f))
    assert scores["auc"] == pytest.approx(roc_auc_score(labels, probabilities, multi_class="ovr"))
    p, r, f, support = precision_recall_fscore_support(labels, predicted, zero_division=0)
    assert scores["per_class"]["c"] == pytest.approx({"precision": p[2], "recall": r[2], "f1": f[2],
                                                      "support": support[2]})
    assert np.array(scores["confusion_matrix"]).sum(axis=1).tolist() == support.tolist()


def test_bootstrap_intervals_hold_the_score_and_narrow_with_more_galaxies():
    rng = np.random.default_rng(1)

    def intervals(n):
        labels = rng.integers(0, 3, n)
        probabilities = np.full((n, 3), 0.1)
        probabilities[np.arange(n), np.where(rng.random(n) < 0.8, labels, (labels + 1) % 3)] = 0.8
        scores = classification_scores(labels, probabilities, ("a", "b", "c"))
        return scores, bootstrap_intervals(labels, probabilities, n_resamples=300)

    small_scores, small = intervals(100)
    _, large = intervals(2000)
    for key, (low, high) in small.items():
        assert low <= small_scores[key] <= high
    width = {key: high - low for key, (low, high) in small.items()}
    assert all(large[key][1] - large[key][0] < width[key] for key in width)


def test_test_predictions_use_batch_norm_running_statistics_and_restore_the_mode():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(5))
    model(torch.randn(4, 3, 8, 8))  # materialise, then train mode as during training
    views = torch.randn(6, 2, 3, 8, 8)
    together = predict_views(model, views, batch_size=12, device=torch.device("cpu"))
    one_by_one = predict_views(model, views, batch_size=1, device=torch.device("cpu"))
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)  # no sample sees the others
    assert together.shape == (6, 2, 5) and np.allclose(together.sum(axis=2), 1)
    assert model.training


# --- training by iterations -------------------------------------------------------------------------------

def test_fit_iterations_learns_a_separable_problem_and_logs_validation():
    torch.manual_seed(0)
    x = torch.randn(256, 2)
    y = (x[:, 0] > 0).long()
    model = nn.Linear(2, 2)
    recipe = dataclasses.replace(PARAMS.cnn_comparison.recipe, batch_size=32, lr=0.5, iterations=40,
                                 lr_drop_iterations=[30], eval_every=10)
    logged = []

    def validate(m):
        with torch.no_grad():
            accuracy = float((m(x).argmax(1) == y).float().mean())
        logged.append(accuracy)
        return {"accuracy": accuracy}

    last = fit_iterations(model, TensorDataset(x, y), recipe, loss_fn=nn.CrossEntropyLoss(), validate=validate,
                          device=torch.device("cpu"), amp_dtype=None, seed=0, progress=False)
    assert len(logged) == 4 and last["accuracy"] > 0.95


def test_the_lr_warms_up_linearly_then_drops_after_each_boundary():
    recipe = dataclasses.replace(PARAMS.cnn_comparison.recipe, warmup_iterations=4, lr_drop_iterations=[6, 8],
                                 lr_drop_factor=0.1)
    factors = [iteration_lr_factor(recipe, step) for step in range(1, 11)]
    assert factors == pytest.approx([0.25, 0.5, 0.75, 1, 1, 1, 0.1, 0.1, 0.01, 0.01])


def test_the_paper_recipe_has_no_warm_up_and_no_clipping():
    recipe = PARAMS.cnn_comparison.recipe
    assert (recipe.warmup_iterations, recipe.clip_grad_norm) == (0, 0)
    assert iteration_lr_factor(recipe, 1) == 1 and iteration_lr_factor(recipe, 30001) == pytest.approx(0.1)


def test_fit_iterations_trains_each_step_at_the_scheduled_lr():
    recipe = dataclasses.replace(PARAMS.cnn_comparison.recipe, batch_size=8, lr=0.2, iterations=6, warmup_iterations=3,
                                 lr_drop_iterations=[5], eval_every=1)

    class Live:  # records what fit_iterations logs, as DVCLive would
        step, logged = 0, []

        def log_metric(self, name, value):
            if name == "lr":
                self.logged.append(value)

        def next_step(self):
            pass

    live = Live()
    fit_iterations(nn.Linear(2, 2), TensorDataset(torch.randn(16, 2), torch.zeros(16, dtype=torch.long)), recipe,
                   loss_fn=nn.CrossEntropyLoss(), validate=lambda m: {}, device=torch.device("cpu"),
                   amp_dtype=None, seed=0, progress=False, live=live)
    assert live.logged == pytest.approx([0.2 / 3, 0.4 / 3, 0.2, 0.2, 0.2, 0.02])


def test_gradient_clipping_bounds_the_update():
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    x, y = torch.randn(8, 4) * 1000, torch.zeros(8, dtype=torch.long)
    sgd_step(model, optimizer, nn.CrossEntropyLoss(), x, y, device=torch.device("cpu"), amp_dtype=None,
             where="", fix="", clip_grad_norm=0.5)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert (after - before).norm() == pytest.approx(0.5, rel=1e-4)  # the raw gradient is far larger


# --- the comparison table ---------------------------------------------------------------------------------

def run_node(rev, model, seed, accuracy, name=None, params=None):
    metrics = {"model": model, "task": "gz2_5class", "seed": seed, "budget": "embedded", "n_test": 147,
               "accuracy": accuracy, "macro_precision": accuracy - 0.1, "macro_recall": accuracy - 0.2,
               "macro_f1": accuracy - 0.15, "auc": 0.9,
               "ci95": {k: {"low": 0.1, "high": 0.99} for k in
                        ("accuracy", "macro_precision", "macro_recall", "macro_f1", "auc")}}
    data = {"metrics": {TEST_METRICS: {"data": metrics}}}
    if params is not None:
        data["params"] = {"params.yaml": {"data": params}}
    return {"rev": rev, "name": name, "error": None, "data": data}


def exp_show(*experiments):
    baseline = run_node("a" * 40, "dai_resnet26", 2016, 0.55, name="main")
    baseline["experiments"] = [{"executor": None, "name": n["name"], "revs": [n]} for n in experiments]
    return [{"rev": "workspace", "name": None, "error": None, "data": {}, "experiments": None}, baseline]


def test_the_table_groups_runs_by_model_with_mean_std_and_max_beside_the_paper():
    shown = exp_show(run_node("b" * 40, "alexnet", 1, 0.50, "e1"), run_node("c" * 40, "alexnet", 2, 0.60, "e2"),
                     run_node("d" * 40, "dai_resnet26", 2016, 0.55, "same-as-baseline"))
    runs = runs_from_exp_show(json.loads(json.dumps(shown)))
    assert len(runs) == 3  # the experiment repeating the baseline's configuration is the same run
    rows = {r["model"]: r for r in summarise(runs)}
    assert rows["alexnet"]["seeds"] == [1, 2]
    assert rows["alexnet"]["accuracy"]["mean"] == pytest.approx(0.55)
    assert rows["alexnet"]["accuracy"]["std"] == pytest.approx(np.std([0.5, 0.6], ddof=1))
    assert rows["alexnet"]["accuracy"]["max"] == pytest.approx(0.60) and rows["alexnet"]["best_rev"] == "e2"
    table = render_comparison(runs)
    assert "| alexnet | 1, 2 | n/a | 55.00 ± 7.07 | 60.00 [10.0, 99.0] | 91.82 | 92.26 |" in table
    assert "| dai_resnet26 | 2016 | n/a | 55.00 ± 0.00 | 55.00 [10.0, 99.0] | 94.69 | 95.21 |" in table


def test_models_the_paper_did_not_run_have_no_paper_columns():
    runs = runs_from_exp_show(exp_show(run_node("b" * 40, "kabani_maxout", 1, 0.5, "k")))
    assert "| kabani_maxout | 1 | n/a | 50.00 ± 0.00 | 50.00 [10.0, 99.0] | — | — |" in render_comparison(runs)


def test_each_network_shows_the_iterations_its_budget_gave_it():
    """Under per-network budgets the rows of one table trained different amounts: the table says how much."""
    recorded = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    budget = recorded["cnn_comparison"]["budgets"]["embedded"]
    budget["iterations"], budget["batch_size"] = 700, 32
    budget["models"] = {"alexnet": {"iterations": 150, "lr_drop_iterations": [100]}}
    runs = runs_from_exp_show(exp_show(run_node("b" * 40, "alexnet", 1, 0.5, "a1", params=recorded),
                                       run_node("c" * 40, "kabani_maxout", 1, 0.6, "k1", params=recorded)))
    table = render_comparison(runs)
    assert "| alexnet | 1 | 150 x 32 | 50.00 ± 0.00 |" in table
    assert "| kabani_maxout | 1 | 700 x 32 | 60.00 ± 0.00 |" in table


def test_no_experiments_is_a_clear_error():
    with pytest.raises(GalzooError, match="no experiment has metrics/model/test.json"):
        render_comparison(runs_from_exp_show([{"rev": "workspace", "data": {}, "experiments": None}]))


def test_a_diverging_run_stops_with_an_error_naming_the_iteration_and_the_fix():
    x = torch.full((64, 2), float("nan"))
    recipe = dataclasses.replace(PARAMS.cnn_comparison.recipe, batch_size=32, iterations=4, lr_drop_iterations=[],
                                 eval_every=2)
    with pytest.raises(GalzooError, match=r"\[net\]: at iteration 1 .*became nan; lower cnn_comparison.recipe.lr"):
        fit_iterations(nn.Linear(2, 2), TensorDataset(x, torch.zeros(64, dtype=torch.long)), recipe,
                       loss_fn=nn.CrossEntropyLoss(), validate=lambda m: {}, device=torch.device("cpu"),
                       amp_dtype=None, seed=0, progress=False, label="[net]")
