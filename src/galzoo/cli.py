"""The ``galzoo`` command: helpers around the DVC pipeline (``dvc repro`` runs the studies themselves)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from galzoo.errors import GalzooError

IMAGE_GLOB = "*.jpg"


def _models(_args) -> None:
    from galzoo.models import list_models

    for name, summary in list_models().items():
        print(f"{name:20s} {summary}")


def _compare_real(args) -> None:
    """Statistics and crop gallery of the synthetic data beside a folder of real Kaggle images."""
    import pandas as pd

    from galzoo.plots.crop_gallery import plot_scale_gallery
    from galzoo.realism import folder_statistics, plot_synthetic_vs_real

    real = sorted(Path(args.real).glob(IMAGE_GLOB))
    synthetic = sorted(Path(args.synthetic).glob(IMAGE_GLOB))[: args.limit]
    for folder, found in ((args.real, real), (args.synthetic, synthetic)):
        if not found:
            raise GalzooError(f"{folder}: no {IMAGE_GLOB} images found")
    real_stats = folder_statistics(real[: args.limit])
    synthetic_stats = folder_statistics(synthetic)
    plot_synthetic_vs_real(synthetic_stats, real_stats, args.out / "synthetic_vs_real.png")
    plot_scale_gallery(real[: args.gallery], args.out / "crop_gallery_real.png", n=args.gallery)
    print("medians:\n" + str(pd.DataFrame({"real": real_stats.median(), "synthetic": synthetic_stats.median()})))


def _report(args) -> None:
    """One report of everything scored (the DAG's outputs in the workspace and every DVC experiment), or of one
    study or task: Markdown on stdout and in a file, and a self-contained HTML page beside it."""
    import json

    from galzoo.report import build_report, read_exp_show, report_paths, write_report
    from galzoo.studies import get_study

    if args.study is not None:
        get_study(args.study)  # an unknown name is an error listing the studies

    if args.exp_json:
        if not args.exp_json.is_file():
            raise GalzooError(f"{args.exp_json}: file not found (expected the output of dvc exp show --json)")
        try:
            exp_show = json.loads(args.exp_json.read_text())
        except json.JSONDecodeError as exc:
            raise GalzooError(f"{args.exp_json}: not JSON ({exc}); expected the output of dvc exp show --json")
    else:
        if args.pull:
            from galzoo.sweep import dvc

            dvc("exp", "pull", args.pull, repo=args.repo)  # every experiment of this commit, outputs included
        exp_show = read_exp_show(args.repo)
    md_path, html_path = report_paths(args.out, args.repo, study=args.study, task=args.task)
    text = build_report(args.repo, exp_show, md_path, study=args.study, task=args.task, plots_dir=args.plots_dir)
    write_report(text, md_path, html_path)
    print(text)
    print(f"written: {md_path} and {html_path} (every figure inlined: opens offline)", file=sys.stderr)


def _predict(args) -> None:
    """Score images with a trained model; the preprocessing comes from the checkpoint (see galzoo.predict)."""
    from galzoo.predict import write_predictions_csv

    rows = write_predictions_csv(args.model, args.inputs, args.out, force=args.force, tta=args.tta,
                                 batch_size=args.batch_size, device=args.device, workers=args.workers)
    print(f"{rows} predictions written to {args.out}", file=sys.stderr)


def _gallery(args) -> None:
    """The galaxies with the highest predicted value of each chosen column, one row per column."""
    from galzoo.plots.gallery import plot_prediction_gallery, read_predictions

    path = plot_prediction_gallery(read_predictions(args.predictions), args.images, args.answers, args.out,
                                   n=args.n, source=str(args.predictions))
    print(path, file=sys.stderr)


def _sweep(args) -> None:
    """This machine's share of a grid of experiments (see galzoo.sweep)."""
    from galzoo.sweep import Shard, parse_axes, run_shard

    runs = run_shard(parse_axes(args.set), Shard.parse(args.shard), repo=args.repo, prefix=args.name,
                     jobs=args.jobs, push=args.push, targets=args.targets)
    print("\n".join(run.name for run in runs))


def _join(args) -> None:
    """Be one of the machines of a multi-machine train stage: run its command here (docs/scaling.md)."""
    from galzoo.training.launch import join

    code = join(args.stages, args.repo)
    if code:
        sys.exit(code)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="galzoo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("models", help="list the registered models").set_defaults(run=_models)
    compare = commands.add_parser("compare-real", help="synthetic vs real image statistics + real crop gallery")
    compare.add_argument("--real", type=Path, required=True, help="folder of real Kaggle images (*.jpg)")
    compare.add_argument("--synthetic", type=Path, default=Path("data/raw/synthetic/images"))
    compare.add_argument("--out", type=Path, default=Path("plots"))
    compare.add_argument("--limit", type=int, default=1000, help="images per folder to measure")
    compare.add_argument("--gallery", type=int, default=8, help="galaxies in the real crop gallery")
    compare.set_defaults(run=_compare_real)
    report = commands.add_parser(
        "report", help="one report of every study (workspace metrics and figures + every DVC experiment), beside "
                       "the papers and the trivial baselines: Markdown + a self-contained HTML page",
        description="Every score the project has, beside its paper's number and its trivial baseline, with the "
                    "CNN comparison's paired-bootstrap significance and every figure. Writes Markdown and an HTML "
                    "page with the figures inlined (opens offline); prints the Markdown.")
    report.add_argument("--study", help="only this study: scale_study, cnn_comparison, efficientnet or perseus "
                                        "(default: every study)")
    report.add_argument("--task", help="only runs of this task (default: every task)")
    report.add_argument("--exp-json", type=Path, help="read a saved `dvc exp show --json` instead of running it")
    report.add_argument("--repo", type=Path, default=Path("."), help="the DVC repository (default: here)")
    report.add_argument("--pull", metavar="GIT_REMOTE",
                        help="first `dvc exp pull` this git remote: the experiments other machines pushed (galzoo "
                             "sweep --push), with their outputs from the DVC remote")
    report.add_argument("--out", type=Path,
                        help="a folder for report.md + report.html (<study or task>.md + .html with a filter), or "
                             "a .md file (its .html beside it); default: reports/ of --repo")
    report.add_argument("--plots-dir", type=Path, help="also copy every run's figures (confusion and ROC PNGs, ...) "
                                                       "into this folder (default: only experiments' figures, into "
                                                       "figures/ beside the report)")
    report.set_defaults(run=_report)
    predict = commands.add_parser(
        "predict", help="score JPEG, PNG or FITS images with a trained model (preprocessing from the checkpoint)",
        description="Score images with a trained galzoo model. The preprocessing is the one the model was "
                    "trained with, read from the checkpoint. 37-output models write a Kaggle submission "
                    "(GalaxyID + Class1.1 ... Class11.6); classifiers write p_<class> and predicted_class.")
    predict.add_argument("inputs", nargs="+", type=Path,
                         help="image files (.jpg .jpeg .png .fits .fit .fts, optionally .gz for FITS) or folders "
                              "of them (not searched recursively)")
    predict.add_argument("--model", type=Path, required=True, help="a trained model (.pt) from the pipeline")
    predict.add_argument("-o", "--out", type=Path, required=True,
                         help="CSV file to write; an existing file is replaced only if it is an earlier galzoo "
                              "predict CSV (or with --force); never an input image or the model")
    predict.add_argument("--force", action="store_true",
                         help="replace an existing -o file even if it is not a galzoo predictions CSV (input "
                              "images and the model file are refused all the same)")
    predict.add_argument("--tta", action="store_true",
                         help="average over the 8 rotations by 90 degrees and flips of each model input (D4)")
    predict.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    predict.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                         help="auto = CUDA when present (bf16 autocast there), else CPU")
    predict.add_argument("--workers", type=int, default=0,
                         help="processes decoding and cropping images (default 0: in this process)")
    predict.set_defaults(run=_predict)
    sweep = commands.add_parser(
        "sweep", help="queue, run and push this machine's share of a grid of DVC experiments",
        description="Expand -S key=v1,v2 into every combination (named <name>-<values>), take this machine's "
                    "share (--shard i/n: every n-th from the i-th), queue them with `dvc exp run --queue`, run "
                    "them with DVC's queue workers (--jobs at once), and with --push send them to a git remote (their outputs "
                    "to the default DVC remote). `galzoo report --pull <remote>` on any machine then shows all.")
    sweep.add_argument("-S", "--set", action="append", default=[], metavar="KEY=V1,V2",
                       help="a params.yaml key and its values (repeatable), as dvc exp run -S")
    sweep.add_argument("--shard", default="1/1", help="this machine's share i/n (default 1/1: the whole grid)")
    sweep.add_argument("--name", default="sweep", help="experiment name prefix (default: sweep)")
    sweep.add_argument("--jobs", type=int, default=1, help="experiments at a time on this machine (default 1)")
    sweep.add_argument("--push", metavar="GIT_REMOTE", help="push this shard's experiments there when done")
    sweep.add_argument("--repo", type=Path, default=Path("."), help="the DVC repository (default: here)")
    sweep.add_argument("targets", nargs="*", help="stages to reproduce (default: the whole DAG, as dvc exp run)")
    sweep.set_defaults(run=_sweep)
    joiner = commands.add_parser(
        "join", help="run a train stage's command on this machine as one of runtime.nodes machines",
        description="On every machine but the one running `dvc repro`: run the named train stages' commands (as "
                    "dvc.yaml and params.yaml resolve them) one after the other, each joining the torchrun "
                    "rendezvous of the same stage on the other machines. Needs the same workspace (a shared "
                    "filesystem) and runtime.nodes > 1.")
    joiner.add_argument("stages", nargs="+", help="train stages, e.g. train_model, train_scale (all scales) or "
                                                  "train_scale@crop64")
    joiner.add_argument("--repo", type=Path, default=Path("."), help="the DVC repository (default: here)")
    joiner.set_defaults(run=_join)
    gallery = commands.add_parser("gallery", help="the galaxies with the highest predicted answers, one row each")
    gallery.add_argument("--predictions", type=Path, required=True, help="CSV written by galzoo predict")
    gallery.add_argument("--images", type=Path, required=True, help="folder of the images predicted on")
    gallery.add_argument("--answers", nargs="+", required=True,
                         help="columns to rank by, e.g. Class1.1 Class4.1 (or p_<class> for a classifier)")
    gallery.add_argument("-n", type=int, default=8, help="galaxies per row (default 8)")
    gallery.add_argument("-o", "--out", type=Path, required=True, help="PNG file to write")
    gallery.set_defaults(run=_gallery)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except GalzooError as exc:
        print(f"galzoo: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
