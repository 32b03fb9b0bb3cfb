"""Starting a train stage as several data-parallel processes, on one machine or several.

``--processes N`` re-runs the stage script under torchrun (``python -m torch.distributed.run``): on one
machine with ``--standalone``; with ``--nodes M`` > 1 every machine runs the same stage command, and their
torchrun agents meet at a c10d rendezvous (``--rendezvous host:port``) to form one job of M x N processes.
torchrun, not galzoo, assigns the ranks: the process of global rank 0, which alone writes the stage's
outputs, may run on any of the machines, so a multi-machine stage needs the workspace on a filesystem every
machine sees (docs/scaling.md).

Kept free of torch and the studies, so that the launching process starts in a blink and imports nothing
the training processes will import again.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from galzoo.errors import ConfigError

AUTO = "auto"
RENDEZVOUS_VARIABLES = ("MASTER_ADDR", "MASTER_PORT")
"""Where ``rendezvous: auto`` looks: what Slurm batch scripts, Kubernetes' PyTorchJob and most cluster
launchers export for the first node."""


def under_torchrun() -> bool:
    """True in a process torchrun started (it sets LOCAL_RANK and WORLD_SIZE)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


@dataclass(frozen=True)
class Launch:
    """How many training processes a train stage runs: ``nproc`` per machine on ``nodes`` machines that meet
    at ``rendezvous`` (``host:port``, or ``auto`` for ``$MASTER_ADDR:$MASTER_PORT``)."""

    nproc: int = 1
    nodes: int = 1
    rendezvous: str = AUTO

    def __post_init__(self) -> None:
        if self.nproc < 1:
            raise ConfigError(f"runtime.nproc: expected 1 or more processes, got {self.nproc}")
        if self.nodes < 1:
            raise ConfigError(f"runtime.nodes: expected 1 or more machines, got {self.nodes}")
        if self.rendezvous != AUTO:
            parse_endpoint(self.rendezvous, "runtime.rendezvous")

    @property
    def single_process(self) -> bool:
        return self.nproc == 1 and self.nodes == 1

    def endpoint(self, environ: dict[str, str] | None = None) -> str:
        """``host:port`` of the rendezvous; ``auto`` reads it from the environment, which must then have it."""
        if self.rendezvous != AUTO:
            return self.rendezvous
        environ = os.environ if environ is None else environ
        missing = [name for name in RENDEZVOUS_VARIABLES if not environ.get(name)]
        if missing:
            raise ConfigError(f"runtime.rendezvous: auto, with runtime.nodes = {self.nodes}, reads the rendezvous "
                              f"from ${' and $'.join(RENDEZVOUS_VARIABLES)}, but {', '.join(missing)} is not set: "
                              f"export them on every machine, or set runtime.rendezvous to host:port of the first "
                              f"machine (reachable from all of them)")
        endpoint = f"{environ['MASTER_ADDR']}:{environ['MASTER_PORT']}"
        parse_endpoint(endpoint, "$MASTER_ADDR:$MASTER_PORT")
        return endpoint

    def torchrun_command(self, script: str, argv: list[str], environ: dict[str, str] | None = None) -> list[str]:
        """The torchrun command that runs ``script argv`` as this launch's processes."""
        script = os.path.abspath(script)
        if self.nodes == 1:
            where = ["--standalone"]
        else:
            where = [f"--nnodes={self.nodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={self.endpoint(environ)}",
                     f"--rdzv-id={rendezvous_id(script, argv)}", "--max-restarts=0"]
        return [sys.executable, "-m", "torch.distributed.run", *where, f"--nproc-per-node={self.nproc}", script,
                *argv]


def parse_endpoint(text: str, key: str) -> tuple[str, int]:
    """``host:port`` (an IPv6 host in brackets) -> (host, port); anything else is an error naming ``key``."""
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})", text)
    if not match or not 1 <= int(match[2]) <= 65535:
        raise ConfigError(f"{key}: expected host:port of the rendezvous (e.g. node001:29500), got {text!r}")
    return match[1], int(match[2])


def rendezvous_id(script: str, argv: list[str]) -> str:
    """The same on every machine that runs the same stage command, and different for another stage (so a
    straggler from the previous stage cannot join the next one)."""
    digest = hashlib.sha256("\0".join([Path(script).name, *argv]).encode()).hexdigest()[:12]
    return f"galzoo-{Path(script).stem}-{digest}"


def add_launch_arguments(parser: argparse.ArgumentParser) -> None:
    """The train stages' ``--processes``, ``--nodes`` and ``--rendezvous`` (dvc.yaml passes runtime's)."""
    parser.add_argument("--processes", type=int, default=1,
                        help="training processes per machine (runtime.nproc; 1 = this one)")
    parser.add_argument("--nodes", type=int, default=1,
                        help="machines training together (runtime.nodes); each runs this same command")
    parser.add_argument("--rendezvous", default=AUTO,
                        help="host:port of their c10d rendezvous (runtime.rendezvous; auto = $MASTER_ADDR:$MASTER_PORT)")


def launch_from(args: argparse.Namespace) -> Launch:
    return Launch(nproc=args.processes, nodes=args.nodes, rendezvous=args.rendezvous)


def relaunch_under_torchrun(launch: Launch, script: str, argv: list[str]) -> int | None:
    """Run ``script argv`` as ``launch``'s processes under torchrun and return its exit code, or None when
    this process should simply do the work itself (one process on one machine, or already under torchrun).

    One process on one machine never involves torchrun: a plain CPU machine runs the stage exactly as plain
    python. On CUDA each process needs a GPU of its own (checked by each process as it joins,
    ``distributed_session``).
    """
    if launch.single_process or under_torchrun():
        return None
    command = launch.torchrun_command(script, argv)
    where = f"{launch.nodes} machines x " if launch.nodes > 1 else ""
    print(f"galzoo: {where}{launch.nproc} training processes: {' '.join(command)}", file=sys.stderr, flush=True)
    return subprocess.run(command, check=False).returncode


TRAIN_SCRIPTS = ("stages/train_scale.py", "stages/train_model.py")


def stage_launch(command: str) -> Launch:
    """The Launch a train stage's command line asks for, read with the stages' own launch arguments."""
    parser = argparse.ArgumentParser(add_help=False)
    add_launch_arguments(parser)
    known, _ = parser.parse_known_args(shlex.split(command))
    return launch_from(known)


def join_commands(targets: list[str], repo_dir: Path = Path(".")) -> list[tuple[str, str]]:
    """(stage, command) of each train stage in ``targets`` (``train_scale`` = all its scales, in the DAG's
    order), exactly as ``dvc repro`` runs it with this workspace's params.yaml; a stage that is not a train
    stage, or trains on one machine, is an error naming it."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    commands = []
    with contextlib.chdir(repo_dir), Repo(".") as repo:  # dvc reads a stage target relative to the cwd
        for target in targets:
            try:
                stages = repo.stage.collect(target)
            except DvcException as exc:
                raise ConfigError(f"galzoo join {target}: no such stage in {repo_dir / 'dvc.yaml'} ({exc})") from exc
            for stage in stages:
                command = stage.cmd if isinstance(stage.cmd, str) else " ".join(stage.cmd)
                if not any(script in command for script in TRAIN_SCRIPTS):
                    raise ConfigError(f"galzoo join {target}: {stage.addressing} is not a train stage (only "
                                      f"train_scale and train_model train on several machines)")
                if stage_launch(command).nodes == 1:
                    raise ConfigError(f"galzoo join {target}: {stage.addressing} trains on one machine "
                                      f"(runtime.nodes: 1 in params.yaml): nothing to join")
                commands.append((stage.addressing, command))
    return commands


def join(targets: list[str], repo_dir: Path = Path(".")) -> int:
    """Run ``targets``' train commands on this machine, one after the other, each joining the rendezvous the
    other machines' run of that stage meets at (the first machine runs them through ``dvc repro``)."""
    commands = join_commands(targets, repo_dir)
    for stage, command in commands:
        print(f"galzoo join: {stage}: {command}", file=sys.stderr, flush=True)
        code = subprocess.run(command, shell=True, cwd=repo_dir, check=False).returncode
        if code:
            print(f"galzoo join: {stage} failed (exit code {code})", file=sys.stderr)
            return code
    return 0
