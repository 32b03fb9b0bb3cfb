"""DVC stage `split`: the scale study's train/val/test split, written once from its seed, shared by every scale."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
from pathlib import Path

from galzoo.config import load_params
from galzoo.stage import run_stage
from galzoo.studies import StageFiles, get_study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, default=None, help="raw dataset folder (unused: the store lists the ids)")
    parser.add_argument("--crops", type=Path, required=True, help="array store folder (its index.csv lists the ids)")
    parser.add_argument("--out", type=Path, required=True, help="split CSV to write")
    args = parser.parse_args()
    counts = get_study("scale_study").split(load_params(), StageFiles(raw=args.raw, store=args.crops, split=args.out))
    print("\n".join(f"{subset} {count}" for subset, count in counts.items()))


if __name__ == "__main__":
    run_stage(main)
