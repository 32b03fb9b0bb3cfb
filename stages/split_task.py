"""DVC stage `split_task`: the split of `task`'s galaxies for `seed` (stratified by class), and its counts."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
import json
from pathlib import Path

from galzoo.config import load_params
from galzoo.stage import run_stage
from galzoo.studies import StageFiles, resolve, study_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="raw dataset folder (its labels.csv)")
    parser.add_argument("--store", type=Path, required=True, help="the task's array store")
    parser.add_argument("--out", type=Path, required=True, help="split CSV to write")
    parser.add_argument("--counts-out", type=Path, required=True, help="counts per class and subset (JSON)")
    args = parser.parse_args()
    params = resolve(load_params())
    counts = study_for(params).split(params, StageFiles(raw=args.raw, store=args.store, split=args.out,
                                                        counts=args.counts_out))
    print(json.dumps(counts.get("classes", counts.get("subsets")), indent=1))


if __name__ == "__main__":
    run_stage(main)
