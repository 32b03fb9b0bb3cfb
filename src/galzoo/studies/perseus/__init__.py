"""Study 4 (Pruitt 2024): Perseus cluster member or background, from SDSS cutouts, any registered model.

The pipeline of the paper (sec. 3), each step a function whose counts are reported:

1. the PCC's seven classes collapse to member (4, 6) / background (1, 2, 3, 7); mergers (5) are dropped;
2. bright cut on the PCC's r magnitude;
3. objects without a cutout are counted and dropped;
4. the red-image filter: more than half the pixels red (:func:`red_fraction`);
5. a balanced random sample (the smaller class's count from each class);
6. the spectroscopic additions within 45' (member if 0.01 < z < 0.033), red-filtered too, merged with the PCC
   object they coincide with (the same galaxy must not be two objects, or its copies could straddle splits);

then a split *by object* (75/25 train/test, then 75/25 train/validation), and only then the rotated copies
(the authors' validation split was drawn from the rotated images, so copies of one galaxy leaked across it).
The independent set is every spectroscopic object with a cutout that is not a training object.

This module holds the study (training, scoring, figures, its report rows and its checkpoint's model input);
``pixels``, ``store``, ``selection`` and ``data`` hold the steps before the network.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from galzoo.config import Params
from galzoo.errors import DataError
from galzoo.evaluation.baselines import majority_class_baseline
from galzoo.evaluation.classification import bootstrap_intervals, classification_scores
from galzoo.models import create_model
from galzoo.models.checkpoint import load_checkpoint, save_checkpoint
from galzoo.paper import PERSEUS, PERSEUS_SOURCE
from galzoo.preprocess.prediction import ModelInput, register_model_input
from galzoo.studies.base import EVALUATE_FILES, PLOT_FILES, Run, StageFiles, Study
from galzoo.studies.perseus.data import PerseusData, RotatedCopies
from galzoo.studies.perseus.pixels import (RED_SEQUENCE_INTERCEPTS, RED_SEQUENCE_SLOPE, REGIONS, resize_cutout,
                                           to_greyscale)
from galzoo.studies.perseus.selection import TASK, split_perseus
from galzoo.studies.perseus.store import build_perseus_store
from galzoo.studies.registry import register_study
from galzoo.studies.tables import baseline_cell, group_runs, seeds_cell, std
from galzoo.tasks import PERSEUS_CLASS_NAMES
from galzoo.training.device_data import LoaderBatches
from galzoo.training.imbalance import imbalance_remedy
from galzoo.training.inference import DatasetBatches, predict_batches
from galzoo.training.loop import EarlyStopping, Epochs, LrSchedule, train
from galzoo.training.runtime import (TrainingRuntime, autocast_dtype, configure_threads, main_process_only,
                                     seed_everything, select_device, training_runtime)



def _lr_factor(recipe, step: int) -> float:
    """Keras' ExponentialDecay (not staircase): ``rate ** (step / decay_steps)``."""
    return recipe.lr_decay_rate ** (step / recipe.lr_decay_steps)


def predict_copies(model: nn.Module, dataset: RotatedCopies, *, batch_size: int, device: torch.device,
                   amp_dtype: torch.dtype | None) -> np.ndarray:
    """Softmax probabilities of every copy, ``objects x angles x classes``, in eval mode."""
    probs = predict_batches(model, DatasetBatches(dataset, batch_size), device=device, amp_dtype=amp_dtype,
                            softmax=True)
    if not len(probs):
        return np.zeros((0, len(dataset.angles), len(PERSEUS_CLASS_NAMES)))
    return probs.reshape(len(dataset.rows), len(dataset.angles), -1)


def train_perseus(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
                  live_dir: Path, progress: bool = True) -> None:
    """Train ``params.model`` on the rotated copies of the training objects (SGD, Keras-style exponential lr
    decay per step); validation accuracy and loss on the validation objects' copies after every epoch; with
    ``restore_best`` the epoch of the lowest validation loss is the one saved.

    Under torchrun every process trains its share of each batch and rank 0 alone writes the outputs. The
    copies are always rotated per sample on the CPU: the study has no device data path.
    """
    from dvclive import Live

    s, recipe = params.perseus, params.perseus.recipe_for(params.budget)
    with training_runtime(params.runtime, params.seed, device_path=False) as rt:
        data = PerseusData(raw_dir, store_dir, split_path)
        if data.images.shape[1] != recipe.input_size:
            raise DataError(f"{store_dir}: cutouts stored at {data.images.shape[1]} px but the recipe's input_size "
                            f"is {recipe.input_size}: re-run crop_task")
        options = {"border": s.border, "greyscale": s.greyscale}
        train_set = data.dataset("train", s.rotations_deg, **options)
        validate = _copies_validation(data, s.rotations_deg, options, batch_size=params.evaluate.batch_size, rt=rt)
        model = create_model(params.model, num_outputs=len(PERSEUS_CLASS_NAMES), input_size=recipe.input_size)
        model.to(rt.device)
        rt.seed_per_process(params.seed)
        optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                    weight_decay=recipe.weight_decay)
        copy_labels = np.repeat(train_set.labels.numpy(), len(train_set.angles))  # object-major, as the copies
        loss_fn, draw_weights = imbalance_remedy(s.imbalance, copy_labels, len(PERSEUS_CLASS_NAMES), device=rt.device)
        batches = LoaderBatches(train_set, recipe.batch_size, seed=params.seed, device=rt.device, dist=rt.dist,
                                draw_weights=draw_weights)
        schedule = LrSchedule.per_step(optimizer, lambda done: _lr_factor(recipe, done))
        stopping = EarlyStopping("loss", recipe.early_stop_patience, restore_best=recipe.restore_best)
        if rt.dist.is_main:
            print(f"{params.model} on {TASK}, {rt.describe()}: {len(data.subset('train'))} train / "
                  f"{len(data.subset('val'))} val objects x {len(s.rotations_deg)} rotations, {recipe.input_size} px "
                  f"{'grey' if s.greyscale else 'RGB'}, {recipe.epochs} epochs of {len(batches)} batches of "
                  f"{recipe.batch_size}, budget {params.budget}, imbalance remedy {s.imbalance}", file=sys.stderr)
        with main_process_only(rt.dist, lambda: Live(str(live_dir), dvcyaml=False, save_dvc_exp=False,
                                                     report=None)) as live:
            log = train(model, batches, optimizer, loss_fn, length=Epochs(recipe.epochs),
                        validate=validate, fix="lower perseus.recipe.lr", schedule=schedule, stopping=stopping,
                        device=rt.device, amp_dtype=rt.amp_dtype, accel=rt.accel, live=live, progress=progress,
                        label=f"[{params.model}]")
        if rt.dist.is_main:
            save_checkpoint(model_path, model, {
                "model": params.model, "task": TASK, "num_outputs": len(PERSEUS_CLASS_NAMES),
                "class_names": list(PERSEUS_CLASS_NAMES), "input_size": recipe.input_size, "output_layer": "linear",
                "scale": None, "mean": None, "std": None,
                "preprocessing": ResizeCutout(recipe.input_size, s.greyscale, 1 / 255).metadata(),
                "budget": params.budget, "seed": params.seed, "greyscale": s.greyscale,
                "rotations_deg": list(s.rotations_deg), "border": s.border, "imbalance": s.imbalance,
                "epoch": stopping.best_at if recipe.restore_best else len(log), "val_loss": stopping.best,
            })


def _copies_validation(data: PerseusData, angles: list[float], options: dict, *, batch_size: int,
                       rt: TrainingRuntime) -> Callable[[nn.Module], dict[str, float]]:
    """The loop's ``validate``: Keras' val_loss (cross-entropy) and val_accuracy over every rotated copy of
    the validation objects. With several processes each predicts a share of the objects and the shares are
    gathered, so that every process takes the same decisions from the same figures."""
    part = data.subset("val")
    labels = part["label"].astype(int).to_numpy()
    shard = rt.dist.shard(len(part))
    copies = RotatedCopies(data.images, part["row"].to_numpy()[shard], labels[shard], angles, **options)
    truth = np.repeat(labels, len(angles))

    def validate(model: nn.Module) -> dict[str, float]:
        probs = predict_copies(model, copies, batch_size=batch_size, device=rt.device, amp_dtype=rt.amp_dtype)
        (probs,) = rt.dist.gather_rows(shard, probs, n=len(part))
        flat = probs.reshape(-1, probs.shape[-1])
        return {"loss": float(-np.log(np.clip(flat[np.arange(len(truth)), truth], 1e-12, None)).mean()),
                "accuracy": float((flat.argmax(1) == truth).mean())}

    return validate


def _scores(labels: np.ndarray, probs: np.ndarray) -> dict:
    if len(labels) == 0:
        return {"n": 0}
    scores = classification_scores(labels, probs, PERSEUS_CLASS_NAMES)
    return {"n": int(len(labels)), **scores, "member_f1": scores["per_class"]["member"]["f1"]}


def _by_region(objects: pd.DataFrame, probs: np.ndarray) -> dict:
    regions = {}
    for region in (*REGIONS, ""):
        pick = (objects["region"] == region).to_numpy()
        regions[region or "no_photometry"] = _scores(objects["label"].to_numpy()[pick].astype(int), probs[pick])
    return regions


def evaluate_perseus(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
                     metrics_path: Path, predictions_path: Path, confusion_path: Path) -> dict:
    """Scores on the test split as the paper counts them (every rotated copy an image), per object (the
    copies' probabilities averaged), on the independent set (the cutouts as they are), and per colour region."""
    configure_threads(params.runtime.threads)
    seed_everything(params.seed)
    device = select_device(params.runtime.device)
    amp = autocast_dtype(params.runtime.precision, device)
    model, meta = load_checkpoint(model_path, device)
    if meta.get("task") != TASK:
        raise DataError(f"{model_path}: model was trained on task {meta.get('task')!r}, not {TASK}")
    data = PerseusData(raw_dir, store_dir, split_path)
    options = {"border": meta["border"], "greyscale": meta["greyscale"]}
    angles, batch = meta["rotations_deg"], params.evaluate.batch_size

    def probabilities(subset: str, subset_angles: list[float]) -> np.ndarray:
        return predict_copies(model, data.dataset(subset, subset_angles, **options), batch_size=batch,
                              device=device, amp_dtype=amp)

    test = data.subset("test")
    test_probs = probabilities("test", angles)
    test_labels = test["label"].to_numpy().astype(int)
    per_image = _scores(np.repeat(test_labels, len(angles)), test_probs.reshape(-1, test_probs.shape[-1]))
    per_object_probs = test_probs.mean(axis=1)
    independent = data.subset("independent")
    independent_probs = probabilities("independent", [0])[:, 0]
    independent_labels = independent["label"].to_numpy().astype(int)
    intervals = bootstrap_intervals(test_labels, per_object_probs, seed=params.seed) if len(test) else {}
    metrics = {
        "model": meta["model"], "task": TASK, "seed": params.seed, "budget": meta["budget"],
        "greyscale": bool(meta["greyscale"]), "input_size": meta["input_size"], "epoch": meta.get("epoch"),
        "accuracy": per_image.get("accuracy"), "macro_f1": per_image.get("macro_f1"),
        "member_f1": per_image.get("member_f1"),
        "independent_accuracy": _scores(independent_labels, independent_probs).get("accuracy"),
        "baseline": majority_class_baseline(data.subset("train")["label"].to_numpy().astype(int), test_labels,
                                            tuple(PERSEUS_CLASS_NAMES)) if len(test) else None,
        "test_images": per_image,
        "test_objects": {**_scores(test_labels, per_object_probs),
                         "ci95": {k: {"low": lo, "high": hi} for k, (lo, hi) in intervals.items()}},
        "independent": _scores(independent_labels, independent_probs),
        "regions": {"test_objects": _by_region(test, per_object_probs),
                    "independent": _by_region(independent, independent_probs)},
    }
    if not len(independent):
        metrics["independent"]["note"] = ("no spectroscopic object with a cutout is left outside training: fetch the "
                                          "independent set's cutouts (data.perseus.mode: sdss), or train without "
                                          "the spectroscopic additions (perseus.selection.spec_additions: false)")
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    everything = data.objects  # every selected and independent object, unrotated, for the diagram
    unrotated = predict_copies(
        model, RotatedCopies(data.images, everything["row"].to_numpy(), everything["label"].to_numpy().astype(int),
                             [0], **options), batch_size=batch, device=device, amp_dtype=amp)[:, 0]
    predictions_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(predictions_path, ids=everything.index.to_numpy().astype(str),
                        subsets=everything["subset"].to_numpy().astype(str), labels=everything["label"].to_numpy(),
                        unrotated=unrotated, test_ids=test.index.to_numpy().astype(str),
                        test_copies=test_probs, angles=np.asarray(angles, np.float64),
                        r_sdss=everything["r_sdss"].to_numpy(np.float64), g_z=everything["g_z"].to_numpy(np.float64),
                        class_names=np.asarray(PERSEUS_CLASS_NAMES))
    names = np.asarray(PERSEUS_CLASS_NAMES)
    confusion_path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"actual": names[np.repeat(test_labels, len(angles))],
                  "predicted": names[test_probs.reshape(-1, test_probs.shape[-1]).argmax(1)]}).to_csv(
        confusion_path, index=False)
    return metrics


def plot_perseus(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
                 predictions_path: Path, out_dir: Path) -> list[Path]:
    """Confusion matrix and ROC of the test split (every copy an image), and the colour-magnitude diagram of
    the objects coloured by label and by whether the prediction on the unrotated cutout is right."""
    from galzoo.evaluation.classification import confusion_matrix
    from galzoo.plots.classification import plot_colour_magnitude, plot_confusion, plot_roc

    _, meta = load_checkpoint(model_path, "cpu")
    with np.load(predictions_path) as saved:
        p = {key: saved[key] for key in saved.files}
    copies = p["test_copies"].reshape(-1, p["test_copies"].shape[-1])
    test_labels = np.repeat(p["labels"][p["subsets"] == "test"].astype(int), len(p["angles"]))
    names = tuple(PERSEUS_CLASS_NAMES)
    title = (f"{meta['model']} on {TASK} ({'greyscale' if meta['greyscale'] else 'colour'}, seed {meta['seed']}, "
             f"budget {meta['budget']})")
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        plot_confusion(confusion_matrix(test_labels, copies.argmax(1), len(names)), names,
                       out_dir / "confusion_matrix.png", title=f"Test split, every rotated copy: {title}"),
        plot_roc(test_labels, copies, names, out_dir / "roc.png", title=f"ROC, test split: {title}"),
        plot_colour_magnitude(p["g_z"], p["r_sdss"], p["labels"].astype(int), p["unrotated"].argmax(1), p["subsets"],
                              names, RED_SEQUENCE_SLOPE, RED_SEQUENCE_INTERCEPTS, out_dir / "colour_magnitude.png",
                              title=title),
    ]


@register_model_input
@dataclass(frozen=True)
class ResizeCutout(ModelInput):
    """Pruitt's input: the whole cutout resized to ``size`` px, grey if trained so, times ``rescale`` (the
    Perseus store + ``RotatedCopies`` at angle 0). Any cutout size fits."""

    kind: ClassVar[str] = "resize"
    any_image_size: ClassVar[bool] = True
    size: int
    greyscale: bool
    rescale: float

    @classmethod
    def from_metadata(cls, meta: dict, settings: dict) -> ResizeCutout:
        return cls(int(settings["size"]), bool(settings["greyscale"]), float(settings["rescale"]))

    def metadata(self) -> dict:
        return {"kind": self.kind, "size": self.size, "greyscale": self.greyscale, "rescale": self.rescale}

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        image = resize_cutout(rgb, self.size)
        image = to_greyscale(image) if self.greyscale else image
        return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)[None] * np.float32(self.rescale)


class PerseusStudy(Study):
    """Pruitt: ``model`` on Perseus cluster membership, from the study's own data source."""

    name = "perseus"
    title = "Perseus cluster membership (Pruitt 2024)"
    default_task = TASK
    data_sources = ("perseus",)
    run_plots = ("plots/model/confusion_matrix.png", "plots/model/roc.png", "plots/model/colour_magnitude.png")

    def build_store(self, params: Params, files: StageFiles) -> None:
        build_perseus_store(params, raw_dir=files.raw, out_dir=files.store)

    def split(self, params: Params, files: StageFiles) -> dict:
        return split_perseus(params, **files.kwargs("raw", "store", "split", "counts"))

    def train(self, params: Params, files: StageFiles) -> None:
        train_perseus(params, **files.kwargs("raw", "store", "split", "model", "live"))

    def evaluate(self, params: Params, files: StageFiles) -> dict:
        return evaluate_perseus(params, **files.kwargs(*EVALUATE_FILES))

    def plot(self, params: Params, files: StageFiles) -> list[Path]:
        return plot_perseus(params, **files.kwargs(*PLOT_FILES))

    def summary(self, metrics: dict) -> str:
        independent = metrics["independent"]
        beside = (f"independent accuracy {independent['accuracy']:.3f} on {independent['n']} objects"
                  if independent["n"] else "no independent objects")
        baseline = metrics.get("baseline")
        majority = f", majority class {baseline['accuracy']:.3f}" if baseline else ""
        return (f"{metrics['model']} on {TASK} ({'grey' if metrics['greyscale'] else 'colour'}): test accuracy "
                f"{metrics['accuracy']:.3f} over {metrics['test_images']['n']} images (paper "
                f"{PERSEUS['test_accuracy']}{majority}), member F1 {metrics['member_f1']:.3f}, macro F1 "
                f"{metrics['macro_f1']:.3f}; {beside} (paper {PERSEUS['independent_accuracy']})")

    def variant(self, run: Run) -> str:
        """``colour`` or ``greyscale`` (the paper's ablation), with ``, no spectroscopic additions`` when the
        experiment switched them off (its independent set is then not empty), and with the imbalance remedy
        (``, balanced sampling``) when it trained with one."""
        colour = "greyscale" if run.metrics.get("greyscale") else "colour"
        section = run.params.get(self.name) or {}
        selection = section.get("selection") or {}
        label = f"{colour}, no spectroscopic additions" if selection.get("spec_additions") is False else colour
        remedy = section.get("imbalance", "none")
        return label if remedy == "none" else f"{label}, {remedy.replace('_', ' ')}"

    def saved_run_params(self, counts: dict) -> dict:
        """Whether the saved run added the spectroscopic objects: its selection counts have that step only then
        (``selection.select_objects``); greyscale is in its metrics already."""
        steps = {step.get("step") for step in counts.get("selection") or []}
        return {self.name: {"selection": {"spec_additions": "spectroscopic additions" in steps}}}

    def report(self, runs: list[Run]) -> list[str]:
        """Pruitt's headline scores, ours (mean ± std over seeds) beside the paper's and the test split's majority
        class's, colour and greyscale as separate rows."""
        if not runs:
            return []
        lines = ["# Perseus cluster membership (Pruitt 2024)", "",
                 "Test split: every rotated copy of a test object counts as an image, as the paper's table 2. "
                 "Independent set: spectroscopic objects with a cutout that are not training objects, unrotated. "
                 f"Paper: {PERSEUS_SOURCE}. Baseline: always the training split's majority class, on the test "
                 "split (mean over seeds; n/a: the metrics predate it, re-run evaluate_model).", "",
                 "| model | input | budget | seeds | test images | test accuracy | test macro F1 | test member F1 | "
                 "independent objects | independent accuracy | independent member F1 | independent macro F1 | "
                 "majority class test accuracy | majority class test macro F1 |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

        def cell(members: list[Run], part: str, key: str) -> str:
            values = np.array([r.metrics[part].get(key, np.nan) for r in members], np.float64)
            if not np.isfinite(values).any():
                return "—"
            return f"{np.nanmean(values):.3f} ± {std(values[np.isfinite(values)]):.3f}"

        for (_, budget, model, variant), members in group_runs(runs, self.variant):
            m = members[0].metrics
            lines.append(
                f"| {model} | {m['input_size']} px {variant} | {budget} | {seeds_cell(members)} | "
                f"{m['test_images']['n']} | {cell(members, 'test_images', 'accuracy')} | "
                f"{cell(members, 'test_images', 'macro_f1')} | {cell(members, 'test_images', 'member_f1')} | "
                f"{m['independent']['n']} | {cell(members, 'independent', 'accuracy')} | "
                f"{cell(members, 'independent', 'member_f1')} | {cell(members, 'independent', 'macro_f1')} | "
                f"{baseline_cell(members, 'accuracy', 3)} | {baseline_cell(members, 'macro_f1', 3)} |")
        p = PERSEUS
        lines += [f"| paper (ResNet-50) | 200 px colour | 200 epochs | — | 1,840 | {p['test_accuracy']:.2f} | "
                  f"{p['test_macro_f1']:.2f} | {p['test_member_f1']:.2f} | 335 | {p['independent_accuracy']:.2f} | "
                  f"{p['independent_member_f1']:.2f} | {p['independent_macro_f1']:.2f} | — | — |", ""]
        return lines


register_study(PerseusStudy())
