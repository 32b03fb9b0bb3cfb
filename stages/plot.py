"""DVC stage `plot`: the scale-study figures as PNG, plus the CSV behind the DVC bar plot."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
from pathlib import Path

from galzoo.config import load_params
from galzoo.stage import run_stage
from galzoo.studies import StageFiles, get_study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--train-logs", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    files = StageFiles(raw=args.raw, live=args.train_logs, metrics=args.metrics, predictions=args.predictions,
                       plots=args.out)
    for path in get_study("scale_study").plot(load_params(), files):
        print(path)


if __name__ == "__main__":
    run_stage(main)
