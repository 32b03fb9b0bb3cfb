"""A stage stops when the process that started it goes away (galzoo.stage.run_stage), and cleans up.

`dvc repro` runs a stage as `$SHELL -c "<cmd>"`: bash execs the stage (its parent is dvc), dash (/bin/sh) stays
in between. Killing dvc must not leave the stage running as an orphan, whichever the shell. Each test starts a
stand-in for dvc (a python process) that starts a stage-like child through run_stage, SIGKILLs the stand-in and
watches the child: it must stop within a few seconds and remove its staging folder.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from galzoo import stage
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")

#: A stage-like child: builds its output in a staging folder, says it is ready, then works for `seconds`.
CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from galzoo.sources.archive import staged_directory
    from galzoo.stage import run_stage

    out, seconds = Path(sys.argv[1]), float(sys.argv[2])

    def main():
        with staged_directory(out) as staging:
            (staging / "part.txt").write_text("half of it")
            Path(f"{out}.pid").write_text(str(os.getpid()))
            time.sleep(seconds)

    run_stage(main)
""")
#: A stand-in for dvc: starts the child (directly or through a shell) and waits.
PARENT = "import subprocess, sys, time\nsubprocess.Popen(sys.argv[1:])\ntime.sleep(120)\n"

DVC_ENV = {"DVC_STAGE": "download", "DVC_ROOT": "/nowhere"}
TORCHRUN_ENV = {"LOCAL_RANK": "0", "WORLD_SIZE": "1", "RANK": "0"}
#: The watchdog polls every second; the child must stop well within this.
DEADLINE_S = 5.0


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {*DVC_ENV, *TORCHRUN_ENV}}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")])
    return {**env, **extra}


def _alive(pid: int) -> bool:
    """Running (a zombie has exited; whoever adopted the orphan may not have reaped it yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _wait_for(condition, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class Tree:
    """parent (stand-in for dvc) -> [sh -c "python child; true"] -> python child (run_stage)."""

    def __init__(self, tmp_path: Path, env: dict[str, str], *, through_shell: bool, seconds: float = 60):
        tmp_path.mkdir(exist_ok=True)
        script = tmp_path / "child.py"
        script.write_text(CHILD)
        self.out = tmp_path / "out"
        self.pid_file = tmp_path / "out.pid"
        child = [sys.executable, str(script), str(self.out), str(seconds)]
        if through_shell:  # a compound command: bash and dash both stay between dvc and the stage
            child = ["/bin/sh", "-c", shlex.join(child) + "; true"]
        self.stderr = tmp_path / "stderr.txt"
        with self.stderr.open("w") as err:
            self.parent = subprocess.Popen([sys.executable, "-c", PARENT, *child], env=_env(env), stderr=err)
        self.child = 0

    def wait_until_working(self) -> None:
        assert _wait_for(lambda: self.pid_file.exists() and self.pid_file.read_text(), 20), "the child never started"
        self.child = int(self.pid_file.read_text())
        assert self.staging_folders(), "the child should be working in a staging folder"

    def kill_parent(self) -> None:
        self.parent.kill()
        self.parent.wait()

    def close(self) -> None:
        if self.parent.poll() is None:
            self.kill_parent()
        if self.child and _alive(self.child):
            os.kill(self.child, signal.SIGKILL)

    def staging_folders(self) -> list[Path]:
        return list(self.out.parent.glob(".out.*.staging"))


#: name: (environment, through a shell, must stop). All four run at once: the test takes one poll, not four.
CASES = {
    "dvc, bash execs the stage": (DVC_ENV, False, True),
    "dvc, a shell stays in between": (DVC_ENV, True, True),
    "torchrun agent": (TORCHRUN_ENV, False, True),
    "by hand (nohup, disown)": ({}, False, False),
}


def test_a_stage_stops_and_cleans_up_when_its_launcher_is_killed_but_not_when_run_by_hand(tmp_path):
    trees = {}
    try:
        for i, (name, (env, shell, _)) in enumerate(CASES.items()):
            trees[name] = Tree(tmp_path / str(i), env, through_shell=shell)
        for tree in trees.values():
            tree.wait_until_working()
        for tree in trees.values():
            tree.kill_parent()
        killed = time.monotonic()
        for name, tree in trees.items():
            env, _, must_stop = CASES[name]
            if not must_stop:
                continue
            assert _wait_for(lambda: not _alive(tree.child), DEADLINE_S), f"{name}: the stage outlived its launcher"
            assert "has gone away: stopping the stage" in tree.stderr.read_text(), name
            if env is DVC_ENV:  # torchrun workers keep the default SIGTERM (no clean-up), as the agent expects
                assert not tree.out.exists() and not tree.staging_folders(), f"{name}: not cleaned up"
        time.sleep(max(0.0, killed + 2 * stage.POLL_S + 0.2 - time.monotonic()))
        assert _alive(trees["by hand (nohup, disown)"].child), "a stage run by hand must not watch its shell"
    finally:
        for tree in trees.values():
            tree.close()


def test_a_stage_whose_launcher_stays_runs_to_the_end(tmp_path):
    runs = {}
    for name, env in {"dvc": DVC_ENV, "torchrun": TORCHRUN_ENV}.items():
        (tmp_path / name).mkdir()
        script, out = tmp_path / name / "child.py", tmp_path / name / "out"
        script.write_text(CHILD)
        command = f"{sys.executable} {script} {out} {1.2 * stage.POLL_S}; true"  # sh stays: chain [sh, pytest]
        runs[name] = (out, subprocess.Popen(["/bin/sh", "-c", command], env=_env(env), stderr=subprocess.PIPE,
                                            text=True))
    for name, (out, run) in runs.items():
        _, stderr = run.communicate(timeout=30)
        assert run.returncode == 0 and stderr == "", f"{name}: {stderr}"
        assert (out / "part.txt").read_text() == "half of it", name


def test_sigterm_ends_the_stage_and_removes_its_staging_folder(tmp_path):
    tree = Tree(tmp_path, {}, through_shell=False)
    try:
        tree.wait_until_working()
        os.kill(tree.child, signal.SIGTERM)
        assert _wait_for(lambda: not _alive(tree.child), DEADLINE_S)
        assert "stage stopped by SIGTERM" in tree.stderr.read_text()
        assert not tree.out.exists() and not tree.staging_folders()
    finally:
        tree.close()


def test_the_launcher_chain_climbs_shells_to_the_first_other_process(tmp_path):
    """Under `sh -c "...; true"` the chain is [sh, this test's python]; by hand it is just the parent."""
    probe = "from galzoo import stage; print(stage.launcher_chain(True), stage.launcher_chain(False))"
    command = f"{sys.executable} -c '{probe}'; true"
    out = subprocess.run(["/bin/sh", "-c", command], env=_env({}), capture_output=True, text=True, check=True)
    with_shells, parent_only = out.stdout.split("] [")
    shell, above = (int(pid) for pid in with_shells.strip("[").split(","))
    assert above == os.getpid() and int(parent_only.strip("]\n")) == shell


def test_run_stage_in_a_test_process_leaves_sigterm_as_it_was():
    before = signal.getsignal(signal.SIGTERM)
    stage.run_stage(lambda: None)
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_process_forked_by_a_stage_gets_the_default_sigterm_back():
    """Pool.terminate() sends SIGTERM to its workers and waits: the stage's Python handler, inherited through
    fork, would only run between bytecodes, so a worker blocked in C would never end."""
    restore = stage._end_cleanly_on_sigterm()
    try:
        installed = signal.getsignal(signal.SIGTERM)
        if installed is signal.SIG_DFL or installed is None:
            pytest.skip("this test process has its own SIGTERM handler; the stage leaves it alone")
        child = os.fork()
        if child == 0:  # pragma: no cover (the child)
            os._exit(0 if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL else 1)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert signal.getsignal(signal.SIGTERM) is installed  # the stage itself keeps its clean ending
    finally:
        restore()
