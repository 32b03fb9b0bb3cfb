"""DVC stage `split`: the train/val/test split, written once from the seed, shared by every model and scale."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
from pathlib import Path

from galzoo.config import load_params
from galzoo.preprocess.store import load_index
from galzoo.splits import make_split, write_split
from galzoo.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--crops", type=Path, required=True, help="array store folder (its index.csv lists the ids)")
    parser.add_argument("--out", type=Path, required=True, help="split CSV to write")
    args = parser.parse_args()

    params = load_params()
    split = make_split(load_index(args.crops)["id"], test_fraction=params.split.test_fraction,
                       val_fraction=params.split.val_fraction, seed=params.scale_study.seed)
    write_split(split, args.out)
    print(split["subset"].value_counts().to_string())


if __name__ == "__main__":
    run_stage(main)
