"""`cnn_comparison.imbalance` and `perseus.imbalance`: an imbalanced folder of classes trains end to end with
each remedy on both data paths, each remedy reaches the loss or the batches it is meant to change, and the
default (`none`, as the papers) trains with the plain cross-entropy and the shuffled passes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from galzoo.config import FolderParams, load_params
from galzoo.models import registry
from galzoo.models.checkpoint import load_checkpoint
from galzoo.sources.folder import fetch_folder
from galzoo.training.imbalance import WeightedCrossEntropy, class_weights
from tests.conftest import REPO_ROOT, run_study
from tests.training.distributed_worker import TINY_CLASSIFIER, tiny_classifier

COUNTS = {"barred": 8, "elliptical": 18, "merger": 6}  # 56% ellipticals


@pytest.fixture
def tiny_model(monkeypatch):
    monkeypatch.setitem(registry._REGISTRY, TINY_CLASSIFIER,
                        registry.ModelEntry(TINY_CLASSIFIER, tiny_classifier, "a tiny test network"))


@pytest.fixture(scope="module")
def imbalanced_folder(tmp_path_factory):
    """32 images of 256 px with a per-class colour, most of them ellipticals; labels.csv = GalaxyID,class."""
    root = tmp_path_factory.mktemp("imbalanced")
    user = root / "mine"
    user.mkdir()
    rng = np.random.default_rng(0)
    colours = {"barred": (200, 60, 60), "elliptical": (60, 200, 60), "merger": (60, 60, 200)}
    rows = []
    for name, count in COUNTS.items():
        for i in range(count):
            galaxy = f"{name}{i:02d}"
            pixels = np.clip(rng.normal(colours[name], 30, (256, 256, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(user / f"{galaxy}.png")
            rows.append({"GalaxyID": galaxy, "class": name})
    pd.DataFrame(rows).to_csv(user / "labels.csv", index=False)
    return fetch_folder(FolderParams(path=str(user)), root / "raw", progress=False), user


class TrainingSpy:
    """Records the loss and the batch source the classifier's training loop receives, then trains as usual."""

    def __init__(self, real):
        self.real, self.seen = real, {}

    def __call__(self, model, train_set, recipe, *, loss_fn, **kwargs):
        self.seen = {"loss_fn": loss_fn, "batches": train_set}
        return self.real(model, train_set, recipe, loss_fn=loss_fn, **kwargs)


@pytest.mark.parametrize("remedy, data_path", [("none", "loader"), ("weighted_loss", "loader"),
                                               ("balanced_sampling", "loader"), ("balanced_sampling", "device"),
                                               ("weighted_loss", "device"), ("sqrt_weighted_loss", "loader")])
def test_an_imbalanced_folder_trains_with_each_remedy_on_each_data_path(remedy, data_path, imbalanced_folder,
                                                                         tiny_model, tmp_path, monkeypatch):
    from galzoo.studies import cnn_comparison

    spy = TrainingSpy(cnn_comparison.fit_iterations)
    monkeypatch.setattr(cnn_comparison, "fit_iterations", spy)
    raw, user = imbalanced_folder
    params = load_params(REPO_ROOT / "params.yaml", overrides={
        "model": TINY_CLASSIFIER, "task": "classes", "data.source": "folder", "data.folder.path": str(user),
        "crop.workers": 1, "runtime.threads": 1, "runtime.data_path": data_path,
        "cnn_comparison.imbalance": remedy,
        "cnn_comparison.split.test_fraction": 0.25, "cnn_comparison.split.val_fraction": 0.25,
        "cnn_comparison.budgets": {"embedded": {"iterations": 2, "batch_size": 4, "lr": 0.01, "eval_every": 1,
                                                "lr_drop_iterations": [1]}}})
    counts, metrics, _ = run_study(params, raw, tmp_path)
    assert metrics["task"] == "classes" and 0 <= metrics["accuracy"] <= 1
    assert load_checkpoint(tmp_path / "model.pt")[1]["imbalance"] == remedy

    train_counts = [counts["classes"][name]["train"] for name in sorted(COUNTS)]
    train_labels = np.repeat(np.arange(3), train_counts)
    loss_fn, batches = spy.seen["loss_fn"], spy.seen["batches"]
    if remedy in ("weighted_loss", "sqrt_weighted_loss"):
        assert isinstance(loss_fn, WeightedCrossEntropy)
        power = 0.5 if remedy == "sqrt_weighted_loss" else 1.0
        np.testing.assert_allclose(loss_fn.weights.cpu(), class_weights(train_labels, 3, power=power))
    else:
        assert type(loss_fn) is nn.CrossEntropyLoss and loss_fn.weight is None
    if remedy == "balanced_sampling":  # every class has the same total probability of being drawn
        labels_in_split_order = batches.targets if data_path == "device" else batches.loader.dataset.targets
        per_class = [float(batches.draw_weights[torch.as_tensor(labels_in_split_order).cpu() == c].sum())
                     for c in range(3)]
        np.testing.assert_allclose(per_class, [1 / 3] * 3)
    else:
        assert batches.draw_weights is None


@pytest.mark.parametrize("remedy", ["weighted_loss", "balanced_sampling"])
def test_the_perseus_study_takes_the_same_switch(remedy, tiny_model, tmp_path, monkeypatch):
    from galzoo.studies import perseus
    from galzoo.studies.perseus.selection import split_perseus
    from galzoo.studies.perseus.store import build_perseus_store
    from tests.studies.test_perseus import write_tiny_perseus

    seen = {}
    real_train = perseus.train

    def spy(model, batches, optimizer, loss_fn, **kwargs):
        seen.update(loss_fn=loss_fn, batches=batches)
        return real_train(model, batches, optimizer, loss_fn, **kwargs)

    monkeypatch.setattr(perseus, "train", spy)
    params = load_params(REPO_ROOT / "params.yaml", overrides={
        "model": TINY_CLASSIFIER, "data.source": "perseus", "data.perseus.path": "unused", "runtime.threads": 1,
        "perseus.imbalance": remedy, "perseus.rotations_deg": [0, 90],
        "perseus.budgets": {"embedded": {"input_size": 32, "epochs": 1, "batch_size": 4}}})
    raw = write_tiny_perseus(tmp_path)
    paths = {"raw_dir": raw, "store_dir": tmp_path / "store", "split_path": tmp_path / "split.csv"}
    build_perseus_store(params, raw_dir=raw, out_dir=paths["store_dir"], progress=False)
    split_perseus(params, **paths, counts_path=tmp_path / "counts.json")
    perseus.train_perseus(params, **paths, model_path=tmp_path / "model.pt", live_dir=tmp_path / "live",
                          progress=False)
    assert load_checkpoint(tmp_path / "model.pt")[1]["imbalance"] == remedy
    copies = seen["batches"].loader.dataset
    labels = np.repeat(copies.labels.numpy(), len(copies.angles))
    if remedy == "weighted_loss":
        assert isinstance(seen["loss_fn"], WeightedCrossEntropy) and seen["batches"].draw_weights is None
        np.testing.assert_allclose(seen["loss_fn"].weights.cpu(), class_weights(labels, 2))
    else:
        assert type(seen["loss_fn"]) is nn.CrossEntropyLoss
        per_class = [float(seen["batches"].draw_weights[labels == c].sum()) for c in range(2)]
        np.testing.assert_allclose(per_class, [0.5, 0.5])


def test_a_perseus_run_with_a_remedy_is_its_own_row_in_the_report():
    from galzoo.studies import Run, get_study

    study = get_study("perseus")

    def run(params):
        return Run(rev="a" * 40, name="a", metrics={"greyscale": False}, params=params)

    assert study.variant(run({})) == study.variant(run({"perseus": {"imbalance": "none"}})) == "colour"
    assert study.variant(run({"perseus": {"imbalance": "balanced_sampling"}})) == "colour, balanced sampling"
    assert study.variant(run({"perseus": {"imbalance": "weighted_loss", "selection": {"spec_additions": False}}})
                         ) == "colour, no spectroscopic additions, weighted loss"
