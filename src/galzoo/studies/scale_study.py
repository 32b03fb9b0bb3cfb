"""Study 1 (Kabani & El-Sakka 2016): one network per input scale, trained and scored on identical splits."""
from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

import numpy as np

from galzoo.config import Params
from galzoo.errors import DataError
from galzoo.evaluation.regression import predict, regression_scores
from galzoo.models import create_model
from galzoo.models.checkpoint import load_checkpoint, save_checkpoint
from galzoo.training.augment import scale_study_augmentation
from galzoo.training.batch_augment import AffineAugment
from galzoo.training.data import LabelledStore, channel_stats
from galzoo.training.device_data import resident_train_val
from galzoo.training.loop import fit
from galzoo.training.runtime import (
    TrainingRuntime,
    autocast_dtype,
    configure_threads,
    main_process_only,
    seed_everything,
    select_device,
    training_runtime,
)

TASK = "votes37"
"""The scale study predicts the 37 vote fractions (Kabani & El-Sakka's MSE on the Kaggle columns)."""


def train_scale(params: Params, scale: str, *, crops_dir: Path, raw_dir: Path, split_path: Path,
                model_path: Path, live_dir: Path, progress: bool = True) -> None:
    """Train ``scale_study.model`` on one scale with the scale-study recipe and save it with its metadata.

    Under torchrun every process trains its share of each batch and rank 0 alone writes the outputs.
    """
    from dvclive import Live

    study = params.scale_study
    with training_runtime(params.runtime, study.seed) as rt:
        data = LabelledStore(crops_dir, raw_dir, split_path, scale, TASK)
        _, train_rows, _ = data.subsets["train"]
        if study.standardize == "per_channel":
            mean, std = channel_stats(data.images, train_rows)
        else:
            mean, std = np.zeros(3, np.float32), np.full(3, 255.0, np.float32)
        recipe = params.recipe
        train_set, val_set = _scale_study_splits(data, params, mean, std, rt)
        model = create_model(study.model, num_outputs=data.task.num_outputs, input_size=params.crop.output_size,
                             output_layer=study.output_layer)
        rt.seed_per_process(study.seed)
        if rt.dist.is_main:
            print(f"[{scale}] {study.model} on {rt.describe()}: {len(data.subsets['train'][1])} train / "
                  f"{len(val_set)} val images, {recipe.epochs} epochs, budget {params.budget}", file=sys.stderr)
        live_logger = partial(Live, str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None)
        with main_process_only(rt.dist, live_logger) as live:
            fit(model, train_set, val_set, recipe, device=rt.device, amp_dtype=rt.amp_dtype, seed=study.seed,
                eval_batch_size=params.evaluate.batch_size, live=live, progress=progress, label=f"[{scale}]",
                accel=rt.accel)
        if rt.dist.is_main:
            save_checkpoint(model_path, model, {
                "model": study.model, "task": TASK, "num_outputs": data.task.num_outputs,
                "input_size": params.crop.output_size, "output_layer": study.output_layer, "scale": scale,
                "mean": mean.tolist(), "std": std.tolist(), "budget": params.budget, "seed": study.seed,
            })


def _scale_study_splits(data: LabelledStore, params: Params, mean: np.ndarray, std: np.ndarray,
                        rt: TrainingRuntime):
    """Training batches and the validation split for ``rt.data_path``: per-sample albumentations through a
    DataLoader, or the device-resident split with the same transforms drawn in batches."""
    study = params.scale_study
    if rt.data_path == "loader":
        # one augmentation stream per process; a single process keeps the seed's own stream
        augmentation = scale_study_augmentation(study.augment, seed=study.seed + rt.dist.rank)
        return data.dataset("train", mean, std, augmentation), data.dataset("val", mean, std)
    augment = AffineAugment.scale_study(study.augment, mean, std, rt.device)
    return resident_train_val(data, augment, batch_size=params.recipe.batch_size, seed=study.seed, rt=rt)


def evaluate_scale(params: Params, scale: str, *, crops_dir: Path, raw_dir: Path, split_path: Path,
                   model_path: Path, metrics_path: Path, predictions_path: Path) -> dict:
    """Deterministic and non-deterministic test scores of one scale's model (Kabani & El-Sakka, sec. 8).

    Deterministic: dropout off, no augmentation. Non-deterministic: dropout on and the training
    augmentation on, averaged over ``evaluate.nondeterministic_passes`` passes.
    """
    configure_threads(params.runtime.threads)
    seed_everything(params.scale_study.seed)
    device = select_device(params.runtime.device)
    amp = autocast_dtype(params.runtime.precision, device)
    model, meta = load_checkpoint(model_path, device)
    if meta["scale"] != scale:
        raise DataError(f"{model_path}: model was trained on scale {meta['scale']!r}, not {scale!r}")
    data = LabelledStore(crops_dir, raw_dir, split_path, scale, meta["task"])
    mean, std = np.asarray(meta["mean"], np.float32), np.asarray(meta["std"], np.float32)
    batch = params.evaluate.batch_size
    pred, true = predict(model, data.dataset("test", mean, std), batch_size=batch, device=device, amp_dtype=amp)
    deterministic = regression_scores(pred, true)
    passes = []
    for p in range(params.evaluate.nondeterministic_passes):
        augmented = data.dataset("test", mean, std, scale_study_augmentation(params.scale_study.augment,
                                                                             seed=params.scale_study.seed + 1 + p))
        noisy_pred, _ = predict(model, augmented, batch_size=batch, device=device, amp_dtype=amp, stochastic=True)
        passes.append(regression_scores(noisy_pred, true))
    nondeterministic = {k: float(np.mean([s[k] for s in passes])) for k in ("mse", "rmse")}
    metrics = {"model": meta["model"], "scale": scale, "n_test": int(len(true)),
               "deterministic": deterministic, "nondeterministic": nondeterministic}
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    predictions_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(predictions_path, ids=data.subsets["test"][0].astype(str), pred=pred, true=true)
    return metrics
