"""DVC stage `evaluate_model`: test scores of the trained model (with intervals, or RMSE beside the paper's)."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
from pathlib import Path

from galzoo.config import load_params
from galzoo.stage import run_stage
from galzoo.studies import StageFiles, resolve, study_for


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
    params = resolve(load_params())
    study = study_for(params)
    metrics = study.evaluate(params, StageFiles(raw=args.raw, store=args.store, split=args.split, model=args.model,
                                                metrics=args.metrics_out, predictions=args.predictions_out,
                                                confusion=args.confusion_out))
    print(study.summary(metrics))


if __name__ == "__main__":
    run_stage(main)
