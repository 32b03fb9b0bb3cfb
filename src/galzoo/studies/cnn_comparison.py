"""Study 2 (Dai & Tong 2018): any registered model trained on a classification task with the paper's
multi-scale preprocessing and recipe, scored with multi-scale test-time augmentation."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from galzoo.config import CnnComparisonAugmentParams, CnnComparisonParams, Params
from galzoo.config.schema import build
from galzoo.errors import ConfigError, DataError
from galzoo.evaluation.baselines import majority_class_baseline
from galzoo.evaluation.classification import (
    HEADLINE,
    bootstrap_intervals,
    classification_scores,
    predict_views,
    prior_adjusted,
)
from galzoo.models import create_model
from galzoo.models.checkpoint import load_checkpoint, save_checkpoint
from galzoo.paper import CNN_COMPARISON, CNN_COMPARISON_SOURCE
from galzoo.preprocess.prediction import ModelInput, register_model_input, store_view
from galzoo.preprocess.store import load_index
from galzoo.splits import make_stratified_split, write_split
from galzoo.studies.base import EVALUATE_FILES, PLOT_FILES, Run, StageFiles, Study, build_centre_crop_store
from galzoo.studies.registry import register_study
from galzoo.studies.tables import (
    baseline_cell,
    group_runs,
    lower_bound_above_baseline_cell,
    NOT_AVAILABLE,
    majority_class_cell,
    paper_cell,
    significance_lines,
    std,
)
from galzoo.tasks import class_counts, task_targets
from galzoo.training.batch_augment import MultiScaleAugment
from galzoo.training.data import LabelledStore
from galzoo.training.device_data import DeviceBatches, LoaderBatches
from galzoo.training.imbalance import class_counts_of, imbalance_remedy
from galzoo.training.loop import fit_iterations
from galzoo.training.multiscale import AugmentedCrops, MultiScaleCrops, multiscale_test_views
from galzoo.training.runtime import (
    autocast_dtype,
    configure_threads,
    main_process_only,
    seed_everything,
    select_device,
    training_runtime,
)


def store_scale(params: Params) -> str:
    """Name of the stored array the classifier stages read: the centre ``source_side`` crop."""
    return f"crop{params.cnn_comparison.crop.source_side}"


def split_classes(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, counts_path: Path) -> dict:
    """Write the stratified split of ``params.task``'s galaxies for ``params.seed`` and the class counts."""
    task, ids, classes = task_targets(params.task, raw_dir)
    class_counts(task, targets=classes)  # an empty class is an error naming it
    stored = set(load_index(store_dir)["id"].astype(str))
    missing = [i for i in ids.astype(str) if i not in stored]
    if missing:
        raise DataError(f"{store_dir}: {len(missing)} selected galaxies are not in the store, e.g. {missing[:5]}: "
                        f"re-run the crop_classifier stage")
    split = make_stratified_split(ids.astype(str), classes, test_fraction=params.cnn_comparison.split.test_fraction,
                                  val_fraction=params.cnn_comparison.split.val_fraction, seed=params.seed)
    write_split(split, split_path)
    table = pd.crosstab(pd.Categorical.from_codes(classes, task.class_names), split["subset"].to_numpy())
    counts = {"task": task.name, "seed": params.seed, "n_selected": int(len(ids)),
              "classes": {name: {subset: int(table.loc[name, subset]) for subset in ("train", "val", "test")}
                          for name in task.class_names}}
    counts_path.parent.mkdir(parents=True, exist_ok=True)
    counts_path.write_text(json.dumps(counts, indent=2) + "\n")
    return counts


def _crops(params: Params) -> MultiScaleCrops:
    c = params.cnn_comparison
    return MultiScaleCrops(c.augment, source_side=c.crop.source_side, store_size=c.crop.store_size)


def train_classifier(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
                     live_dir: Path, progress: bool = True) -> None:
    """Train ``params.model`` on ``params.task`` with the classifier recipe; save it with its preprocessing.
    Under torchrun every process trains its share of each batch and rank 0 alone writes the outputs."""
    from dvclive import Live

    with training_runtime(params.runtime, params.seed) as rt:
        device, amp, dist = rt.device, rt.amp_dtype, rt.dist
        data = LabelledStore(store_dir, raw_dir, split_path, store_scale(params), params.task)
        crops, sides = _crops(params), params.cnn_comparison.test_sides
        _, train_rows, train_labels = data.subsets["train"]
        _, val_rows, val_labels = data.subsets["val"]
        recipe = params.cnn_comparison.recipe_for(params.budget, params.model)
        loss_fn, draw_weights = imbalance_remedy(params.cnn_comparison.imbalance, train_labels,
                                                 data.task.num_outputs, device=device)
        if rt.data_path == "loader":
            train_set = LoaderBatches(AugmentedCrops(data.images, train_rows, train_labels, crops),
                                      recipe.batch_size, seed=params.seed, device=device, dist=dist,
                                      draw_weights=draw_weights)
        else:
            c = params.cnn_comparison
            augment = MultiScaleAugment(c.augment, source_side=c.crop.source_side, store_size=c.crop.store_size,
                                        device=device)
            train_set = DeviceBatches(data.images, train_rows, train_labels, augment, batch_size=recipe.batch_size,
                                      seed=params.seed, device=device, dist=dist,
                                      resident_fraction=rt.resident_fraction, memory_format=rt.accel.memory_format,
                                      draw_weights=draw_weights)
        val_views = multiscale_test_views(data.images, val_rows, crops, sides)
        val_labels = torch.as_tensor(val_labels)
        input_size = params.cnn_comparison.augment.input_size
        model = create_model(params.model, num_outputs=data.task.num_outputs, input_size=input_size)
        rt.seed_per_process(params.seed)
        shard = dist.shard(len(val_labels))

        def validate(m: nn.Module) -> dict[str, float]:
            probs = predict_views(m, val_views[shard] if dist.enabled else val_views,
                                  batch_size=params.evaluate.batch_size, device=device, amp_dtype=amp)
            (probs,) = dist.gather_rows(shard, probs, n=len(val_labels))
            mean = torch.as_tensor(probs.mean(axis=1))
            return {"accuracy": float((mean.argmax(1) == val_labels).double().mean()),
                    "loss": float(nn.functional.nll_loss(mean.clamp_min(1e-12).log(), val_labels))}

        if dist.is_main:
            print(f"{params.model} on {params.task}, {rt.describe()}: {len(train_rows)} train / {len(val_rows)} "
                  f"val galaxies, {recipe.iterations} iterations of {recipe.batch_size}, budget {params.budget}, "
                  f"seed {params.seed}, imbalance remedy {params.cnn_comparison.imbalance}", file=sys.stderr)
        live_logger = partial(Live, str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None)
        with main_process_only(dist, live_logger) as live:
            fit_iterations(model, train_set, recipe, loss_fn=loss_fn, validate=validate, device=device,
                           amp_dtype=amp, seed=params.seed, live=live, progress=progress, label=f"[{params.model}]",
                           accel=rt.accel)
        if dist.is_main:
            save_checkpoint(model_path, model, {
                "model": params.model, "task": params.task, "num_outputs": data.task.num_outputs,
                "class_names": list(data.task.class_names), "input_size": input_size, "output_layer": "linear",
                "scale": store_scale(params), "mean": None, "std": None,
                "preprocessing": MultiScaleViews(params.cnn_comparison.augment, params.cnn_comparison.crop.source_side,
                                                 params.cnn_comparison.crop.store_size, tuple(sides)).metadata(),
                "budget": params.budget, "seed": params.seed, "imbalance": params.cnn_comparison.imbalance,
            })


def training_prior(train_labels: np.ndarray, names: tuple[str, ...], power: float) -> np.ndarray:
    """The training split's share of each class, which ``cnn_comparison.prior_power`` divides by: every class
    must be in it, or its weight would be infinite."""
    counts = class_counts_of(train_labels, len(names))
    absent = [name for name, count in zip(names, counts) if count == 0]
    if power and absent:
        raise ConfigError(f"cnn_comparison.prior_power: {power} divides by each class's share of the training "
                          f"split, but {absent} has no training galaxy; set it to 0")
    return counts / counts.sum()


def evaluate_classifier(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
                        metrics_path: Path, predictions_path: Path, confusion_path: Path) -> dict:
    """Test scores of the multi-scale average (the headline) and of each test side alone, with bootstrap
    intervals; the per-view probabilities and the scored average go to ``predictions_path`` for the plots.

    ``test_rotations_flips`` averages each view over its 8 rotations and flips first; ``prior_power`` t > 0
    divides the averaged probabilities by the training class shares ** t (both off in the paper)."""
    configure_threads(params.runtime.threads)
    seed_everything(params.seed)
    device = select_device(params.runtime.device)
    amp = autocast_dtype(params.runtime.precision, device)
    model, meta = load_checkpoint(model_path, device)
    if meta["task"] != params.task:
        raise DataError(f"{model_path}: model was trained on task {meta['task']!r}, not {params.task!r}")
    data = LabelledStore(store_dir, raw_dir, split_path, meta["scale"], meta["task"])
    ids, rows, labels = data.subsets["test"]
    sides = meta["preprocessing"]["test_sides"]
    c = params.cnn_comparison
    views = multiscale_test_views(data.images, rows, _crops(params), sides)
    probs = predict_views(model, views, batch_size=params.evaluate.batch_size, device=device, amp_dtype=amp,
                          rotations_flips=c.test_rotations_flips)
    names = tuple(meta["class_names"])
    train_labels = data.subsets["train"][2]
    prior = training_prior(train_labels, names, c.prior_power)
    decided = prior_adjusted(probs.mean(axis=1), prior, c.prior_power)  # the multi-scale test-time average
    scores = classification_scores(labels, decided, names)
    intervals = bootstrap_intervals(labels, decided, seed=params.seed)
    per_view = prior_adjusted(probs, prior, c.prior_power)
    metrics = {
        "model": meta["model"], "task": meta["task"], "seed": params.seed, "budget": meta["budget"],
        "n_test": int(len(labels)),
        "test_rotations_flips": c.test_rotations_flips, "prior_power": c.prior_power,
        **{k: v for k, v in scores.items() if k != "confusion_matrix"},
        "ci95": {k: {"low": low, "high": high} for k, (low, high) in intervals.items()},
        "baseline": majority_class_baseline(train_labels, labels, names),
        "per_view_accuracy": {f"Q{side}": float((per_view[:, i].argmax(1) == labels).mean())
                              for i, side in enumerate(sides)},
    }
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    predictions_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(predictions_path, ids=ids.astype(str), labels=labels, probabilities=probs, decided=decided,
                        sides=np.asarray(sides), class_names=np.asarray(names))
    predicted = decided.argmax(axis=1)
    confusion_path.parent.mkdir(parents=True, exist_ok=True)
    # one row per test galaxy, named: the report pairs two models' answers galaxy by galaxy from this file
    pd.DataFrame({"GalaxyID": ids, "actual": np.asarray(names)[labels],
                  "predicted": np.asarray(names)[predicted]}).to_csv(confusion_path, index=False)
    return metrics


def plot_classifier(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
                    predictions_path: Path, out_dir: Path) -> list[Path]:
    """Confusion matrix, ROC curves, first-layer filters and feature maps of the trained classifier."""
    from galzoo.evaluation.classification import confusion_matrix
    from galzoo.plots.classification import plot_confusion, plot_roc
    from galzoo.plots.network import plot_feature_maps, plot_filters

    model, meta = load_checkpoint(model_path, "cpu")
    with np.load(predictions_path) as saved:
        labels, probs = saved["labels"], saved["decided"]
    names = tuple(meta["class_names"])
    title = f"{meta['model']} on {meta['task']} (seed {meta['seed']}, budget {meta['budget']})"
    paths = [
        plot_confusion(confusion_matrix(labels, probs.argmax(1), len(names)), names,
                       out_dir / "confusion_matrix.png", title=f"Confusion matrix, test set: {title}"),
        plot_roc(labels, probs, names, out_dir / "roc.png", title=f"ROC one-vs-rest, test set: {title}"),
        plot_filters(model, out_dir / "filters.png"),
    ]
    data = LabelledStore(store_dir, raw_dir, split_path, meta["scale"], meta["task"])
    ids, rows, test_labels = data.subsets["test"]
    per_class = params.cnn_comparison.visualize.galaxies_per_class
    chosen = np.concatenate([np.flatnonzero(test_labels == c)[:per_class] for c in range(len(names))])
    sides = meta["preprocessing"]["test_sides"]
    side = sides[len(sides) // 2]
    views = multiscale_test_views(data.images, rows[chosen], _crops(params), [side])[:, 0]
    captions = [f"{names[test_labels[i]]}\n{ids[i]}" for i in chosen]
    paths.append(plot_feature_maps(model, views, captions, out_dir / "feature_maps.png",
                                   maps_per_layer=params.cnn_comparison.visualize.feature_maps))
    return paths


@register_model_input
@dataclass(frozen=True)
class MultiScaleViews(ModelInput):
    """Dai & Tong's test input: the stored centre ``source_side`` crop at ``store_size`` px, then one whitened
    view per side in ``test_sides`` (``MultiScaleCrops.test_view``); the outputs are averaged over them."""

    kind: ClassVar[str] = "multiscale"
    augment: CnnComparisonAugmentParams
    source_side: int
    store_size: int
    test_sides: tuple[int, ...]

    @classmethod
    def from_metadata(cls, meta: dict, settings: dict) -> MultiScaleViews:
        if settings.get("whitening", "per_image") != "per_image":
            raise DataError(f"whitening {settings['whitening']!r}; galzoo predict knows 'per_image'")
        return cls(CnnComparisonAugmentParams(**settings["augment"]), int(settings["source_side"]),
                   int(settings["store_size"]), tuple(int(side) for side in settings["test_sides"]))

    def metadata(self) -> dict:
        return {"kind": self.kind, "source_side": self.source_side, "store_size": self.store_size,
                "augment": asdict(self.augment), "test_sides": list(self.test_sides), "whitening": "per_image"}

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        crops = MultiScaleCrops(self.augment, source_side=self.source_side, store_size=self.store_size)
        stored = store_view(rgb, f"crop{self.source_side}", self.store_size)
        return np.stack([crops.test_view(stored, side).transpose(2, 0, 1) for side in self.test_sides]
                        ).astype(np.float32)


PAPER_KEYS = {"accuracy": "max_accuracy", "macro_precision": "precision", "macro_recall": "recall",
              "macro_f1": "f1", "auc": "auc"}
"""Our headline score -> the key of the paper's Table 7 value in :data:`galzoo.paper.CNN_COMPARISON`."""


def _variant_of(run: Run) -> str:
    """What the run did beside the paper against imbalance or at test time ("" = nothing): runs that differ in
    it are told apart in the tables, never pooled."""
    section = run.params.get("cnn_comparison") or {}
    remedy = section.get("imbalance", "none")
    parts = [] if remedy == "none" else [remedy.replace("_", " ")]
    if section.get("test_rotations_flips", False):
        parts.append("test rotations and flips")
    if section.get("prior_power", 0):
        parts.append(f"prior^{section['prior_power']:g}")
    return ", ".join(parts)


def training_cell(members: list[Run]) -> str:
    """Iterations x batch size each run trained, from its recorded params (``800 x 32``; runs of one row that
    trained differently are listed apart). With per-network budgets the networks of one table trained
    different amounts, which the reader has to see beside the scores. n/a where the params are not recorded."""
    cells = []
    for run in members:
        try:
            section = build(CnnComparisonParams, run.params["cnn_comparison"], "cnn_comparison")
            recipe = section.recipe_for(run.metrics["budget"], run.metrics["model"])
        except (ConfigError, KeyError, TypeError):
            return NOT_AVAILABLE
        cell = f"{recipe.iterations} x {recipe.batch_size}"
        if cell not in cells:
            cells.append(cell)
    return ", ".join(cells)


def summarise(runs: list[Run]) -> list[dict]:
    """Per (task, budget, model): the seeds, mean, std and maximum of each headline score, and the bootstrap
    interval of the best run (maximum accuracy, as the paper's maxima)."""
    rows = []
    for (task, budget, model, variant), members in group_runs(runs, _variant_of):
        best = max(members, key=lambda r: r.metrics["accuracy"])
        row = {"task": task, "budget": budget, "model": model, "label": f"{model} ({variant})" if variant else model, "seeds": [r.metrics["seed"] for r in members],
               "n_test": best.metrics["n_test"], "best_rev": best.name, "runs": members}
        for key in HEADLINE:
            values = np.array([r.metrics[key] for r in members], np.float64)
            row[key] = {"mean": float(values.mean()), "std": std(values), "max": float(values.max()),
                        "best_ci": (best.metrics["ci95"][key]["low"], best.metrics["ci95"][key]["high"]),
                        "best": float(best.metrics[key])}
        rows.append(row)
    return rows


def _majority_cell(members: list[Run]) -> str:
    """Accuracy (%) of always answering the training split's majority class, and that class."""
    accuracy = baseline_cell(members, "accuracy", 2, scale=100)
    return accuracy if accuracy == NOT_AVAILABLE else f"{accuracy} ({majority_class_cell(members)})"


class CnnComparison(Study):
    """Dai & Tong: any registered model on a classification task (their five clean classes, or a folder's
    classes) with their multi-scale preprocessing and recipe, scored with the multi-scale test average."""

    name = "cnn_comparison"
    title = "CNN comparison on five clean classes (Dai & Tong 2018)"
    default_task = "gz2_5class"
    run_plots = ("plots/model/confusion_matrix.png", "plots/model/roc.png")

    def build_store(self, params: Params, files: StageFiles) -> None:
        """The centre ``source_side`` crop at ``store_size`` px (Dai & Tong's 240 px at 120)."""
        crop = params.cnn_comparison.crop
        build_centre_crop_store(params, files, source_side=crop.source_side, size=crop.store_size)

    def split(self, params: Params, files: StageFiles) -> dict:
        return split_classes(params, **files.kwargs("raw", "store", "split", "counts"))

    def train(self, params: Params, files: StageFiles) -> None:
        train_classifier(params, **files.kwargs("raw", "store", "split", "model", "live"))

    def evaluate(self, params: Params, files: StageFiles) -> dict:
        return evaluate_classifier(params, **files.kwargs(*EVALUATE_FILES))

    def plot(self, params: Params, files: StageFiles) -> list[Path]:
        return plot_classifier(params, **files.kwargs(*PLOT_FILES))

    def variant(self, run: Run) -> str:
        """The class-imbalance remedy (``weighted loss``, ``balanced sampling``) and the test-time choices
        (rotations and flips, prior shift) when the run used any."""
        return _variant_of(run)

    def summary(self, metrics: dict) -> str:
        low, high = metrics["ci95"]["accuracy"]["low"], metrics["ci95"]["accuracy"]["high"]
        baseline = metrics.get("baseline")
        beside = (f" (majority class {baseline['class']!r}: accuracy {baseline['accuracy']:.4f}, macro F1 "
                  f"{baseline['macro_f1']:.4f})" if baseline else "")
        return (f"{metrics['model']} on {metrics['task']}: accuracy {metrics['accuracy']:.4f} [{low:.4f}, "
                f"{high:.4f}], macro F1 {metrics['macro_f1']:.4f}, AUC {metrics['auc']:.4f} on "
                f"{metrics['n_test']} test galaxies{beside}")

    def report(self, runs: list[Run]) -> list[str]:
        """Our scores (mean ± std over seeds, maximum, 95% bootstrap CI of the best run) beside the paper's and
        the majority class's, one table per task and budget, then whether the differences between models
        (and against the majority class) are more than test-set luck."""
        rows = summarise(runs)
        lines = ["# The CNN comparison", ""] if rows else []
        for task, budget in sorted({(r["task"], r["budget"]) for r in rows}):
            group = [r for r in rows if (r["task"], r["budget"]) == (task, budget)]
            lines += [f"## Task {task}, budget {budget}", "",
                      f"{len(group)} models, {sum(len(r['seeds']) for r in group)} runs, {group[0]['n_test']} test "
                      "galaxies. Ours: multi-scale test-time average; mean ± std over seeds, the maximum, and the "
                      "95% percentile-bootstrap interval (test galaxies resampled) of the run with the maximum "
                      f"accuracy. Paper: {CNN_COMPARISON_SOURCE}; its Table 7 maxima are also over single test "
                      "scales.", "",
                      "Baseline: always the training split's majority class (mean over seeds); the last column "
                      "says whether each run's 95% interval of accuracy lies above it (n/a: the metrics predate "
                      "the baseline, re-run evaluate_model).", "",
                      "| model | seeds | iterations x batch | accuracy % mean ± std | accuracy % max [95% CI] | "
                      "paper mean (T6) | paper max (T7) | majority class % | 95% CI above the majority class |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for r in group:
                paper = CNN_COMPARISON.get(r["model"], {})
                a = r["accuracy"]
                lines.append(f"| {r['label']} | {', '.join(map(str, r['seeds']))} | {training_cell(r['runs'])} | "
                             f"{100 * a['mean']:.2f} ± "
                             f"{100 * a['std']:.2f} | {100 * a['max']:.2f} [{100 * a['best_ci'][0]:.1f}, "
                             f"{100 * a['best_ci'][1]:.1f}] | {paper_cell(paper, 'mean_accuracy', 2)} | "
                             f"{paper_cell(paper, 'max_accuracy', 2)} | {_majority_cell(r['runs'])} | "
                             f"{lower_bound_above_baseline_cell(r['runs'])} |")
            lines += ["", "Macro-averaged precision, recall, F1 and one-vs-rest AUC: ours as mean ± std / max "
                      "[95% CI of the best run], paper Table 7 in brackets; the majority class's macro F1 beside "
                      "(its AUC is 0.5: a constant score ranks nothing).", "",
                      "| model | precision | recall | F1 | AUC | majority class F1 |", "|---|---|---|---|---|---|"]
            for r in group:
                paper = CNN_COMPARISON.get(r["model"], {})
                cells = []
                for key in HEADLINE[1:]:
                    s = r[key]
                    cells.append(f"{s['mean']:.3f} ± {s['std']:.3f} / {s['max']:.3f} [{s['best_ci'][0]:.3f}, "
                                 f"{s['best_ci'][1]:.3f}] ({paper_cell(paper, PAPER_KEYS[key], 4)})")
                cells.append(baseline_cell(r["runs"], "macro_f1", 3))
                lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
            ranked = sorted(group, key=lambda r: -r["accuracy"]["mean"])
            lines += ["", f"### Task {task}, budget {budget}: are the differences real?", "",
                      *significance_lines([(r["label"], r["runs"]) for r in ranked])]
        return lines


register_study(CnnComparison())
