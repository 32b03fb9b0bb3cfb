"""DVC stage `plot_model`: the trained model's PNGs (confusion, ROC, filters, feature maps; or predicted vs
true and the gallery of the top-scoring test galaxies per answer; or the colour-magnitude diagram)."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
from pathlib import Path

from galzoo.config import load_params
from galzoo.stage import run_stage
from galzoo.studies import StageFiles, resolve, study_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    args = parser.parse_args()
    params = resolve(load_params())
    for path in study_for(params).plot(params, StageFiles(raw=args.raw, store=args.store, split=args.split,
                                                          model=args.model, predictions=args.predictions,
                                                          plots=args.out)):
        print(path)


if __name__ == "__main__":
    run_stage(main)
