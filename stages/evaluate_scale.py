"""DVC stage `evaluate_scale@<scale>`: deterministic and non-deterministic test scores of one scale's model."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
import json
from pathlib import Path

from galzoo.config import load_params
from galzoo.scale_study import evaluate_scale
from galzoo.stage import run_stage


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

    metrics = evaluate_scale(load_params(), args.scale, crops_dir=args.crops, raw_dir=args.raw, split_path=args.split,
                             model_path=args.model, metrics_path=args.metrics_out, predictions_path=args.predictions_out)
    print(json.dumps({k: metrics[k] for k in ("deterministic", "nondeterministic")}, indent=1)[:600])


if __name__ == "__main__":
    run_stage(main)
