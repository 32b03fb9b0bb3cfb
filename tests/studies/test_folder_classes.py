"""A user's folder whose labels.csv has a class column: the `classes` task, trained by any registered model
through the same branch (crop, split, train, evaluate, plot) as Dai & Tong's five classes."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galzoo.config import FolderParams, load_params
from galzoo.errors import DataError
from galzoo.predict import predict_images
from galzoo.sources.folder import fetch_folder
from galzoo.tasks import task_targets
from tests.conftest import run_study

CLASSES = ("barred", "elliptical", "merger")


@pytest.fixture(scope="module")
def folder_raw(tmp_path_factory):
    """24 images (8 per class) of 256 px with a per-class colour, and labels.csv = GalaxyID,class."""
    root = tmp_path_factory.mktemp("folder")
    user = root / "my images"
    user.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(24):
        name = CLASSES[i % 3]
        colour = np.array([[200, 60, 60], [60, 200, 60], [60, 60, 200]][i % 3])
        pixels = np.clip(rng.normal(colour, 30, (256, 256, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(user / f"gal{i:03d}.png")
        rows.append({"GalaxyID": f"gal{i:03d}", "class": name})
    pd.DataFrame(rows).to_csv(user / "labels.csv", index=False)
    return fetch_folder(FolderParams(path=str(user)), root / "raw", progress=False), user


def test_the_classes_task_names_its_classes_from_the_data_in_sorted_order(folder_raw):
    task, ids, targets = task_targets("classes", folder_raw[0])
    assert task.class_names == CLASSES and task.num_outputs == 3
    assert list(ids[:4]) == ["gal000", "gal001", "gal002", "gal003"] and list(targets[:4]) == [0, 1, 2, 0]


def test_a_vote_task_on_a_folder_of_class_names_says_to_use_the_classes_task(folder_raw):
    with pytest.raises(DataError, match="use -S task=classes"):
        task_targets("gz2_5class", folder_raw[0])


def test_any_model_trains_on_the_folder_classes_with_the_same_metrics_and_plots(folder_raw, tmp_path):
    raw, user = folder_raw
    params = load_params(overrides={
        "model": "kabani_maxout", "task": "classes", "data.source": "folder", "data.folder.path": str(user),
        "crop.workers": 1, "cnn_comparison.split.test_fraction": 0.25, "cnn_comparison.split.val_fraction": 0.25,
        "cnn_comparison.budgets": {"embedded": {"iterations": 2, "batch_size": 4, "lr": 0.01, "eval_every": 1,
                                                "lr_drop_iterations": [1]}}})
    counts, metrics, pngs = run_study(params, raw, tmp_path)
    assert set(counts["classes"]) == set(CLASSES)
    assert metrics["task"] == "classes" and set(metrics["per_class"]) == set(CLASSES)
    assert json.loads((tmp_path / "test.json").read_text())["ci95"]["accuracy"]["low"] <= metrics["accuracy"]
    assert set(pd.read_csv(tmp_path / "confusion.csv")["actual"]) <= set(CLASSES)
    assert {p.name for p in pngs} == {"confusion_matrix.png", "roc.png", "filters.png", "feature_maps.png"}
    # galzoo predict reads the checkpoint and gives the evaluate stage's multi-scale average on the same files
    with np.load(tmp_path / "pred.npz") as saved:
        ids, evaluated = saved["ids"].astype(str), saved["probabilities"].mean(axis=1)
    predicted = predict_images(tmp_path / "model.pt", [raw / "images" / f"{galaxy}.png" for galaxy in ids],
                               device="cpu", progress=False)
    assert predicted.class_names == list(CLASSES) and np.allclose(predicted.outputs, evaluated, atol=1e-5)
