"""Study 1 (Kabani & El-Sakka 2016): one network per input scale, trained and scored on identical splits."""
from __future__ import annotations

import json
import sys
from functools import partial
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from galzoo.config import Params
from galzoo.dataset import open_raw_dataset
from galzoo.errors import DataError
from galzoo.evaluation.baselines import training_mean_baseline
from galzoo.evaluation.regression import predict, regression_scores
from galzoo.models import create_model
from galzoo.models.checkpoint import load_checkpoint, save_checkpoint
from galzoo.preprocess.crops import check_scale
from galzoo.preprocess.prediction import (
    ModelInput,
    register_model_input,
    standardise,
    stats_from_metadata,
    store_view,
)
from galzoo.preprocess.scale import KAGGLE_FRAME
from galzoo.preprocess.store import build_store, load_index
from galzoo.splits import make_split, write_split
from galzoo.studies.base import StageFiles, Study
from galzoo.studies.registry import register_study
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
        recipe = params.scale_study.recipe_for(params.budget)
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
                "preprocessing": StoreView(scale, params.crop.output_size).metadata(),
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
    batch_size = study.recipe_for(params.budget).batch_size
    return resident_train_val(data, augment, batch_size=batch_size, seed=study.seed, rt=rt)


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
               "deterministic": deterministic, "nondeterministic": nondeterministic,
               "baseline": training_mean_baseline(data.subsets["train"][2], true)}
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    predictions_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(predictions_path, ids=data.subsets["test"][0].astype(str), pred=pred, true=true)
    return metrics


@register_model_input
@dataclass(frozen=True)
class StoreView(ModelInput):
    """The scale study's input: the image's row of the crop stage's array for ``scale`` at ``size`` px,
    standardised per channel with the training split's statistics (``evaluate_scale``'s test set)."""

    kind: ClassVar[str] = "store_view"
    scale: str
    size: int
    stats: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_metadata(cls, meta: dict, settings: dict) -> StoreView:
        return cls(check_scale(settings.get("scale", meta["scale"])), int(settings.get("size", meta["input_size"])),
                   stats_from_metadata(meta))

    def metadata(self) -> dict:
        return {"kind": self.kind, "scale": self.scale, "size": self.size}

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return standardise(store_view(rgb, self.scale, self.size), self.stats)[None]


class ScaleStudy(Study):
    """Kabani & El-Sakka: the DAG's scale branch (``crop`` -> ``split`` -> ``train_scale@<scale>`` ->
    ``evaluate_scale@<scale>`` -> ``plot`` -> ``report``), one model per scale of ``crop.scales``."""

    name = "scale_study"
    title = "How important is scale? (Kabani & El-Sakka 2016)"
    default_task = TASK

    def build_store(self, params: Params, files: StageFiles) -> None:
        """One uint8 array per scale (normalized, crop64, crop256) + index.csv, cut from each image resampled
        to the 424 px Kaggle frame (``preprocess.scale.to_kaggle_frame``: a user's folder may hold any size of
        at least 256 px; a 424 px image is cropped as it is)."""
        from galzoo.sources import expected_image_size

        raw = open_raw_dataset(files.raw)
        build_store(raw.image_paths, list(raw.ids), files.store, scales=params.crop.scales,
                    output_size=params.crop.output_size, expected_size=expected_image_size(params.data.source),
                    frame=KAGGLE_FRAME, workers=params.crop.workers or None)

    def split(self, params: Params, files: StageFiles) -> dict:
        """The random split of ``scale_study.seed``, shared by every scale."""
        split = make_split(load_index(files.store)["id"], test_fraction=params.split.test_fraction,
                           val_fraction=params.split.val_fraction, seed=params.scale_study.seed)
        write_split(split, files.split)
        return split["subset"].value_counts().to_dict()

    def train(self, params: Params, files: StageFiles) -> None:
        train_scale(params, files.scale, crops_dir=files.store, raw_dir=files.raw, split_path=files.split,
                    model_path=files.model, live_dir=files.live)

    def evaluate(self, params: Params, files: StageFiles) -> dict:
        return evaluate_scale(params, files.scale, crops_dir=files.store, raw_dir=files.raw, split_path=files.split,
                              model_path=files.model, metrics_path=files.metrics,
                              predictions_path=files.predictions)

    def plot(self, params: Params, files: StageFiles) -> list[Path]:
        """Loss per scale, test MSE per scale, predicted vs true, the crop gallery, and the CSV behind the
        DVC bar plot. ``files.live`` is the folder of the per-scale training logs, ``files.metrics`` of the
        per-scale test metrics, ``files.predictions`` of the per-scale test predictions."""
        from galzoo.evaluation.logs import read_training_log
        from galzoo.paper import SCALE_STUDY
        from galzoo.plots.crop_gallery import plot_scale_gallery
        from galzoo.plots.curves import plot_loss_per_scale, plot_predicted_vs_true, plot_scale_comparison
        from galzoo.studies.scale_study.report import read_scale_metrics

        scales, out = params.crop.scales, files.plots
        metrics = read_scale_metrics(files.metrics, scales)
        predictions = {}
        for scale in scales:
            with np.load(files.predictions / f"{scale}.npz") as saved:
                predictions[scale] = (saved["pred"], saved["true"])
        plot_loss_per_scale({s: read_training_log(files.live / s) for s in scales}, out / "loss_per_scale.png")
        plot_scale_comparison(metrics, out / "scale_comparison.png")
        plot_predicted_vs_true(predictions, out / "predicted_vs_true.png")
        plot_scale_gallery(open_raw_dataset(files.raw).image_paths[:8], out / "crop_gallery.png")
        pd.DataFrame({
            "scale": scales,
            "deterministic_mse": [metrics[s]["deterministic"]["mse"] for s in scales],
            "nondeterministic_mse": [metrics[s]["nondeterministic"]["mse"] for s in scales],
            "paper_deterministic_mse": [SCALE_STUDY.get(s, {}).get("deterministic_mse") for s in scales],
        }).to_csv(out / "scale_study.csv", index=False)
        return [out / name for name in ("loss_per_scale.png", "scale_comparison.png", "predicted_vs_true.png",
                                         "crop_gallery.png", "scale_study.csv")]

    def summary(self, metrics: dict) -> str:
        d, n = metrics["deterministic"], metrics["nondeterministic"]
        return (f"{metrics['model']} on scale {metrics['scale']}: deterministic test MSE {d['mse']:.5f} "
                f"(RMSE {d['rmse']:.5f}), non-deterministic {n['mse']:.5f} on {metrics['n_test']} galaxies")


register_study(ScaleStudy())
