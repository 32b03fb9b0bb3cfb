"""Learning curve of one classifier on the DAG's task data: validation accuracy against CPU training time.

Trains ``model`` with the current params.yaml plus ``--set key=value`` overrides (as ``dvc exp run -S``),
reading the DAG's own task store and split (run ``dvc repro split_task`` first, with the same ``model`` /
``task`` / ``data``), then scores the test split. Prints one row per validation point (iteration, time spent
in training steps so far, validation accuracy and loss) and the test scores: the figures behind the
``embedded`` budgets in params.yaml. Not a test: times depend on the machine and its other load.
``--keep DIR`` keeps the trained model and its test predictions, for ``decision_rule.py``.

    python benchmarks/learning_curve.py --set model=kabani_maxout \\
        --set cnn_comparison.budgets.embedded.iterations=600 --set cnn_comparison.budgets.embedded.eval_every=50
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from galzoo.config import load_params
from galzoo.studies import StageFiles, resolve, study_for


def parse_override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--set expects key=value, got {text!r}")
    return key, yaml.safe_load(value)


def read_curve(live_dir: Path) -> pd.DataFrame:
    """The validation points DVCLive wrote: one row per step with every logged value."""
    frames = []
    for tsv in sorted((live_dir / "plots" / "metrics").rglob("*.tsv")):
        name = str(tsv.relative_to(live_dir / "plots" / "metrics").with_suffix(""))
        frame = pd.read_csv(tsv, sep="\t")
        frames.append(frame.rename(columns={frame.columns[-1]: name}).set_index("step")[[name]])
    return pd.concat(frames, axis=1)


def recipe_batch_size(params) -> int:
    """The batch size the run trained with (the budget's, for the classifier recipe)."""
    return params.cnn_comparison.recipe_for(params.budget, params.model).batch_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", dest="overrides", type=parse_override, action="append", default=[],
                        metavar="KEY=VALUE", help="a params.yaml override (repeatable)")
    parser.add_argument("--raw", type=Path, default=None, help="default: data/raw/<data.source>")
    parser.add_argument("--store", type=Path, default=Path("data/task_store"))
    parser.add_argument("--split", type=Path, default=Path("data/splits/task.csv"))
    parser.add_argument("--json-out", type=Path, default=None, help="also write the curve and scores here")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep the trained model, test predictions and confusion matrix in DIR")
    args = parser.parse_args()
    params = resolve(load_params(overrides=dict(args.overrides)))
    raw = args.raw or Path("data/raw") / params.data.source
    study = study_for(params)
    with tempfile.TemporaryDirectory() as tmp:
        files = StageFiles(raw=raw, store=args.store, split=args.split, model=Path(tmp) / "model.pt",
                           live=Path(tmp) / "live", metrics=Path(tmp) / "test.json",
                           predictions=Path(tmp) / "predictions.npz", confusion=Path(tmp) / "confusion.csv")
        start = time.time()
        study.train(params, files)
        train_s = time.time() - start
        curve = read_curve(files.live)
        scores = study.evaluate(params, files)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for kept in (files.model, files.predictions, files.confusion):
                if kept.exists():
                    shutil.copy2(kept, args.keep / kept.name)
    # time spent in training steps up to each point, from the rate logged over each interval (validation
    # excluded): unlike wall-clock shares it stays right when other load comes and goes during the run
    steps = pd.Series(curve.index, index=curve.index).diff().fillna(curve.index[0])
    curve["train_seconds"] = (steps * recipe_batch_size(params) / curve["images_per_second"]).cumsum()
    print(curve.to_string(float_format=lambda v: f"{v:.4f}"))
    headline = {k: v for k, v in scores.items() if isinstance(v, (int, float, str))}
    print(f"training: {train_s:.0f} s; test: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                                          for k, v in headline.items()))
    if "per_class" in scores:
        print("test recall per class: " + ", ".join(f"{name} {row['recall']:.2f}"
                                                     for name, row in scores["per_class"].items()))
    if args.json_out:
        args.json_out.write_text(json.dumps({"overrides": dict(args.overrides), "train_seconds": train_s,
                                             "curve": curve.reset_index().to_dict("list"), "test": scores},
                                            indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
