"""DVC stage `plot_classifier`: confusion matrix, ROC curves, first-layer filters and feature maps (PNG)."""
import argparse
from pathlib import Path

from galzoo.classifier import plot_classifier
from galzoo.config import load_params
from galzoo.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    args = parser.parse_args()

    for path in plot_classifier(load_params(), raw_dir=args.raw, store_dir=args.store, split_path=args.split,
                                model_path=args.model, predictions_path=args.predictions, out_dir=args.out):
        print(path)


if __name__ == "__main__":
    run_stage(main)
