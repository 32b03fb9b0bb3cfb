"""Training and scoring of the scale study on a tiny raw dataset: runs, logs every epoch, is reproducible."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from galzoo.config import load_params
from galzoo.dataset import open_raw_dataset
from galzoo.evaluation.logs import read_training_log
from galzoo.models.checkpoint import load_checkpoint
from galzoo.preprocess.store import build_store, load_index
from galzoo.studies.scale_study import evaluate_scale, train_scale
from galzoo.splits import make_split, write_split
from tests.conftest import REPO_ROOT, write_raw_dataset


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    raw = open_raw_dataset(write_raw_dataset(root / "raw", n=24))
    build_store(raw.image_paths, list(raw.ids), root / "crops", workers=1, progress=False)
    write_split(make_split(load_index(root / "crops")["id"], test_fraction=0.25, val_fraction=0.2, seed=0),
                root / "split.csv")
    params = load_params(REPO_ROOT / "params.yaml")
    tiny = {"embedded": {"epochs": 2, "batch_size": 4, "lr": 0.01, "lr_drop_epochs": [1]}}
    params = dataclasses.replace(params, scale_study=dataclasses.replace(params.scale_study, budgets=tiny))
    return root, params


def train_and_evaluate(root, params, tag):
    paths = dict(crops_dir=root / "crops", raw_dir=root / "raw", split_path=root / "split.csv")
    train_scale(params, "normalized", model_path=root / tag / "model.pt", live_dir=root / tag / "live",
                progress=False, **paths)
    return evaluate_scale(params, "normalized", model_path=root / tag / "model.pt",
                          metrics_path=root / tag / "metrics.json", predictions_path=root / tag / "pred.npz", **paths)


def test_training_logs_every_epoch_and_saves_a_reloadable_model(prepared):
    root, params = prepared
    metrics = train_and_evaluate(root, params, "a")
    log = read_training_log(root / "a" / "live")
    assert list(log.index) == [1, 2]
    assert np.isfinite(log.to_numpy()).all()
    model, meta = load_checkpoint(root / "a" / "model.pt")
    assert meta["scale"] == "normalized" and len(meta["mean"]) == 3
    assert json.loads((root / "a" / "metrics.json").read_text()) == metrics
    assert metrics["n_test"] == 6


def test_two_cpu_runs_with_the_same_seed_give_identical_metrics(prepared):
    root, params = prepared
    first = train_and_evaluate(root, params, "b")
    second = train_and_evaluate(root, params, "c")
    assert first == second


def test_two_cpu_runs_of_the_device_data_path_with_the_same_seed_train_identical_models(prepared):
    root, params = prepared
    # one thread: two threads on two cores that other work shares wait for each other (several times slower)
    runtime = dataclasses.replace(params.runtime, data_path="device", threads=1)
    device_path = dataclasses.replace(params, runtime=runtime)
    paths = dict(crops_dir=root / "crops", raw_dir=root / "raw", split_path=root / "split.csv")
    runs = []
    for tag in ("e", "f"):
        train_scale(device_path, "normalized", model_path=root / tag / "model.pt", live_dir=root / tag / "live",
                    progress=False, **paths)
        metrics = json.loads((root / tag / "live" / "metrics.json").read_text())
        metrics.pop("images_per_second")
        runs.append((metrics, torch.load(root / tag / "model.pt", weights_only=True)["state_dict"]))
    (first, weights), (second, again) = runs
    assert first == second and all(torch.equal(weights[k], again[k]) for k in weights)


def test_evaluating_a_model_on_the_wrong_scale_is_refused(prepared):
    root, params = prepared
    train_and_evaluate(root, params, "d")
    with pytest.raises(Exception, match="trained on scale 'normalized', not 'crop64'"):
        evaluate_scale(params, "crop64", crops_dir=root / "crops", raw_dir=root / "raw",
                       split_path=root / "split.csv", model_path=root / "d" / "model.pt",
                       metrics_path=root / "x.json", predictions_path=root / "x.npz")
