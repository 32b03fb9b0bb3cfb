"""Shared fixtures: small valid label tables and raw datasets written to temporary folders."""
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galzoo import tree

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def valid_votes(n: int, seed: int = 0) -> np.ndarray:
    """Random but valid cumulative vote fractions (random conditional fractions multiplied down the tree)."""
    rng = np.random.default_rng(seed)
    conditional = np.zeros((n, tree.N_ANSWERS))
    for q in tree.QUESTIONS:
        conditional[:, tree.question_slice(q)] = rng.dirichlet(np.ones(len(q.answers)), size=n)
    return tree.cumulative_from_conditional(conditional)


def stored_galaxy(seed: int = 0, size: int = 120) -> np.ndarray:
    """An off-centre, elongated blob with noise: every rotation, flip and crop of it looks different."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    blob = np.exp(-(((x - 50) / 18) ** 2 + ((y - 64) / 7) ** 2))
    image = np.stack([blob, 0.7 * blob, 0.4 * blob], axis=-1) * 220 + rng.uniform(0, 30, (size, size, 3))
    return image.astype(np.uint8)


def labels_frame(n: int, seed: int = 0, first_id: int = 100000) -> pd.DataFrame:
    frame = pd.DataFrame(valid_votes(n, seed), columns=list(tree.ANSWER_COLUMNS))
    frame.insert(0, "GalaxyID", np.arange(first_id, first_id + n))
    return frame


def write_raw_dataset(root: Path, n: int = 6, size: int = 424, seed: int = 0) -> Path:
    """A raw-layout dataset: noisy sky with a bright central disc, and valid labels."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    labels = labels_frame(n, seed)
    yy, xx = np.mgrid[:size, :size] - size / 2
    for i, galaxy_id in enumerate(labels["GalaxyID"]):
        radius = 10 + 8 * i
        image = rng.normal(20, 4, (size, size, 3))
        image[np.hypot(xx, yy) < radius] += 150
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(root / "images" / f"{galaxy_id}.jpg")
    labels.to_csv(root / "labels.csv", index=False)
    return root


@pytest.fixture
def raw_dataset(tmp_path) -> Path:
    return write_raw_dataset(tmp_path / "raw")


@pytest.fixture
def real_sample() -> Path:
    """The 680 real Kaggle images beside the project, when present (never part of the product)."""
    folder = SHARED_DATA / "gz_kaggle_sample" / "images"
    if not folder.is_dir():
        pytest.skip("../shared/data/gz_kaggle_sample is absent")
    return folder


# No test may reach a model hub or phone home: fail fast instead of retrying for a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def run_study(params, raw: Path, root: Path):
    """Every stage of the model-on-task branch, in order, as the DAG runs them (files under ``root``); returns
    (split counts, test metrics, figure paths)."""
    from galzoo.studies import StageFiles, resolve, study_for

    params = resolve(params)
    study = study_for(params)
    files = StageFiles(raw=raw, store=root / "store", split=root / "split.csv", model=root / "model.pt",
                       live=root / "live", metrics=root / "test.json", predictions=root / "pred.npz",
                       confusion=root / "confusion.csv", counts=root / "counts.json", plots=root / "plots")
    study.build_store(params, files)
    counts = study.split(params, files)
    study.train(params, files)
    metrics = study.evaluate(params, files)
    return counts, metrics, study.plot(params, files)
