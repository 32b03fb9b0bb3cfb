"""DVC stage `evaluate_classifier`: test scores with multi-scale test-time augmentation and bootstrap intervals."""
import argparse
from pathlib import Path

from galzoo.classifier import evaluate_classifier
from galzoo.config import load_params
from galzoo.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--metrics-out", type=Path, required=True)
    parser.add_argument("--predictions-out", type=Path, required=True)
    parser.add_argument("--confusion-out", type=Path, required=True, help="actual,predicted CSV for `dvc plots`")
    args = parser.parse_args()

    metrics = evaluate_classifier(load_params(), raw_dir=args.raw, store_dir=args.store, split_path=args.split,
                                  model_path=args.model, metrics_path=args.metrics_out,
                                  predictions_path=args.predictions_out, confusion_path=args.confusion_out)
    low, high = metrics["ci95"]["accuracy"]["low"], metrics["ci95"]["accuracy"]["high"]
    print(f"{metrics['model']}: accuracy {metrics['accuracy']:.4f} [{low:.4f}, {high:.4f}], "
          f"macro F1 {metrics['macro_f1']:.4f}, AUC {metrics['auc']:.4f} on {metrics['n_test']} test galaxies")


if __name__ == "__main__":
    run_stage(main)
