"""DVC stage `plot`: the scale-study figures as PNG, plus the CSV behind the DVC bar plot."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from galzoo import plotting
from galzoo.config import load_params
from galzoo.dataset import open_raw_dataset
from galzoo.evaluation.logs import read_training_log
from galzoo.paper import SCALE_STUDY
from galzoo.preprocess.gallery import plot_scale_gallery
from galzoo.report import read_scale_metrics
from galzoo.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--train-logs", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    scales = load_params().crop.scales
    metrics = read_scale_metrics(args.metrics, scales)
    plotting.plot_loss_per_scale({s: read_training_log(args.train_logs / s) for s in scales},
                                 args.out / "loss_per_scale.png")
    plotting.plot_scale_comparison(metrics, args.out / "scale_comparison.png")
    predictions = {}
    for scale in scales:
        with np.load(args.predictions / f"{scale}.npz") as saved:
            predictions[scale] = (saved["pred"], saved["true"])
    plotting.plot_predicted_vs_true(predictions, args.out / "predicted_vs_true.png")
    plot_scale_gallery(open_raw_dataset(args.raw).image_paths[:8], args.out / "crop_gallery.png")
    pd.DataFrame({
        "scale": scales,
        "deterministic_mse": [metrics[s]["deterministic"]["mse"] for s in scales],
        "nondeterministic_mse": [metrics[s]["nondeterministic"]["mse"] for s in scales],
        "paper_deterministic_mse": [SCALE_STUDY.get(s, {}).get("deterministic_mse") for s in scales],
    }).to_csv(args.out / "scale_study.csv", index=False)


if __name__ == "__main__":
    run_stage(main)
