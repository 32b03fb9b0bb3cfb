"""DVC stage `crop`: one uint8 array per scale (normalized, crop64, crop256) + index.csv."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
from pathlib import Path

from galzoo.config import load_params
from galzoo.dataset import open_raw_dataset
from galzoo.preprocess.store import build_store
from galzoo.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="raw dataset folder (images/ + labels.csv)")
    parser.add_argument("--out", type=Path, required=True, help="array store folder to write")
    args = parser.parse_args()

    params = load_params().crop
    raw = open_raw_dataset(args.raw)
    build_store(raw.image_paths, list(raw.ids), args.out, scales=params.scales, output_size=params.output_size,
                workers=params.workers or None)


if __name__ == "__main__":
    run_stage(main)
