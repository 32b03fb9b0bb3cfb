"""Real Galaxy Zoo 1 images (``../shared/data/gz1_sample``, a development aid beside the repository) go
through the folder source and the classifier branch as they are: 423 px SDSS JPEGs, a labels.csv with an
extra column, five imbalanced classes. Skipped where the sample is absent (a user's machine)."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from galzoo.config import FolderParams, load_params
from galzoo.sources.folder import fetch_folder
from galzoo.tasks import task_targets
from tests.conftest import SHARED_DATA, run_study

GZ1 = SHARED_DATA / "gz1_sample"
pytestmark = pytest.mark.skipif(not (GZ1 / "labels.csv").is_file(), reason=f"{GZ1} is absent (not part of galzoo)")
PER_CLASS = 6


@pytest.fixture(scope="module")
def gz1_subset(tmp_path_factory):
    """The first few galaxies of every class, copied with their labels.csv rows (all three columns)."""
    labels = pd.read_csv(GZ1 / "labels.csv", dtype={"GalaxyID": str})
    picked = labels.groupby("class", sort=True).head(PER_CLASS)
    user = tmp_path_factory.mktemp("gz1") / "gz1 subset"
    (user / "images").mkdir(parents=True)
    for galaxy in picked["GalaxyID"]:
        shutil.copy(GZ1 / "images" / f"{galaxy}.jpeg", user / "images" / f"{galaxy}.jpeg")
    picked.to_csv(user / "labels.csv", index=False)
    return fetch_folder(FolderParams(path=str(user)), user.parent / "raw", progress=False), user, picked


def test_the_sample_holds_the_five_classes_its_readme_counts():
    counts = pd.read_csv(GZ1 / "labels.csv")["class"].value_counts().to_dict()
    assert counts == {"elliptical": 2345, "edge_on": 524, "spiral": 395, "merger": 54, "dark_star": 32}


def test_real_gz1_images_train_and_score_through_the_folder_source(gz1_subset, tmp_path):
    raw, user, picked = gz1_subset
    task, ids, _ = task_targets("classes", raw)
    assert task.class_names == ("dark_star", "edge_on", "elliptical", "merger", "spiral")
    assert sorted(map(str, ids)) == sorted(picked["GalaxyID"])
    params = load_params(overrides={
        "model": "kabani_maxout", "task": "classes", "data.source": "folder", "data.folder.path": str(user),
        "crop.workers": 1, "cnn_comparison.split.test_fraction": 0.34, "cnn_comparison.split.val_fraction": 0.25,
        "cnn_comparison.imbalance": "balanced_sampling",
        "cnn_comparison.budgets": {"embedded": {"iterations": 2, "batch_size": 4, "lr": 0.01, "eval_every": 1,
                                                "lr_drop_iterations": [1]}}})
    counts, metrics, _ = run_study(params, raw, tmp_path)
    assert all(n["test"] >= 1 for n in counts["classes"].values())
    assert set(metrics["per_class"]) == set(task.class_names)
    assert metrics["baseline"]["class"] in task.class_names and 0 < metrics["baseline"]["accuracy"] < 1
