"""DVC stage `crop_classifier`: the centre crop the classifier draws its multi-scale views from (crop240 at 120 px)."""
import argparse
from pathlib import Path

from galzoo.classifier import store_scale
from galzoo.config import load_params
from galzoo.dataset import open_raw_dataset
from galzoo.preprocess.store import build_store
from galzoo.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True, help="raw dataset folder (images/ + labels.csv)")
    parser.add_argument("--out", type=Path, required=True, help="array store folder to write")
    args = parser.parse_args()

    params = load_params()
    raw = open_raw_dataset(args.raw)
    build_store(raw.image_paths, list(raw.ids), args.out, scales=(store_scale(params),),
                output_size=params.classifier.crop.store_size, workers=params.crop.workers or None)


if __name__ == "__main__":
    run_stage(main)
