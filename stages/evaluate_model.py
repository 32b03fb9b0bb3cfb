"""DVC stage `evaluate_model`: test scores of the trained model (with intervals, or RMSE beside the paper's)."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
from pathlib import Path

from galzoo import experiment
from galzoo.config import load_params
from galzoo.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--metrics-out", type=Path, required=True)
    parser.add_argument("--predictions-out", type=Path, required=True)
    parser.add_argument("--confusion-out", type=Path, required=True, help="actual,predicted CSV for `dvc plots`")
    args = parser.parse_args()
    metrics = experiment.evaluate(load_params(), raw_dir=args.raw, store_dir=args.store, split_path=args.split,
                                  model_path=args.model, metrics_path=args.metrics_out,
                                  predictions_path=args.predictions_out, confusion_path=args.confusion_out)
    print(experiment.summary(metrics))


if __name__ == "__main__":
    run_stage(main)
