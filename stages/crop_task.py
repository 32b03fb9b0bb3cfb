"""DVC stage `crop_task`: the array store the study of `model` on `task` trains on."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
from pathlib import Path

from galzoo.config import load_params
from galzoo.stage import run_stage
from galzoo.studies import StageFiles, resolve, study_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="raw dataset folder (images/ + labels.csv)")
    parser.add_argument("--out", type=Path, required=True, help="array store folder to write")
    args = parser.parse_args()
    params = resolve(load_params())
    study_for(params).build_store(params, StageFiles(raw=args.raw, store=args.out))


if __name__ == "__main__":
    run_stage(main)
