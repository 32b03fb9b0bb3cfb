"""DVC stage `crop_task`: the array store `task`'s recipe reads (centre 240 px at 120, or centre 212 px at 224)."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
from pathlib import Path

from galzoo import experiment
from galzoo.config import load_params
from galzoo.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="raw dataset folder (images/ + labels.csv)")
    parser.add_argument("--out", type=Path, required=True, help="array store folder to write")
    args = parser.parse_args()
    experiment.crop(load_params(), raw_dir=args.raw, out_dir=args.out)


if __name__ == "__main__":
    run_stage(main)
