"""Starting a train stage as several data-parallel processes: ``--processes N`` re-runs the stage script under
torchrun (``python -m torch.distributed.run --standalone --nproc_per_node=N``).

Kept free of torch and the studies, so that the launching process starts in a blink and imports nothing
the N training processes will import again.
"""
from __future__ import annotations

import os
import subprocess
import sys

from galzoo.errors import ConfigError


def under_torchrun() -> bool:
    """True in a process torchrun started (it sets LOCAL_RANK and WORLD_SIZE)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def relaunch_under_torchrun(nproc: int, script: str, argv: list[str]) -> int | None:
    """Run ``script argv`` as ``nproc`` processes under torchrun and return its exit code, or None when this
    process should simply do the work itself (``nproc`` 1, or already started by torchrun).

    ``nproc`` 1 never involves torchrun: a plain CPU machine runs the stage exactly as plain python. On CUDA
    each process needs a GPU of its own (checked by each process as it joins, ``distributed_session``).
    """
    if nproc < 1:
        raise ConfigError(f"runtime.nproc: expected 1 or more processes, got {nproc}")
    if nproc == 1 or under_torchrun():
        return None
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               os.path.abspath(script), *argv]
    print(f"galzoo: {nproc} training processes: {' '.join(command)}", file=sys.stderr, flush=True)
    return subprocess.run(command, check=False).returncode
