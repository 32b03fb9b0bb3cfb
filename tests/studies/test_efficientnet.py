"""Study 3 (EfficientNet-B0 on the 37 vote fractions): the head, the weights, the two-phase Keras recipe."""
from __future__ import annotations

import dataclasses
import os
import socket
import time

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import TensorDataset

from galzoo.config import DEFAULT_PARAMS, ConfigError, KerasAugmentParams, load_params
from galzoo.studies.efficientnet import (IMAGENET_MEAN, IMAGENET_STD, evaluate_votes, split_votes, store_scale,
                                       train_votes)
from galzoo.errors import DataError, GalzooError
from galzoo.models import create_model
from galzoo.models.checkpoint import load_checkpoint, save_checkpoint
from galzoo.models.pretrained import PretrainedUnavailable, load_pretrained
from galzoo.preprocess.crops import centre_crop, resize_square
from galzoo.preprocess.store import build_store
from galzoo.sources.synthetic import generate_dataset
from galzoo.training.augment import keras_augmentation
from galzoo.training.data import LabelledStore
from galzoo.training.loop import fit_phase

PARAMS = load_params()
HEAD = {"hidden": 64, "dropout": 0.5}


def kalvankar_b0(input_size: int = 64) -> nn.Module:
    return create_model("efficientnet_b0", num_outputs=37, input_size=input_size, output_layer="mlp_sigmoid",
                        head=HEAD)


# --- the model ---------------------------------------------------------------------------------------------

def test_the_head_is_pool_dropout_dense64_relu_dense37_sigmoid():
    model = kalvankar_b0().eval()
    assert model.backbone.drop_rate == 0.5  # timm's pre-logit dropout, after the global average pool
    assert model.backbone.get_classifier().out_features == 64 and model.output.out_features == 37
    out = model(torch.randn(3, 3, 64, 64))
    assert out.shape == (3, 37) and bool(((out > 0) & (out < 1)).all())


def test_the_head_phase_trains_only_the_two_dense_layers():
    model = kalvankar_b0()
    head = {id(p) for p in model.head_parameters()}
    expected = [*model.backbone.get_classifier().parameters(), *model.output.parameters()]
    assert head == {id(p) for p in expected}
    assert sum(p.numel() for p in expected) == 1280 * 64 + 64 + 64 * 37 + 37


def test_a_checkpoint_rebuilds_the_head(tmp_path):
    model = kalvankar_b0().eval()
    meta = {"model": "efficientnet_b0", "num_outputs": 37, "input_size": 64, "output_layer": "mlp_sigmoid",
            "head": HEAD, "scale": "crop212", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    save_checkpoint(tmp_path / "m.pt", model, meta)
    again, _ = load_checkpoint(tmp_path / "m.pt")
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(model(x), again.eval()(x))


def test_the_head_needs_its_sizes():
    with pytest.raises(ConfigError, match="expected head with keys hidden and dropout"):
        create_model("efficientnet_b0", num_outputs=37, input_size=64, output_layer="mlp_sigmoid")


# --- pretrained weights ------------------------------------------------------------------------------------

def test_weights_from_a_local_file_load_into_the_backbone_but_not_the_classifier(tmp_path):
    source = create_model("efficientnet_b0", num_outputs=1000, input_size=64)
    torch.save(source.state_dict(), tmp_path / "imagenet.pth")
    model = kalvankar_b0()
    head_before = model.backbone.get_classifier().weight.clone()
    assert "tensors from file" in load_pretrained(model, str(tmp_path / "imagenet.pth"))
    assert torch.equal(model.backbone.conv_stem.weight, source.conv_stem.weight)
    assert torch.equal(model.backbone.get_classifier().weight, head_before)


def test_weights_of_another_network_are_refused(tmp_path):
    torch.save(create_model("alexnet", num_outputs=5, input_size=64).state_dict(), tmp_path / "alexnet.pth")
    with pytest.raises(PretrainedUnavailable, match="are these weights for this network"):
        load_pretrained(kalvankar_b0(), str(tmp_path / "alexnet.pth"))


def test_a_missing_weights_file_is_named(tmp_path):
    with pytest.raises(PretrainedUnavailable, match="nowhere.safetensors not found"):
        load_pretrained(kalvankar_b0(), str(tmp_path / "nowhere.safetensors"))


def closed_port() -> tuple[str, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()


def test_an_unreachable_hub_fails_within_seconds_and_says_how_to_provide_weights(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.monotonic()
    with pytest.raises(PretrainedUnavailable) as error:
        load_pretrained(kalvankar_b0(), "timm/efficientnet_b0.ra_in1k", probe=closed_port())
    assert time.monotonic() - start < 30  # generous: the real figure is measured in the issue note
    assert "cannot reach" in str(error.value) and "local weights file" in str(error.value)


def test_offline_without_cached_weights_is_an_error_pointing_at_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(PretrainedUnavailable, match="local Hugging Face cache"):
        load_pretrained(kalvankar_b0(), "efficientnet_b0.ra_in1k")


def test_none_trains_from_scratch():
    assert "from scratch" in load_pretrained(kalvankar_b0(), "none")


# --- the Keras recipe --------------------------------------------------------------------------------------

class Net(nn.Module):
    """Conv + batch-norm backbone and a dense head: small enough to train in a test."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten())
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return torch.sigmoid(self.head(self.backbone(x)))


def recipe(**changes):
    base = dataclasses.replace(PARAMS.efficientnet.recipe, batch_size=8, lr=0.05)
    return dataclasses.replace(base, **changes)


def inputs() -> torch.Tensor:
    return torch.randn(32, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def run_phase(model, trainable, train_y, val_y, epochs=6, **changes):
    x = inputs()
    return fit_phase(model, trainable, TensorDataset(x, train_y), TensorDataset(x, val_y), recipe(**changes),
                     epochs=epochs, device=torch.device("cpu"), amp_dtype=None, seed=0, progress=False)


def test_the_head_phase_leaves_the_frozen_backbone_and_its_batchnorm_statistics_alone():
    torch.manual_seed(0)
    model = Net()
    backbone = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    run_phase(model, list(model.head.parameters()), torch.ones(32, 2), torch.ones(32, 2))
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, backbone[key]), key
    assert all(p.requires_grad for p in model.parameters())  # unfrozen again for the next phase


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch():
    torch.manual_seed(0)
    model = Net()
    # training pulls every output towards 1 while validation wants 0: after the first epoch it only gets worse
    outcome = run_phase(model, None, torch.ones(32, 2), torch.zeros(32, 2), early_stop_patience=2, epochs=20)
    assert (outcome.best_epoch, outcome.epochs_run, outcome.stopped_early) == (1, 3, True)
    with torch.no_grad():
        restored = float((model.eval()(inputs()) ** 2).mean())
    assert restored == pytest.approx(outcome.best_val_loss, rel=1e-5)


def test_the_lr_falls_by_the_plateau_factor_on_the_patience_th_epoch_without_improvement():
    logged = []

    class Live:
        def log_metric(self, name, value):
            if name == "lr":
                logged.append(value)

        def next_step(self):
            pass

    x = inputs()
    fit_phase(Net(), None, TensorDataset(x, torch.ones(32, 2)), TensorDataset(x, torch.zeros(32, 2)),
              recipe(plateau_patience=2, plateau_factor=0.5, early_stop_patience=10), epochs=5,
              device=torch.device("cpu"), amp_dtype=None, seed=0, progress=False, live=Live())
    # epoch 1 is the best; epochs 2 and 3 do not improve, so Keras halves the lr after epoch 3, and again after 5
    assert logged == pytest.approx([0.05, 0.05, 0.05, 0.025, 0.025])


def test_keras_augmentation_draws_brightness_within_its_range_per_image():
    params = KerasAugmentParams(rotation_deg=0, shift=0, brightness=[0.9, 1.2], hflip_p=0, vflip_p=0,
                                border="nearest")
    transform = keras_augmentation(params, seed=0)
    grey = np.full((32, 32, 3), 100, np.uint8)
    means = [transform(image=grey)["image"].mean() for _ in range(200)]
    assert 89 <= min(means) < 93 and 117 < max(means) <= 120
    assert len(set(np.round(means))) > 10


def test_keras_augmentation_rotates_and_shifts():
    params = KerasAugmentParams(rotation_deg=90, shift=0.1, brightness=[1.0, 1.0], hflip_p=0, vflip_p=0,
                                border="nearest")
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :8] = 255  # a bar on the left edge
    out = [keras_augmentation(params, seed=s)(image=image)["image"] for s in range(5)]
    assert all(not np.array_equal(o, image) for o in out)


def test_the_brightness_range_is_checked(tmp_path):
    text = (DEFAULT_PARAMS.read_text()
            .replace("brightness: [0.9, 1.2]", "brightness: [1.2, 0.9]"))
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"efficientnet.augment.brightness: expected \[low, high\]"):
        load_params(tmp_path / "params.yaml")


# --- the study end to end, tiny ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("votes")
    raw = generate_dataset(root / "raw", 40, seed=3, workers=1, progress=False)
    study = dataclasses.replace(PARAMS.efficientnet, budgets={
        "embedded": {"batch_size": 8, "head_epochs": 1, "full_epochs": 1, "input_size": 32}})
    params = dataclasses.replace(PARAMS, model="efficientnet_b0", efficientnet=study)
    from galzoo.dataset import open_raw_dataset

    dataset = open_raw_dataset(raw)
    store = root / "store"
    build_store(dataset.image_paths, list(dataset.ids), store, scales=(store_scale(params),), output_size=32,
                workers=1, progress=False)
    split = root / "split.csv"
    counts = split_votes(params, raw_dir=raw, store_dir=store, split_path=split)
    return params, raw, store, split, counts, dataset


def test_the_split_holds_out_a_test_part_then_85_15(tiny_study):
    _, _, _, _, counts, _ = tiny_study
    assert counts == {"train": 31, "val": 5, "test": 4}  # 40 x 0.10 = 4; round(36 x 0.15) = 5


def test_validation_images_get_the_training_crop(tiny_study):
    params, raw, store, split, _, dataset = tiny_study
    data = LabelledStore(store, raw, split, store_scale(params), "votes37")
    val = data.dataset("val", np.zeros(3, np.float32), np.ones(3, np.float32))
    ids = list(data.subsets["val"][0])
    image = np.asarray(Image.open(dataset.image_paths[list(dataset.ids.astype(str)).index(ids[0])]).convert("RGB"))
    expected = resize_square(centre_crop(image, 212), 32)
    assert np.array_equal(val[0][0].permute(1, 2, 0).numpy().astype(np.uint8), expected)


def test_both_phases_train_and_the_scores_sit_beside_the_papers(tiny_study, tmp_path):
    params, raw, store, split, _, _ = tiny_study
    phases = train_votes(params, raw_dir=raw, store_dir=store, split_path=split, model_path=tmp_path / "m.pt",
                         live_dir=tmp_path / "live", progress=False)
    assert set(phases) == {"head", "full"}
    metrics = evaluate_votes(params, raw_dir=raw, store_dir=store, split_path=split, model_path=tmp_path / "m.pt",
                             metrics_path=tmp_path / "test.json", predictions_path=tmp_path / "p.npz",
                             confusion_path=tmp_path / "confusion.csv")
    assert metrics["n_test"] == 4 and 0 < metrics["rmse"] < 0.5
    assert metrics["paper"] == {"val_rmse": 0.0814, "test_rmse": 0.0810}
    _, meta = load_checkpoint(tmp_path / "m.pt")
    assert meta["preprocessing"] == {"kind": "centre_crop", "crop_side": 212, "size": 32}


def test_the_budget_sets_the_input_size_and_a_store_of_another_size_is_refused(tiny_study, tmp_path):
    params, raw, store, split, _, _ = tiny_study
    assert PARAMS.efficientnet.recipe_for("paper").input_size == 224  # the paper's
    assert PARAMS.efficientnet.recipe_for("embedded").input_size < 224  # the CPU budget's smaller inputs
    larger = dataclasses.replace(params, efficientnet=dataclasses.replace(params.efficientnet, budgets={
        "embedded": {**params.efficientnet.budgets["embedded"], "input_size": 64}}))
    with pytest.raises(DataError, match=r"crops stored at 32 px but budget embedded's efficientnet input_size "
                                        r"is 64: re-run crop_task"):
        train_votes(larger, raw_dir=raw, store_dir=store, split_path=split, model_path=tmp_path / "m.pt",
                    live_dir=tmp_path / "live", progress=False)


# --- one branch of the DAG for every task ------------------------------------------------------------------

def test_task_auto_is_the_task_of_the_models_own_study():
    from galzoo.studies import resolve

    auto = dataclasses.replace(PARAMS, task="auto")
    assert resolve(dataclasses.replace(auto, model="efficientnet_b0")).task == "votes37"
    assert resolve(dataclasses.replace(auto, model="alexnet")).task == "gz2_5class"
    named = dataclasses.replace(PARAMS, task="gz2_5class", model="efficientnet_b0")
    assert resolve(named).task == "gz2_5class"  # a named task is kept: any model on any task


def test_the_report_puts_vote_fraction_rmse_beside_the_papers():
    from galzoo.report import render_comparison
    from galzoo.studies import Run

    def run(seed, rmse):
        return Run(rev=str(seed) * 40, name=f"e{seed}", metrics={
            "model": "efficientnet_b0", "task": "votes37", "seed": seed, "budget": "embedded", "pretrained": "none",
            "rmse": rmse, "val_rmse": rmse + 0.01, "n_test": 200, "n_val": 270})

    table = render_comparison([run(1, 0.16), run(2, 0.18)])
    assert "# The CNN comparison" not in table  # no classification runs, no empty table
    assert ("| efficientnet_b0 | — | embedded | none | 1, 2 | 0.1800 ± 0.0141 | 0.1700 ± 0.0141 | 0.1600 | "
            "0.0814 | 0.0810 |") in table


def test_the_tree_output_layer_is_its_own_row_of_the_rmse_table():
    from galzoo.report import render_comparison
    from galzoo.studies import Run

    def run(output_layer, rmse):
        return Run(rev=output_layer[0] * 40, name=output_layer,
                   params={"efficientnet": {"output_layer": output_layer}},
                   metrics={"model": "efficientnet_b0", "task": "votes37", "seed": 2016, "budget": "embedded",
                            "pretrained": "none", "rmse": rmse, "val_rmse": rmse, "n_test": 200, "n_val": 270})

    table = render_comparison([run("mlp_sigmoid", 0.12), run("tree", 0.13)])
    assert "| efficientnet_b0 | mlp_sigmoid | embedded | none | 2016 | 0.1200 ± 0.0000 |" in table
    assert "| efficientnet_b0 | tree | embedded | none | 2016 | 0.1300 ± 0.0000 |" in table
