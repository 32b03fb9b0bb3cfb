"""A user's folder whose labels.csv has a class column: the `classes` task, trained by any registered model
through the same branch (crop, split, train, evaluate, plot) as Dai & Tong's five classes."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galzoo import experiment
from galzoo.config import FolderParams, load_params
from galzoo.errors import DataError
from galzoo.sources.folder import fetch_folder
from galzoo.tasks import task_targets

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
    base = load_params()
    classifier = dataclasses.replace(
        base.classifier,
        split=dataclasses.replace(base.classifier.split, test_fraction=0.25, val_fraction=0.25),
        budgets={"embedded": {"iterations": 2, "batch_size": 4, "lr": 0.01, "eval_every": 1,
                              "lr_drop_iterations": [1]}})
    params = dataclasses.replace(base, model="kabani_maxout", task="classes", classifier=classifier,
                                 data=dataclasses.replace(base.data, source="folder",
                                                          folder=FolderParams(path=str(user))),
                                 crop=dataclasses.replace(base.crop, workers=1))
    paths = {"raw_dir": raw, "store_dir": tmp_path / "store", "split_path": tmp_path / "split.csv"}
    experiment.crop(params, raw_dir=raw, out_dir=paths["store_dir"])
    counts = experiment.split(params, **paths, counts_path=tmp_path / "counts.json")
    assert set(counts["classes"]) == set(CLASSES)
    experiment.train(params, **paths, model_path=tmp_path / "m.pt", live_dir=tmp_path / "live")
    metrics = experiment.evaluate(params, **paths, model_path=tmp_path / "m.pt",
                                  metrics_path=tmp_path / "test.json", predictions_path=tmp_path / "p.npz",
                                  confusion_path=tmp_path / "confusion.csv")
    assert metrics["task"] == "classes" and set(metrics["per_class"]) == set(CLASSES)
    assert json.loads((tmp_path / "test.json").read_text())["ci95"]["accuracy"]["low"] <= metrics["accuracy"]
    assert set(pd.read_csv(tmp_path / "confusion.csv")["actual"]) <= set(CLASSES)
    pngs = experiment.plot(params, **paths, model_path=tmp_path / "m.pt", predictions_path=tmp_path / "p.npz",
                           out_dir=tmp_path / "plots")
    assert {p.name for p in pngs} == {"confusion_matrix.png", "roc.png", "filters.png", "feature_maps.png"}
