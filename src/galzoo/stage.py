"""Running a DVC stage script: a galzoo error ends the stage with its message, not a traceback; SIGTERM ends it
cleanly; and a stage started by ``dvc repro`` (or torchrun) stops when the process that started it goes away.

Why the last: ``dvc repro`` runs a stage as ``$SHELL -c "<cmd>"`` and does not pass its own signals on, so
``kill <dvc>`` (or dvc crashing) leaves the stage running as an orphan that goes on writing into outputs nobody
will record. What the process tree looks like (measured with DVC 3.67 on Linux):

- bash (``SHELL=/bin/bash``) execs a single command, so the stage's parent is dvc itself;
- dash (``/bin/sh``, which DVC uses when ``SHELL`` is unset: cron, containers, CI) and any shell running a
  compound command (``a && b``) stay alive between dvc and the stage, and outlive dvc when it is killed;
- torchrun's workers are children of the torchrun agent, each in a session of its own, so no terminal signal
  reaches them.

So a watchdog thread remembers, at start, the *launcher chain*: the parent and, when that is a shell that dvc
started, the ancestors up to the first one that is not a shell (dvc). Every :data:`POLL_S` it checks that each
link still has the parent it had (a dead process's children are re-parented at once, so a re-used pid cannot
fool it). When a link is broken it says so on stderr and sends SIGTERM to the stage's main thread.

SIGTERM raises ``SystemExit(143)`` in the main thread, so ``finally`` blocks and context managers run: a
staging folder (:func:`galzoo.sources.archive.staged_directory`) is removed and a ``multiprocessing.Pool``
terminates its workers. A second SIGTERM, or a stage still running :data:`GRACE_S` after the watchdog fired,
ends the process at once. Processes forked by the stage (pool, DataLoader workers) get the default SIGTERM back
at fork, so `Pool.terminate()` ends them even when they are blocked in C.

Run by hand from a terminal (neither ``DVC_STAGE``, which dvc sets for every stage command, nor torchrun's
variables in the environment) the watchdog is off: the terminal's own hang-up and Ctrl-C reach the stage, and
``nohup``/``disown`` keep meaning "outlive my shell". Under torchrun the workers watch the agent only, and keep
the default SIGTERM the agent uses to stop them.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from galzoo.errors import GalzooError

POLL_S = 1.0
"""Seconds between two checks that the launcher is still there."""
GRACE_S = 30.0
"""Seconds the stage gets to clean up after the watchdog's SIGTERM before it is ended at once."""
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "ash", "fish", "busybox", "tcsh", "csh"})
"""Process names of the shells that may stand between dvc and a stage (``$SHELL -c "<cmd>"``)."""
_MAX_SHELLS = 4
_EXIT_SIGTERM = 128 + signal.SIGTERM


def run_stage(main: Callable[[], None]) -> None:
    restore_sigterm = _end_cleanly_on_sigterm()
    watchdog = watch_launcher()
    try:
        main()
    except GalzooError as exc:
        print(f"galzoo: error: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        if watchdog is not None:
            watchdog.stop()
        restore_sigterm()


# --- Who started this stage -------------------------------------------------------------------------------

def _under_torchrun() -> bool:
    from galzoo.training.launch import under_torchrun  # torch-free

    return under_torchrun()


def launched_by() -> str | None:
    """``"torchrun"``, ``"dvc"`` or None (by hand, a test, a script): who started this process, from the
    environment they set (torchrun: ``LOCAL_RANK`` and ``WORLD_SIZE``; dvc: ``DVC_STAGE``)."""
    if _under_torchrun():
        return "torchrun"
    if os.environ.get("DVC_STAGE"):
        return "dvc"
    return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(name, parent pid) of a live process, from Linux's /proc; None if it is gone or /proc is absent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, _, rest = stat.partition(" (")[2].rpartition(")")
    fields = rest.split()
    if len(fields) < 2 or fields[0] in ("Z", "X"):  # a zombie has exited: it no longer counts as alive
        return None
    return name, int(fields[1])


def launcher_chain(follow_shells: bool) -> list[int]:
    """This process's parent and, with ``follow_shells``, the ancestors above it up to and including the
    first one that is not a shell. Where /proc is absent (not Linux) the chain is just the parent."""
    chain = [os.getppid()]
    while follow_shells and len(chain) <= _MAX_SHELLS and chain[-1] > 1:
        stat = _proc_stat(chain[-1])
        if stat is None or stat[0] not in SHELLS:
            break
        chain.append(stat[1])
    return chain


def broken_link(chain: list[int]) -> int | None:
    """The first process of ``chain`` that has gone (re-parented children tell), or None if all are there."""
    if os.getppid() != chain[0]:
        return chain[0]
    for child, parent in zip(chain, chain[1:]):
        stat = _proc_stat(child)
        if stat is None:
            return child
        if stat[1] != parent:
            return parent
    return None


# --- The watchdog -------------------------------------------------------------------------------------

class LauncherWatchdog:
    """A daemon thread that stops this process (SIGTERM to its main thread) when ``chain`` breaks."""

    def __init__(self, chain: list[int], launcher: str) -> None:
        self.chain = chain
        self.launcher = launcher
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="galzoo-launcher-watchdog", daemon=True)

    def start(self) -> LauncherWatchdog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(POLL_S):
            gone = broken_link(self.chain)
            if gone is not None:
                break
        else:
            return
        if gone == self.chain[-1]:
            what = f"{self.launcher} (pid {gone}), which started this stage,"
        else:
            what = f"the shell (pid {gone}) between {self.launcher} (pid {self.chain[-1]}) and this stage"
        _say(f"galzoo: {what} has gone away: stopping the stage (its outputs are incomplete)")
        _send_sigterm_to_main_thread()
        # The main thread cleans up (staging folders, pool workers); if it cannot, end the process anyway.
        # A daemon thread: it does not delay a normal exit.
        time.sleep(GRACE_S)
        _say(f"galzoo: the stage did not stop within {GRACE_S:g} s of SIGTERM: ending it now")
        os._exit(_EXIT_SIGTERM)


def watch_launcher() -> LauncherWatchdog | None:
    """Start the watchdog for a process started by dvc or torchrun (see the module docstring); None otherwise,
    or where processes are not re-parented (Windows)."""
    launcher = launched_by()
    if launcher is None or os.name != "posix":
        return None
    chain = launcher_chain(follow_shells=launcher == "dvc")
    return LauncherWatchdog(chain, launcher).start()


def _send_sigterm_to_main_thread() -> None:
    try:
        signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)
    except (AttributeError, OSError, ValueError):
        os.kill(os.getpid(), signal.SIGTERM)


def _say(message: str) -> None:
    """A line on stderr, which may be a pipe nobody reads any more (its reader was dvc)."""
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError, RuntimeError):
        pass


# --- SIGTERM ------------------------------------------------------------------------------------------

def _default_sigterm_in_forked_child() -> None:
    """A process forked by the stage (a pool or DataLoader worker) gets the default SIGTERM back at once. The
    inherited Python handler runs only between bytecodes, so a worker blocked in C (a lock inherited locked
    from the fork) ignored ``Pool.terminate()``'s SIGTERM and the stage waited for it forever (seen once in
    ``crop_task`` under ``dvc repro``, 2026-12-05)."""
    if getattr(signal.getsignal(signal.SIGTERM), "galzoo_stage_handler", False):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_default_sigterm_in_forked_child)


def _end_cleanly_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM raise ``SystemExit(143)`` in the main thread; returns what puts the old handler back.

    Left alone: a handler someone else installed (or SIG_IGN), a call from another thread (``signal`` allows
    handlers in the main thread only) and torchrun workers (the agent stops them with SIGTERM, then SIGKILL
    after a timeout; one blocked in a collective could not run a Python handler anyway).
    """
    if (threading.current_thread() is not threading.main_thread() or _under_torchrun()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        return lambda: None
    owner = os.getpid()

    def on_sigterm(signum, frame):
        signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends the process at once
        if os.getpid() != owner:  # a child forked without the hook below inherited this handler
            os.kill(os.getpid(), signum)
            return
        _say("galzoo: stage stopped by SIGTERM")
        raise SystemExit(_EXIT_SIGTERM)

    on_sigterm.galzoo_stage_handler = True
    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    return restore
