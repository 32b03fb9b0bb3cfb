"""DVC stage `split_classes`: the stratified split of the task's classes for `seed`, and the class counts."""
import argparse
import json
from pathlib import Path

from galzoo.classifier import split_classes
from galzoo.config import load_params
from galzoo.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="raw dataset folder (its labels.csv)")
    parser.add_argument("--store", type=Path, required=True, help="the classifier's array store")
    parser.add_argument("--out", type=Path, required=True, help="split CSV to write")
    parser.add_argument("--counts-out", type=Path, required=True, help="class counts per subset (JSON)")
    args = parser.parse_args()

    counts = split_classes(load_params(), raw_dir=args.raw, store_dir=args.store, split_path=args.out,
                           counts_path=args.counts_out)
    print(json.dumps(counts["classes"], indent=1))


if __name__ == "__main__":
    run_stage(main)
