"""A sweep of DVC experiments split over machines: ``galzoo sweep --shard 2/4`` queues and runs this machine's
share of a grid of ``-S key=v1,v2`` values, and pushes its experiments to the git and DVC remotes, where
``galzoo report --pull <remote>`` on any machine finds every shard's runs.

galzoo schedules nothing itself: each machine runs ``dvc exp run --queue`` and DVC's queue workers,
and the experiments travel with ``dvc exp push`` / ``dvc exp pull`` (their metrics in git, their outputs in
the DVC remote), so a shard that fails can be re-run on any machine.
"""
from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from galzoo.errors import ConfigError


@dataclass(frozen=True)
class Shard:
    """Machine ``index`` (1-based) of ``count``."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise ConfigError(f"--shard: expected i/n with 1 <= i <= n (this machine's share, e.g. 2/4), got {text!r}")
        return cls(int(match[1]), int(match[2]))

    def take(self, items: list) -> list:
        """Every ``count``-th item from the ``index``-th: the shards together take each item exactly once,
        and a grid ordered model by model spreads every model over the machines."""
        return items[self.index - 1::self.count]


@dataclass(frozen=True)
class Run:
    """One experiment of the grid: its name and its ``-S`` overrides."""

    name: str
    overrides: tuple[tuple[str, str], ...]


def parse_axes(assignments: list[str]) -> list[tuple[str, list[str]]]:
    """``["model=a,b", "seed=1,2"]`` -> ``[("model", ["a", "b"]), ("seed", ["1", "2"])]`` (dvc's -S syntax)."""
    axes: list[tuple[str, list[str]]] = []
    for text in assignments:
        key, sep, values = text.partition("=")
        items = [v.strip() for v in values.split(",")]
        if not sep or not key.strip() or not all(items):
            raise ConfigError(f"-S {text!r}: expected key=value or key=v1,v2,... (as dvc exp run -S)")
        if any(key.strip() == k for k, _ in axes):
            raise ConfigError(f"-S {key.strip()} is given twice: put all its values in one -S, comma-separated")
        axes.append((key.strip(), items))
    if not axes:
        raise ConfigError("galzoo sweep: nothing to sweep; give -S key=v1,v2 (e.g. -S model=alexnet,vgg16 -S seed=1,2)")
    return axes


def grid(axes: list[tuple[str, list[str]]], prefix: str) -> list[Run]:
    """Every combination, the first axis varying slowest; named ``<prefix>-<value>-...`` from the axes that
    vary (a name is a git ref: other characters become ``_``)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", prefix):
        raise ConfigError(f"--name: expected letters, digits, '.', '_' or '-' (a git ref name), got {prefix!r}")
    runs = []
    for values in itertools.product(*(v for _, v in axes)):
        varying = [value for (_, options), value in zip(axes, values) if len(options) > 1]
        name = "-".join([prefix, *(re.sub(r"[^A-Za-z0-9._]", "_", v) for v in varying)])
        runs.append(Run(name, tuple((key, value) for (key, _), value in zip(axes, values))))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ConfigError(f"two runs of the sweep get the same name ({names}): values differ only in characters a "
                          f"git ref cannot hold")
    return runs


def dvc(*args: str, repo: Path, capture: bool = False, echo: bool = True) -> str:
    """Run ``dvc args`` in ``repo``; a failure is an error that shows the command and dvc's own message."""
    command = [sys.executable, "-m", "dvc", *args]
    if echo:
        print(f"galzoo sweep: dvc {' '.join(args)}", file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=repo, text=True, check=False,  # dvc's own output goes to stderr:
                          stdout=subprocess.PIPE if capture else sys.stderr,  # stdout holds galzoo's result
                          stderr=subprocess.PIPE if capture else None)
    if done.returncode:
        detail = f":\n{(done.stdout or '')[-2000:]}{(done.stderr or '')[-2000:]}" if capture else " (its output is above)"
        raise ConfigError(f"dvc {' '.join(args)} failed with exit code {done.returncode}{detail}")
    return done.stdout or ""


def entries_of(table: str, status: str) -> list[str]:
    """The lines (task, name, created, status) of a ``dvc queue status`` table whose status matches ``status``."""
    return [" ".join(line.split()) for line in table.splitlines()[1:] if re.search(rf"\b{status}\s*$", line)]


def queue_entries(repo: Path, status: str) -> list[str]:
    """The ``dvc queue status`` lines (task, name, created, status) of entries in ``status``."""
    return entries_of(dvc("queue", "status", repo=repo, capture=True), status)


def queued_experiments(repo: Path) -> list[str]:
    """Experiments already waiting in the DVC queue (``--run-all`` would run them as well)."""
    return queue_entries(repo, "Queued")


def run_queue(repo: Path, names: list[str], jobs: int, *, first_poll_s: float = 2.0, max_poll_s: float = 30.0,
              workerless_s: float = 120.0) -> None:
    """Run the queued experiments ``names`` with ``jobs`` DVC queue workers; return when none is queued or running.

    One worker: ``dvc exp run --run-all``, which shows the running experiment's log as it goes. Several:
    ``dvc queue start`` and a watch of ``dvc queue status``, because ``--run-all --jobs N`` can wait forever on
    a worker that outlives the empty queue (treeverse/dvc#10398; seen in this project's own sweep test); the
    workers left idle are stopped at the end. Runs still queued with no worker for ``workerless_s`` are an
    error rather than a wait without end (a running one is waited for: ``dvc queue status`` has been known to
    count no workers while experiments ran, treeverse/dvc#10427)."""
    if jobs == 1:
        dvc("exp", "run", "--run-all", "--jobs", "1", repo=repo)
        return
    dvc("queue", "start", "--jobs", str(jobs), repo=repo)
    poll_s, reported, workerless_since = first_poll_s, None, None
    while True:
        table = dvc("queue", "status", repo=repo, capture=True, echo=False)
        status = {name: state for _, name, *_, state in map(str.split, entries_of(table, "(Queued|Running)"))
                  if name in names}
        pending = list(status)
        if pending != reported:
            print(f"galzoo sweep: {len(names) - len(pending)} of {len(names)} experiments finished"
                  + (f"; waiting for {', '.join(pending)}" if pending else ""), file=sys.stderr, flush=True)
            reported = pending
        if not pending:
            break
        workers = re.search(r"Worker status: (\d+) active, (\d+) idle", table)
        if workers and int(workers[1]) + int(workers[2]) == 0 and "Running" not in status.values():
            workerless_since = workerless_since if workerless_since is not None else time.monotonic()
            if time.monotonic() - workerless_since > workerless_s:
                raise ConfigError(f"no DVC queue worker has run for {workerless_s:.0f} s while {', '.join(pending)} "
                                  f"are still queued: `dvc queue start` resumes them")
        else:
            workerless_since = None
        time.sleep(poll_s)
        poll_s = min(max_poll_s, poll_s * 1.5)  # each `dvc queue status` costs a second of CPU the runs need
    dvc("queue", "stop", repo=repo)


def threads_per_experiment(axes: list[tuple[str, list[str]]], jobs: int,
                           cores: int | None = None) -> tuple[tuple[str, str], ...]:
    """With ``jobs`` experiments at once, each trains with its share of the cores (``runtime.threads``),
    unless the sweep sets the threads itself: N experiments with all cores each would fight over them."""
    if jobs == 1 or any(key == "runtime.threads" for key, _ in axes):
        return ()
    cores = len(os.sched_getaffinity(0)) if cores is None else cores
    return (("runtime.threads", str(max(1, cores // jobs))),)


def run_shard(axes: list[tuple[str, list[str]]], shard: Shard, *, repo: Path = Path("."), prefix: str = "sweep",
              jobs: int = 1, push: str | None = None, targets: list[str] | None = None) -> list[Run]:
    """Queue this shard's runs (``dvc exp run --queue``), run them (:func:`run_queue`), and push them to the git
    remote ``push`` (and their outputs to the default DVC remote). Returns the runs of this shard."""
    if jobs < 1:
        raise ConfigError(f"--jobs: expected 1 or more experiments at a time, got {jobs}")
    mine = shard.take(grid(axes, prefix))
    if not mine:
        print(f"galzoo sweep: shard {shard.index}/{shard.count} has no runs (the grid has fewer than "
              f"{shard.count})", file=sys.stderr)
        return mine
    waiting = queued_experiments(repo)
    if waiting:
        raise ConfigError(f"the DVC queue already holds {len(waiting)} experiments ({', '.join(waiting[:5])}): "
                          f"run them (dvc exp run --run-all) or remove them (dvc queue remove --queued) first, "
                          f"so that this shard runs exactly its own")
    shared = threads_per_experiment(axes, jobs)
    for run in mine:
        settings = [arg for key, value in (*run.overrides, *shared) for arg in ("-S", f"{key}={value}")]
        dvc("exp", "run", "--queue", "-n", run.name, *settings, *(targets or []), repo=repo)
    run_queue(repo, [run.name for run in mine], jobs)
    unfinished = [line for line in queue_entries(repo, "(Queued|Running|Failed)")
                  if any(f" {r.name} " in f" {line} " for r in mine)]
    if unfinished:
        raise ConfigError(f"experiments of this shard did not finish ({'; '.join(unfinished)}): "
                          f"`dvc queue logs <name>` shows why")
    if push:
        dvc("exp", "push", push, *(r.name for r in mine), repo=repo)
    return mine

