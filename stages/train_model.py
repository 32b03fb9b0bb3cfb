"""DVC stage `train_model`: train `model` on `task` with that task's study recipe (Dai & Tong, or Kalvankar)."""
import _checkout  # noqa: F401,I001  (this checkout's src/ before any installed galzoo)
import argparse
import sys
from pathlib import Path

from galzoo.errors import ConfigError
from galzoo.stage import run_stage
from galzoo.training.launch import relaunch_under_torchrun

DATA_PARALLEL_STUDIES = ("cnn_comparison", "efficientnet")
"""Studies whose training runs as several DDP processes (galzoo.classifier, galzoo.efficientnet_study);
`--processes N` > 1 re-runs this script as N processes under torchrun (as `torchrun --nproc_per_node=N` does)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--model-out", type=Path, required=True)
    parser.add_argument("--live-dir", type=Path, required=True, help="DVCLive folder for the learning curves")
    parser.add_argument("--processes", type=int, default=1, help="training processes (runtime.nproc; 1 = this one)")
    args = parser.parse_args()
    exit_code = relaunch_under_torchrun(args.processes, __file__, sys.argv[1:])
    if exit_code is not None:
        sys.exit(exit_code)
    from galzoo import experiment  # only in the processes that train: a launcher needs neither
    from galzoo.config import load_params
    from galzoo.training.distributed import from_environment

    params = load_params()
    if from_environment().enabled and experiment.study_of(params) not in DATA_PARALLEL_STUDIES:
        raise ConfigError(f"runtime.nproc: the {experiment.study_of(params)} study trains in one process; "
                          f"set runtime.nproc: 1 (data-parallel training: {', '.join(DATA_PARALLEL_STUDIES)})")
    experiment.train(params, raw_dir=args.raw, store_dir=args.store, split_path=args.split,
                     model_path=args.model_out, live_dir=args.live_dir)


if __name__ == "__main__":
    run_stage(main)
