"""DVC stage `report`: the Markdown report with our tables beside the papers' numbers."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
from pathlib import Path

from galzoo.config import load_params
from galzoo.studies.scale_study.report import render_report
from galzoo.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--train-logs", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True, help="folder of <scale>.npz test predictions")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    params = load_params()
    text = render_report(args.metrics, args.train_logs, args.predictions, params.crop.scales,
                         model=params.scale_study.model, budget=params.budget)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    run_stage(main)
