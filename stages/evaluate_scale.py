"""DVC stage `evaluate_scale@<scale>`: deterministic and non-deterministic test scores of one scale's model."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
from pathlib import Path

from galzoo.config import load_params
from galzoo.stage import run_stage
from galzoo.studies import StageFiles, get_study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", required=True)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--crops", type=Path, required=True)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--metrics-out", type=Path, required=True)
    parser.add_argument("--predictions-out", type=Path, required=True)
    args = parser.parse_args()
    study = get_study("scale_study")
    metrics = study.evaluate(load_params(), StageFiles(raw=args.raw, store=args.crops, split=args.split,
                                                       model=args.model, metrics=args.metrics_out,
                                                       predictions=args.predictions_out, scale=args.scale))
    print(study.summary(metrics))


if __name__ == "__main__":
    run_stage(main)
