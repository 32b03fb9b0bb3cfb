"""Study 3 (Kalvankar et al. 2020, replicated by Núñez Beltrán & Reyes): the 37 vote fractions from the
central 212 px, resized to 224, with EfficientNet-B0 under a dense-64 sigmoid head; the head is trained
first with the backbone frozen, then everything (Adam, lr x0.8 on plateaus, early stopping, best weights).

Any registered model can take this recipe (``-S task=votes37 -S model=...``); ``efficientnet_b0`` is the
paper's. Validation and test images get the same centre crop as training (the original code skipped it for
validation) because all of them are read from one array store.
"""
from __future__ import annotations

import json
import math
import sys
from functools import partial
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from galzoo import tree
from galzoo.config import Params
from galzoo.errors import DataError
from galzoo.evaluation.baselines import training_mean_baseline
from galzoo.evaluation.regression import predict, regression_scores
from galzoo.labels import read_labels
from galzoo.models import create_model
from galzoo.models.checkpoint import load_checkpoint, save_checkpoint
from galzoo.models.pretrained import load_pretrained
from galzoo.paper import EFFICIENTNET, EFFICIENTNET_SOURCE
from galzoo.preprocess.prediction import (
    ModelInput,
    register_model_input,
    standardise,
    stats_from_metadata,
    store_view,
)
from galzoo.preprocess.store import load_index
from galzoo.splits import make_split, write_split
from galzoo.studies.base import EVALUATE_FILES, Run, StageFiles, Study, build_centre_crop_store
from galzoo.studies.registry import register_study
from galzoo.studies.tables import baseline_cell, group_runs, paper_cell, seeds_cell, std
from galzoo.training.augment import keras_augmentation
from galzoo.training.batch_augment import AffineAugment
from galzoo.training.data import LabelledStore
from galzoo.training.device_data import resident_train_val
from galzoo.training.loop import fit_phase
from galzoo.training.runtime import (
    TrainingRuntime,
    autocast_dtype,
    configure_threads,
    main_process_only,
    select_device,
    training_runtime,
)

TASK = "votes37"
#: ImageNet channel statistics in 0..255 units: what timm's pretrained networks expect, and harmless from scratch.
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


def store_scale(params: Params) -> str:
    """Name of the stored array: the centre ``source_side`` crop (stored at the network's input size)."""
    return f"crop{params.efficientnet.crop.source_side}"


def split_votes(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path) -> dict:
    """A random split of every labelled galaxy for ``params.seed``: test held out, then 85/15 train/val."""
    study = params.efficientnet
    ids = read_labels(raw_dir / "labels.csv").index.astype(str)
    stored = set(load_index(store_dir)["id"].astype(str))
    missing = [i for i in ids if i not in stored]
    if missing:
        raise DataError(f"{store_dir}: {len(missing)} labelled galaxies are not in the store, e.g. {missing[:5]}: "
                        f"re-run the crop stage")
    split = make_split(ids, test_fraction=study.split.test_fraction, val_fraction=study.split.val_fraction,
                       seed=params.seed)
    write_split(split, split_path)
    return split["subset"].value_counts().to_dict()


def input_size(params: Params) -> int:
    """The network's input side under ``params.budget`` (the embedded budget trains smaller inputs)."""
    return params.efficientnet.recipe_for(params.budget).input_size


def _model_for(params: Params):
    study = params.efficientnet
    head = {"hidden": study.head.hidden, "dropout": study.head.dropout} if study.output_layer == "mlp_sigmoid" else None
    model = create_model(params.model, num_outputs=37, input_size=input_size(params),
                         output_layer=study.output_layer, head=head)
    return model, head


def train_votes(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
                live_dir: Path, progress: bool = True) -> dict:
    """Both phases of the recipe under ``params.budget``; saves the best weights with their preprocessing.
    Under torchrun every process trains its share of each batch and rank 0 alone writes the outputs."""
    from dvclive import Live

    study = params.efficientnet
    recipe = study.recipe_for(params.budget)
    with training_runtime(params.runtime, params.seed) as rt:
        data = LabelledStore(store_dir, raw_dir, split_path, store_scale(params), TASK)
        if data.images.shape[1] != recipe.input_size:
            raise DataError(f"{store_dir}: crops stored at {data.images.shape[1]} px but budget {params.budget}'s "
                            f"efficientnet input_size is {recipe.input_size}: re-run crop_task")
        mean, std = np.asarray(IMAGENET_MEAN, np.float32), np.asarray(IMAGENET_STD, np.float32)
        train_set, val_set = _votes_splits(data, params, recipe.batch_size, mean, std, rt)
        model, head = _model_for(params)
        message = load_pretrained(model, study.pretrained)
        rt.seed_per_process(params.seed)
        if rt.dist.is_main:
            print(message, file=sys.stderr)
            print(f"{params.model} on {TASK} ({study.crop.source_side} px centre -> {recipe.input_size}), "
                  f"{rt.describe()}: {len(data.subsets['train'][1])} train / {len(val_set)} val galaxies, batch "
                  f"{recipe.batch_size}, budget {params.budget}, seed {params.seed}", file=sys.stderr)
        phases = {}
        live_logger = partial(Live, str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None)
        with main_process_only(rt.dist, live_logger) as live:
            for phase, epochs in (("head", recipe.head_epochs), ("full", recipe.full_epochs)):
                if epochs == 0:
                    continue
                trainable = _head_parameters(model) if phase == "head" else None
                outcome = fit_phase(model, trainable, train_set, val_set, recipe, epochs=epochs, device=rt.device,
                                    amp_dtype=rt.amp_dtype, seed=params.seed,
                                    eval_batch_size=params.evaluate.batch_size, live=live, progress=progress,
                                    label=f"[{params.model}]", phase=phase, accel=rt.accel)
                phases[phase] = {"best_val_rmse": math.sqrt(outcome.best_val_loss), "best_epoch": outcome.best_epoch,
                                 "epochs_run": outcome.epochs_run, "stopped_early": outcome.stopped_early}
        if rt.dist.is_main:
            save_checkpoint(model_path, model, {
                "model": params.model, "task": TASK, "num_outputs": 37, "input_size": recipe.input_size,
                "output_layer": study.output_layer, "head": head, "scale": store_scale(params),
                "mean": mean.tolist(), "std": std.tolist(),
                "preprocessing": CentreCrop(study.crop.source_side, recipe.input_size).metadata(),
                "pretrained": study.pretrained, "phases": phases, "budget": params.budget, "seed": params.seed,
            })
    return phases


def _votes_splits(data: LabelledStore, params: Params, batch_size: int, mean: np.ndarray, std: np.ndarray,
                  rt: TrainingRuntime):
    """Training batches and the validation split for ``rt.data_path``: Keras-style augmentation per sample
    with albumentations through a DataLoader, or drawn in batches on the device-resident split."""
    study = params.efficientnet
    if rt.data_path == "loader":
        augmentation = keras_augmentation(study.augment, seed=params.seed + rt.dist.rank)
        return data.dataset("train", mean, std, augmentation), data.dataset("val", mean, std)
    augment = AffineAugment.keras(study.augment, mean, std, rt.device)
    return resident_train_val(data, augment, batch_size=batch_size, seed=params.seed, rt=rt,
                              shuffle=study.recipe_for(params.budget).shuffle)


def _head_parameters(model) -> list:
    """What the frozen-backbone phase trains: the head when the model has one, else its last dense layer."""
    if hasattr(model, "head_parameters"):
        return model.head_parameters()
    from torch import nn

    dense = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not dense:
        raise DataError(f"{type(model).__name__}: no dense layer to train with the backbone frozen; "
                        f"set efficientnet.recipe.head_epochs to 0")
    return list(dense[-1].parameters())


def evaluate_votes(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
                   metrics_path: Path, predictions_path: Path, confusion_path: Path) -> dict:
    """RMSE over the 37 answers (the Kaggle metric) on the validation and test parts, beside the paper's.

    ``confusion_path`` gets the test galaxies' majority answer to Q1 (smooth / features or disk / star or
    artifact), true against predicted, for the DVC confusion plot every task of the DAG shares.
    """
    configure_threads(params.runtime.threads)
    device = select_device(params.runtime.device)
    amp = autocast_dtype(params.runtime.precision, device)
    model, meta = load_checkpoint(model_path, device)
    if meta["task"] != TASK:
        raise DataError(f"{model_path}: model was trained on task {meta['task']!r}, not {TASK!r}")
    data = LabelledStore(store_dir, raw_dir, split_path, meta["scale"], TASK)
    mean, std = np.asarray(meta["mean"], np.float32), np.asarray(meta["std"], np.float32)
    scores, test = {}, None
    for subset in ("val", "test"):
        pred, true = predict(model, data.dataset(subset, mean, std), batch_size=params.evaluate.batch_size,
                             device=device, amp_dtype=amp)
        scores[subset] = regression_scores(pred, true)
        if subset == "test":
            test = (pred, true)
    metrics = {"model": meta["model"], "task": TASK, "seed": params.seed, "budget": meta["budget"],
               "pretrained": meta["pretrained"], "n_val": int(len(data.subsets["val"][0])),
               "n_test": int(len(test[1])), "rmse": scores["test"]["rmse"], "val_rmse": scores["val"]["rmse"],
               "phases": meta["phases"], "val": scores["val"], "test": scores["test"],
               "baseline": training_mean_baseline(data.subsets["train"][2], test[1]),
               "paper": EFFICIENTNET.get(meta["model"], {})}
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    predictions_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(predictions_path, ids=data.subsets["test"][0].astype(str), pred=test[0], true=test[1])
    q1 = tree.question(1)
    names = np.asarray(q1.answers)
    columns = tree.question_slice(q1)
    confusion_path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"GalaxyID": data.subsets["test"][0], "actual": names[test[1][:, columns].argmax(1)],
                  "predicted": names[test[0][:, columns].argmax(1)]}).to_csv(confusion_path, index=False)
    return metrics


#: Answers shown in the plots: the ones the replication's galleries (figs. 23-31) and Dai & Tong's classes use.
GALLERY_ANSWERS = ("Class1.1", "Class1.2", "Class2.1", "Class4.1", "Class7.1", "Class7.3")


def plot_votes(*, raw_dir: Path, predictions_path: Path, out_dir: Path, per_row: int = 8) -> list[Path]:
    """Predicted against true fractions for a few answers, and the test galaxies with the highest
    predicted value of each (the replication's figures 23-31, here on the held-out test part)."""
    from galzoo.labels import ID_COLUMN
    from galzoo.plots.curves import plot_predicted_vs_true
    from galzoo.plots.gallery import plot_prediction_gallery

    with np.load(predictions_path) as saved:
        ids, pred, true = saved["ids"], saved["pred"], saved["true"]
    scatter = out_dir / "predicted_vs_true.png"
    plot_predicted_vs_true({"test": (pred, true)}, scatter, answers=GALLERY_ANSWERS)
    frame = pd.DataFrame(pred, columns=list(tree.ANSWER_COLUMNS))
    frame.insert(0, ID_COLUMN, ids.astype(str))
    gallery = plot_prediction_gallery(frame, raw_dir / "images", list(GALLERY_ANSWERS), out_dir / "gallery.png",
                                      n=per_row, source=str(predictions_path))
    return [scatter, gallery]


@register_model_input
@dataclass(frozen=True)
class CentreCrop(ModelInput):
    """The EfficientNet study's input: the centre ``crop_side`` square resized to ``size`` px (the row of the
    crop stage's ``crop<crop_side>`` array), then ``(x - mean) / std`` in 0-255 units as in training, or
    ``x / 255`` when the checkpoint has no statistics."""

    kind: ClassVar[str] = "centre_crop"
    crop_side: int
    size: int
    stats: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_metadata(cls, meta: dict, settings: dict) -> CentreCrop:
        return cls(int(settings["crop_side"]), int(settings["size"]), stats_from_metadata(meta))

    def metadata(self) -> dict:
        return {"kind": self.kind, "crop_side": self.crop_side, "size": self.size}

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        crop = store_view(rgb, f"crop{self.crop_side}", self.size)
        return standardise(crop if self.stats is not None else crop.astype(np.float32) / 255.0, self.stats)[None]


class EfficientNetStudy(Study):
    """Kalvankar et al.: ``model`` on the 37 vote fractions from the centre 212 px at 224, head then full."""

    name = "efficientnet"
    title = "EfficientNet-B0 on the 37 vote fractions (Kalvankar et al. 2020)"
    default_task = TASK
    home_models = ("efficientnet_b0",)
    run_plots = ("plots/model/predicted_vs_true.png", "plots/model/gallery.png")

    def build_store(self, params: Params, files: StageFiles) -> None:
        """The centre ``source_side`` crop at the network's input size under ``params.budget``."""
        build_centre_crop_store(params, files, source_side=params.efficientnet.crop.source_side,
                                size=input_size(params))

    def split(self, params: Params, files: StageFiles) -> dict:
        counts = {"task": params.task, "seed": params.seed,
                  "subsets": split_votes(params, raw_dir=files.raw, store_dir=files.store, split_path=files.split)}
        files.counts.parent.mkdir(parents=True, exist_ok=True)
        files.counts.write_text(json.dumps(counts, indent=2) + "\n")
        return counts

    def train(self, params: Params, files: StageFiles) -> None:
        train_votes(params, **files.kwargs("raw", "store", "split", "model", "live"))

    def evaluate(self, params: Params, files: StageFiles) -> dict:
        return evaluate_votes(params, **files.kwargs(*EVALUATE_FILES))

    def plot(self, params: Params, files: StageFiles) -> list[Path]:
        return plot_votes(raw_dir=files.raw, predictions_path=files.predictions, out_dir=files.plots)

    def summary(self, metrics: dict) -> str:
        paper = metrics["paper"]
        beside = f" (paper: val {paper['val_rmse']}, Kaggle test {paper['test_rmse']})" if paper else ""
        baseline = metrics.get("baseline")
        mean = f", training-mean test RMSE {baseline['rmse']:.5f}" if baseline else ""
        return (f"{metrics['model']} on {metrics['task']}: test RMSE {metrics['rmse']:.5f}, val RMSE "
                f"{metrics['val_rmse']:.5f} on {metrics['n_test']} / {metrics['n_val']} galaxies{mean}{beside}")

    def variant(self, run: Run) -> str:
        """The output layer (``mlp_sigmoid``, ``tree``), as the experiment's params say."""
        return str((run.params.get(self.name) or {}).get("output_layer", ""))

    def report(self, runs: list[Run]) -> list[str]:
        """RMSE over the 37 answers, mean ± std over seeds and the best run, beside the paper's validation and
        Kaggle-test RMSE and the test RMSE of predicting the training mean for every galaxy."""
        if not runs:
            return []
        lines = ["# The 37 vote fractions (EfficientNet-B0 study)", "",
                 f"RMSE over all 37 answers (the Kaggle metric). Paper: {EFFICIENTNET_SOURCE}; its test score is on "
                 "Kaggle's private test set, ours on the held-out test part. Baseline: every galaxy predicted as "
                 "the training split's mean vote fractions (mean over seeds; n/a: the metrics predate it, re-run "
                 "evaluate_model).", "",
                 "| model | output | budget | pretrained | seeds | val RMSE mean ± std | test RMSE mean ± std | "
                 "test RMSE best | paper val | paper test | training-mean test RMSE |",
                 "|---|---|---|---|---|---|---|---|---|---|---|"]
        for (_, budget, model, output), members in group_runs(runs, self.variant):
            val = np.array([r.metrics["val_rmse"] for r in members])
            test = np.array([r.metrics["rmse"] for r in members])
            paper = EFFICIENTNET.get(model, {})
            pretrained = ", ".join(sorted({str(r.metrics.get("pretrained", "none")) for r in members}))
            lines.append(f"| {model} | {output or '—'} | {budget} | {pretrained} | {seeds_cell(members)} | "
                         f"{val.mean():.4f} ± {std(val):.4f} | {test.mean():.4f} ± {std(test):.4f} | "
                         f"{test.min():.4f} | {paper_cell(paper, 'val_rmse', 4)} | "
                         f"{paper_cell(paper, 'test_rmse', 4)} | {baseline_cell(members, 'rmse', 4)} |")
        lines.append("")
        return lines


register_study(EfficientNetStudy())
