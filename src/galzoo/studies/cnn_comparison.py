"""Study 2 (Dai & Tong 2018): any registered model trained on a classification task with the paper's
multi-scale preprocessing and recipe, scored with multi-scale test-time augmentation."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from galzoo.config import Params
from galzoo.errors import DataError
from galzoo.evaluation.classification import bootstrap_intervals, classification_scores, predict_views
from galzoo.models import create_model
from galzoo.models.checkpoint import load_checkpoint, save_checkpoint
from galzoo.preprocess.store import load_index
from galzoo.splits import make_stratified_split, write_split
from galzoo.tasks import class_counts, task_targets
from galzoo.training.batch_augment import MultiScaleAugment
from galzoo.training.data import LabelledStore
from galzoo.training.device_data import DeviceBatches
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
    return f"crop{params.classifier.crop.source_side}"


def split_classes(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, counts_path: Path) -> dict:
    """Write the stratified split of ``params.task``'s galaxies for ``params.seed`` and the class counts."""
    task, ids, classes = task_targets(params.task, raw_dir)
    class_counts(task, targets=classes)  # an empty class is an error naming it
    stored = set(load_index(store_dir)["id"].astype(str))
    missing = [i for i in ids.astype(str) if i not in stored]
    if missing:
        raise DataError(f"{store_dir}: {len(missing)} selected galaxies are not in the store, e.g. {missing[:5]}: "
                        f"re-run the crop_classifier stage")
    split = make_stratified_split(ids.astype(str), classes, test_fraction=params.classifier.split.test_fraction,
                                  val_fraction=params.classifier.split.val_fraction, seed=params.seed)
    write_split(split, split_path)
    table = pd.crosstab(pd.Categorical.from_codes(classes, task.class_names), split["subset"].to_numpy())
    counts = {"task": task.name, "seed": params.seed, "n_selected": int(len(ids)),
              "classes": {name: {subset: int(table.loc[name, subset]) for subset in ("train", "val", "test")}
                          for name in task.class_names}}
    counts_path.parent.mkdir(parents=True, exist_ok=True)
    counts_path.write_text(json.dumps(counts, indent=2) + "\n")
    return counts


def _crops(params: Params) -> MultiScaleCrops:
    c = params.classifier
    return MultiScaleCrops(c.augment, source_side=c.crop.source_side, store_size=c.crop.store_size)


def train_classifier(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
                     live_dir: Path, progress: bool = True) -> None:
    """Train ``params.model`` on ``params.task`` with the classifier recipe; save it with its preprocessing.
    Under torchrun every process trains its share of each batch and rank 0 alone writes the outputs."""
    from dvclive import Live

    with training_runtime(params.runtime, params.seed) as rt:
        device, amp, dist = rt.device, rt.amp_dtype, rt.dist
        data = LabelledStore(store_dir, raw_dir, split_path, store_scale(params), params.task)
        crops, sides = _crops(params), params.classifier.test_sides
        _, train_rows, train_labels = data.subsets["train"]
        _, val_rows, val_labels = data.subsets["val"]
        recipe = params.classifier_recipe
        if rt.data_path == "loader":
            train_set = AugmentedCrops(data.images, train_rows, train_labels, crops)
        else:
            c = params.classifier
            augment = MultiScaleAugment(c.augment, source_side=c.crop.source_side, store_size=c.crop.store_size,
                                        device=device)
            train_set = DeviceBatches(data.images, train_rows, train_labels, augment, batch_size=recipe.batch_size,
                                      seed=params.seed, device=device, dist=dist,
                                      resident_fraction=rt.resident_fraction, memory_format=rt.accel.memory_format)
        val_views = multiscale_test_views(data.images, val_rows, crops, sides)
        val_labels = torch.as_tensor(val_labels)
        input_size = params.classifier.augment.input_size
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
                  f"seed {params.seed}", file=sys.stderr)
        live_logger = partial(Live, str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None)
        with main_process_only(dist, live_logger) as live:
            fit_iterations(model, train_set, recipe, loss_fn=nn.CrossEntropyLoss(), validate=validate, device=device,
                           amp_dtype=amp, seed=params.seed, live=live, progress=progress, label=f"[{params.model}]",
                           accel=rt.accel)
        if dist.is_main:
            save_checkpoint(model_path, model, {
                "model": params.model, "task": params.task, "num_outputs": data.task.num_outputs,
                "class_names": list(data.task.class_names), "input_size": input_size, "output_layer": "linear",
                "scale": store_scale(params), "mean": None, "std": None,
                "preprocessing": {"kind": "multiscale", "source_side": params.classifier.crop.source_side,
                                  "store_size": params.classifier.crop.store_size,
                                  "augment": asdict(params.classifier.augment), "test_sides": list(sides),
                                  "whitening": "per_image"},
                "budget": params.budget, "seed": params.seed,
            })


def evaluate_classifier(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
                        metrics_path: Path, predictions_path: Path, confusion_path: Path) -> dict:
    """Test scores of the multi-scale average (the headline) and of each test side alone, with bootstrap
    intervals; the per-view probabilities go to ``predictions_path`` for the plots and the report."""
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
    views = multiscale_test_views(data.images, rows, _crops(params), sides)
    probs = predict_views(model, views, batch_size=params.evaluate.batch_size, device=device, amp_dtype=amp)
    names = tuple(meta["class_names"])
    averaged = probs.mean(axis=1)  # the multi-scale test-time average
    scores = classification_scores(labels, averaged, names)
    intervals = bootstrap_intervals(labels, averaged, seed=params.seed)
    metrics = {
        "model": meta["model"], "task": meta["task"], "seed": params.seed, "budget": meta["budget"],
        "n_test": int(len(labels)),
        **{k: v for k, v in scores.items() if k != "confusion_matrix"},
        "ci95": {k: {"low": low, "high": high} for k, (low, high) in intervals.items()},
        "per_view_accuracy": {f"Q{side}": float((probs[:, i].argmax(1) == labels).mean())
                              for i, side in enumerate(sides)},
    }
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    predictions_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(predictions_path, ids=ids.astype(str), labels=labels, probabilities=probs,
                        sides=np.asarray(sides), class_names=np.asarray(names))
    predicted = averaged.argmax(axis=1)
    confusion_path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"actual": np.asarray(names)[labels], "predicted": np.asarray(names)[predicted]}).to_csv(
        confusion_path, index=False)
    return metrics


def plot_classifier(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
                    predictions_path: Path, out_dir: Path) -> list[Path]:
    """Confusion matrix, ROC curves, first-layer filters and feature maps of the trained classifier."""
    from galzoo.evaluation.classification import confusion_matrix
    from galzoo.visualize import plot_confusion, plot_feature_maps, plot_filters, plot_roc

    model, meta = load_checkpoint(model_path, "cpu")
    with np.load(predictions_path) as saved:
        labels, probs = saved["labels"], saved["probabilities"].mean(axis=1)
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
    per_class = params.classifier.visualize.galaxies_per_class
    chosen = np.concatenate([np.flatnonzero(test_labels == c)[:per_class] for c in range(len(names))])
    sides = meta["preprocessing"]["test_sides"]
    side = sides[len(sides) // 2]
    views = multiscale_test_views(data.images, rows[chosen], _crops(params), [side])[:, 0]
    captions = [f"{names[test_labels[i]]}\n{ids[i]}" for i in chosen]
    paths.append(plot_feature_maps(model, views, captions, out_dir / "feature_maps.png",
                                   maps_per_layer=params.classifier.visualize.feature_maps))
    return paths
