"""DVC stage `train_model`: train `model` on `task` with that task's study recipe (Dai & Tong, or Kalvankar)."""
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
    parser.add_argument("--model-out", type=Path, required=True)
    parser.add_argument("--live-dir", type=Path, required=True, help="DVCLive folder for the learning curves")
    args = parser.parse_args()
    experiment.train(load_params(), raw_dir=args.raw, store_dir=args.store, split_path=args.split,
                     model_path=args.model_out, live_dir=args.live_dir)


if __name__ == "__main__":
    run_stage(main)
