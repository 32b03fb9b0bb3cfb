"""DVC stage `plot_model`: the trained model's PNGs (confusion, ROC, filters, feature maps; or predicted vs
true and the gallery of the top-scoring test galaxies per answer)."""
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
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    args = parser.parse_args()
    for path in experiment.plot(load_params(), raw_dir=args.raw, store_dir=args.store, split_path=args.split,
                                model_path=args.model, predictions_path=args.predictions, out_dir=args.out):
        print(path)


if __name__ == "__main__":
    run_stage(main)
