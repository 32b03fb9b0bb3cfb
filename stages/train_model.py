"""DVC stage `train_model`: train `model` on `task` with the recipe of the study that owns the task."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
import sys
from pathlib import Path

from galzoo.stage import run_stage
from galzoo.training.launch import add_launch_arguments, launch_from, relaunch_under_torchrun


def main() -> None:
    """`--processes N` > 1 re-runs this script as N data-parallel processes under torchrun (as running it with
    `torchrun --nproc_per_node=N` yourself does); `--nodes M` > 1 makes it one of M machines meeting at
    `--rendezvous` (each machine runs this same command: `galzoo join <stage>`)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--model-out", type=Path, required=True)
    parser.add_argument("--live-dir", type=Path, required=True, help="DVCLive folder for the learning curves")
    add_launch_arguments(parser)
    args = parser.parse_args()
    exit_code = relaunch_under_torchrun(launch_from(args), __file__, sys.argv[1:])
    if exit_code is not None:
        sys.exit(exit_code)
    from galzoo.config import load_params  # only in the processes that train: a launcher needs neither
    from galzoo.studies import StageFiles, resolve, study_for

    params = resolve(load_params())
    study_for(params).train(params, StageFiles(raw=args.raw, store=args.store, split=args.split,
                                               model=args.model_out, live=args.live_dir))


if __name__ == "__main__":
    run_stage(main)
