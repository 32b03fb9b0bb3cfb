"""DVC stage `train_scale@<scale>`: train scale_study.model on one scale with the scale-study recipe."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
from pathlib import Path

from galzoo.config import load_params
from galzoo.scale_study import train_scale
from galzoo.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", required=True)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--crops", type=Path, required=True)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--model-out", type=Path, required=True)
    parser.add_argument("--live-dir", type=Path, required=True, help="DVCLive folder for per-epoch metrics")
    args = parser.parse_args()

    train_scale(load_params(), args.scale, crops_dir=args.crops, raw_dir=args.raw, split_path=args.split,
                model_path=args.model_out, live_dir=args.live_dir)


if __name__ == "__main__":
    run_stage(main)
