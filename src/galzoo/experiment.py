"""The model-on-task branch of the DAG: ``model`` trained on ``task`` with that task's study recipe.

Each task names its study (:attr:`galzoo.tasks.Task.study`): the classes of Dai & Tong (and a folder's
classes) take the CNN-comparison recipe of :mod:`galzoo.classifier`; the 37 vote fractions (``votes37``) the
EfficientNet-B0 study's recipe of :mod:`galzoo.efficientnet_study`; Perseus membership (``perseus_member``)
Pruitt's of :mod:`galzoo.perseus_study`. ``task: auto`` is the task of the study a model comes from (and
``perseus_member`` whenever ``data.source`` is ``perseus``), so ``dvc exp run -S model=efficientnet_b0`` is
study 3 and ``-S model=alexnet`` is the CNN comparison; name the task to train any model on any task. The
stage scripts call only this module.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from galzoo import classifier, efficientnet_study, perseus_study
from galzoo.config import Params
from galzoo.errors import ConfigError
from galzoo.dataset import open_raw_dataset
from galzoo.preprocess.store import KAGGLE_IMAGE_SIZE, build_store
from galzoo.tasks import get_task

AUTO = "auto"
#: ``task: auto`` for models whose study is not the CNN comparison.
HOME_TASKS = {"efficientnet_b0": "votes37"}
DEFAULT_TASK = "gz2_5class"


def resolve(params: Params) -> Params:
    """``params`` with ``task: auto`` replaced by the model's own task (Perseus data: perseus_member)."""
    if params.task != AUTO:
        return params
    if params.data.source == "perseus":
        return dataclasses.replace(params, task=perseus_study.TASK)
    return dataclasses.replace(params, task=HOME_TASKS.get(params.model, DEFAULT_TASK))


def study_of(params: Params) -> str:
    """``cnn_comparison``, ``efficientnet`` or ``perseus``: whose recipe trains ``model`` on ``task``."""
    params = resolve(params)
    study = get_task(params.task).study
    if (study == "perseus") != (params.data.source == "perseus"):
        raise ConfigError(f"task: {params.task} and data.source: {params.data.source} do not go together; "
                          f"perseus_member is the task of data.source perseus, and the only one it has")
    return study


def is_classification(params: Params) -> bool:
    return get_task(resolve(params).task).kind == "classification"


def crop(params: Params, *, raw_dir: Path, out_dir: Path) -> None:
    """The array store the task's recipe reads: Dai & Tong's centre 240 px at 120 px, or Kalvankar's
    centre 212 px at the network's 224 px input."""
    params = resolve(params)
    if study_of(params) == "perseus":
        perseus_study.build_perseus_store(params, raw_dir=raw_dir, out_dir=out_dir)
        return
    if is_classification(params):
        scale, size = classifier.store_scale(params), params.classifier.crop.store_size
    else:
        scale, size = efficientnet_study.store_scale(params), params.efficientnet_study.crop.input_size
    raw = open_raw_dataset(raw_dir)
    # A user's folder may hold images of any size (at least 256 px); the published sets are 424 px.
    expected = None if params.data.source == "folder" else KAGGLE_IMAGE_SIZE
    build_store(raw.image_paths, list(raw.ids), out_dir, scales=(scale,), output_size=size,
                expected_size=expected, workers=params.crop.workers or None)


def split(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, counts_path: Path) -> dict:
    """The split of ``params.seed`` (stratified by class for classification) and its counts."""
    params = resolve(params)
    if study_of(params) == "perseus":
        return perseus_study.split_perseus(params, raw_dir=raw_dir, store_dir=store_dir, split_path=split_path,
                                           counts_path=counts_path)
    if is_classification(params):
        return classifier.split_classes(params, raw_dir=raw_dir, store_dir=store_dir, split_path=split_path,
                                        counts_path=counts_path)
    counts = {"task": params.task, "seed": params.seed,
              "subsets": efficientnet_study.split_votes(params, raw_dir=raw_dir, store_dir=store_dir,
                                                        split_path=split_path)}
    counts_path.parent.mkdir(parents=True, exist_ok=True)
    counts_path.write_text(json.dumps(counts, indent=2) + "\n")
    return counts


def train(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
          live_dir: Path) -> None:
    params = resolve(params)
    study = {"cnn_comparison": classifier.train_classifier, "efficientnet": efficientnet_study.train_votes,
             "perseus": perseus_study.train_perseus}[study_of(params)]
    study(params, raw_dir=raw_dir, store_dir=store_dir, split_path=split_path, model_path=model_path,
          live_dir=live_dir)


def evaluate(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
             metrics_path: Path, predictions_path: Path, confusion_path: Path) -> dict:
    """Test scores (accuracy, F1, AUC with bootstrap intervals; or RMSE beside the paper's) and the
    actual/predicted CSV of the DVC confusion plot (for votes37: the majority answer to Q1)."""
    params = resolve(params)
    study = {"cnn_comparison": classifier.evaluate_classifier, "efficientnet": efficientnet_study.evaluate_votes,
             "perseus": perseus_study.evaluate_perseus}[study_of(params)]
    return study(params, raw_dir=raw_dir, store_dir=store_dir, split_path=split_path, model_path=model_path,
                 metrics_path=metrics_path, predictions_path=predictions_path, confusion_path=confusion_path)


def plot(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
         predictions_path: Path, out_dir: Path) -> list[Path]:
    params = resolve(params)
    if study_of(params) == "perseus":
        return perseus_study.plot_perseus(params, raw_dir=raw_dir, store_dir=store_dir, split_path=split_path,
                                          model_path=model_path, predictions_path=predictions_path, out_dir=out_dir)
    if is_classification(params):
        return classifier.plot_classifier(params, raw_dir=raw_dir, store_dir=store_dir, split_path=split_path,
                                          model_path=model_path, predictions_path=predictions_path,
                                          out_dir=out_dir)
    return efficientnet_study.plot_votes(raw_dir=raw_dir, predictions_path=predictions_path, out_dir=out_dir)


def summary(metrics: dict) -> str:
    """One line for the stage log."""
    if metrics.get("task") == perseus_study.TASK:
        return perseus_study.summary(metrics)
    if "accuracy" in metrics:
        low, high = metrics["ci95"]["accuracy"]["low"], metrics["ci95"]["accuracy"]["high"]
        return (f"{metrics['model']} on {metrics['task']}: accuracy {metrics['accuracy']:.4f} [{low:.4f}, "
                f"{high:.4f}], macro F1 {metrics['macro_f1']:.4f}, AUC {metrics['auc']:.4f} on "
                f"{metrics['n_test']} test galaxies")
    paper = metrics["paper"]
    beside = f" (paper: val {paper['val_rmse']}, Kaggle test {paper['test_rmse']})" if paper else ""
    return (f"{metrics['model']} on {metrics['task']}: test RMSE {metrics['rmse']:.5f}, val RMSE "
            f"{metrics['val_rmse']:.5f} on {metrics['n_test']} / {metrics['n_val']} galaxies{beside}")
