"""Data-parallel training with DDP on the CPU (gloo): two processes compute what one process computes on the
same global batches (the device path, and the Perseus study on the loader path), each takes its own share,
and the train stage runs under torchrun with rank 0 alone writing the outputs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from galzoo.config import load_params
from galzoo.dataset import open_raw_dataset
from galzoo.errors import ConfigError
from galzoo.evaluation.logs import read_training_log
from galzoo.models.checkpoint import load_checkpoint
from galzoo.preprocess.store import build_store, load_index
from galzoo.splits import make_split, write_split
from galzoo.training.batch_augment import AffineAugment
from galzoo.training.device_data import DeviceBatches
from galzoo.training.distributed import Distributed
from galzoo.training.launch import Launch, relaunch_under_torchrun
from tests.conftest import REPO_ROOT, write_raw_dataset
from tests.training.distributed_worker import AUGMENT, TINY_CLASSIFIER, tiny_classifier, tiny_problem, train

WORKER = REPO_ROOT / "tests" / "training" / "distributed_worker.py"


def torchrun(nproc: int, *args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc_per_node={nproc}", *args], capture_output=True, text=True, timeout=180,
                          cwd=cwd, env=env)


def test_two_gloo_processes_train_as_one_process_does_on_the_same_global_batches(tmp_path):
    done = torchrun(2, str(WORKER), str(tmp_path / "ddp.json"))
    assert done.returncode == 0, done.stderr[-4000:]
    ddp = json.loads((tmp_path / "ddp.json").read_text())
    single = train()
    assert ddp["world_size"] == 2
    # the same steps, up to the order in which two processes' gradients are summed
    np.testing.assert_allclose(ddp["train_loss"], single["train_loss"], rtol=1e-4)
    np.testing.assert_allclose(ddp["val_loss"], single["val_loss"], rtol=1e-4)
    np.testing.assert_allclose(ddp["weights"], single["weights"], rtol=1e-4, atol=1e-6)
    assert single["val_loss"][-1] < single["val_loss"][0]


def test_each_process_takes_its_own_share_of_every_global_batch():
    images, targets = tiny_problem()
    augment = AffineAugment.scale_study(AUGMENT, [0.0] * 3, [1.0] * 3, "cpu")
    device = torch.device("cpu")

    def passes(dist, n=2):
        batches = DeviceBatches(images, np.arange(24), targets[:24], augment, batch_size=8, seed=3, device=device,
                                dist=dist)
        return [list(batches) for _ in range(n)]

    whole = passes(Distributed())
    shares = [passes(Distributed(rank=r, world_size=2, local_rank=r)) for r in (0, 1)]
    for p in range(2):
        for step, (x, y) in enumerate(whole[p]):
            assert torch.equal(torch.cat([shares[0][p][step][0], shares[1][p][step][0]]), x)
            assert torch.equal(torch.cat([shares[0][p][step][1], shares[1][p][step][1]]), y)
    assert not torch.equal(whole[0][0][1], whole[1][0][1])  # a new order every pass


def test_a_global_batch_that_does_not_split_evenly_is_refused():
    with pytest.raises(ConfigError, match="batch_size = 70 does not split into 4 processes"):
        Distributed(rank=0, world_size=4).local_batch_size(70)


def test_one_process_never_involves_torchrun():
    assert relaunch_under_torchrun(Launch(nproc=1), "stages/train_scale.py", []) is None
    with pytest.raises(ConfigError, match="runtime.nproc"):
        Launch(nproc=0)


def tiny_perseus_params(root) -> Path:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["model"] = TINY_CLASSIFIER
    params["data"]["source"] = "perseus"
    params["data"]["perseus"]["path"] = "unused"
    params["perseus"].update(rotations_deg=[0, 45, 90],
                             budgets={"embedded": {"input_size": 32, "epochs": 2, "batch_size": 8, "lr": 0.5}})
    params["runtime"].update(threads=1, nproc=2, device="cpu")  # gloo, also where a GPU is present
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root / "params.yaml"


def logged(live_dir, metric: str) -> list[float]:
    table = pd.read_csv(live_dir / "plots" / "metrics" / f"{metric}.tsv", sep="\t")
    return table[metric.split("/")[-1]].tolist()


def tiny_perseus_workspace(root: Path, monkeypatch):
    """The tiny Perseus data, its store and split in ``root``, with the tiny network registered in this
    process: (params, its params.yaml, the study's path arguments)."""
    from galzoo.models import registry
    from galzoo.studies.perseus.selection import split_perseus
    from galzoo.studies.perseus.store import build_perseus_store
    from tests.studies.test_perseus import write_tiny_perseus

    monkeypatch.setitem(registry._REGISTRY, TINY_CLASSIFIER,
                        registry.ModelEntry(TINY_CLASSIFIER, tiny_classifier, "a tiny test network"))
    params_path = tiny_perseus_params(root)
    params, raw = load_params(params_path), write_tiny_perseus(root)
    paths = {"raw_dir": raw, "store_dir": root / "store", "split_path": root / "split.csv"}
    build_perseus_store(params, raw_dir=raw, out_dir=paths["store_dir"], progress=False)
    split_perseus(params, **paths, counts_path=root / "counts.json")
    return params, params_path, paths


def assert_trains_as_one_process(root: Path, params, paths: dict, ddp: Path) -> None:
    """Train the same study in this one process into ``root/one`` and compare with the data-parallel run in
    ``ddp``: the same global batches and the same validation, up to the order in which sums are taken."""
    from galzoo.studies.perseus import train_perseus

    train_perseus(params, **paths, model_path=root / "one" / "model.pt", live_dir=root / "one" / "live",
                  progress=False)
    for metric in ("train/loss", "val/loss", "val/accuracy", "lr"):
        np.testing.assert_allclose(logged(ddp / "live", metric), logged(root / "one" / "live", metric), rtol=1e-4)
    parallel, one = (torch.load(run / "model.pt", weights_only=True)["state_dict"] for run in (ddp, root / "one"))
    for key, value in one.items():
        np.testing.assert_allclose(parallel[key], value, rtol=1e-4, atol=1e-6)


def test_the_perseus_study_trains_as_two_gloo_processes_as_one_process_does(tmp_path, monkeypatch):
    params, params_path, paths = tiny_perseus_workspace(tmp_path, monkeypatch)
    done = torchrun(2, str(WORKER), "perseus", str(params_path), str(tmp_path), str(tmp_path / "ddp"))
    assert done.returncode == 0, done.stderr[-4000:]
    assert "loader data path, 2 processes" in done.stderr and done.stderr.count("epoch 2/2: train loss") == 1
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == ["live", "model.pt"]  # rank 0 alone writes
    assert_trains_as_one_process(tmp_path, params, paths, tmp_path / "ddp")


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp_stage")
    raw = open_raw_dataset(write_raw_dataset(root / "raw", n=24))
    build_store(raw.image_paths, list(raw.ids), root / "crops", scales=("normalized",), workers=1, progress=False)
    write_split(make_split(load_index(root / "crops")["id"], test_fraction=0.25, val_fraction=0.2, seed=0),
                root / "split.csv")
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["crop"]["scales"] = ["normalized"]
    params["scale_study"]["budgets"] = {"embedded": {"epochs": 2, "batch_size": 4, "lr": 0.01, "lr_drop_epochs": [1]}}
    params["runtime"].update(data_path="loader", nproc=2, device="cpu")  # gloo, also where a GPU is present
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def test_the_train_stage_runs_as_two_processes_under_torchrun_and_only_rank_zero_writes(tiny_store):
    root = tiny_store
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "stages" / "train_scale.py"), "--scale", "normalized", "--raw", "raw",
         "--crops", "crops", "--split", "split.csv", "--model-out", "out/model.pt", "--live-dir", "out/live",
         "--processes", "2"], cwd=root, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "torch.distributed.run" in done.stderr and "loader data path, 2 processes" in done.stderr
    assert done.stderr.count("epoch 2/2: train mse") == 1  # rank 0 alone reports
    assert sorted(p.name for p in (root / "out").iterdir()) == ["live", "model.pt"]
    _, meta = load_checkpoint(root / "out" / "model.pt")
    assert meta["scale"] == "normalized"
    log = read_training_log(root / "out" / "live")
    assert list(log.index) == [1, 2] and np.isfinite(log.to_numpy()).all()
