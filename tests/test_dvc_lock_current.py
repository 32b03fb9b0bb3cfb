"""dvc.lock must describe the committed code and parameters.

`dvc status` compares every stage of dvc.yaml with what dvc.lock recorded. This test fails for each stage
whose code changed since dvc.lock was written: a dependency under src/ or stages/, or any dependency that git
tracks (committed metrics read by a later stage count too), that is modified, new or deleted; a `params`
entry that differs; or a command that differs. Data is not code: a clean clone has no data outputs (dvc
lists them as deleted or "not in cache"), so data dependencies and outputs are not looked at.

When it fails, re-run the listed stages (`dvc repro`; `./bootstrap.sh repro` from a clean clone) and commit
the new dvc.lock with the code change.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE_DIRS = ("src/", "stages/")


def _dvc_command() -> list[str] | None:
    if importlib.util.find_spec("dvc") is not None:
        return [sys.executable, "-m", "dvc"]
    exe = shutil.which("dvc")
    return [exe] if exe else None


def _git_tracked(root: Path) -> set[str] | None:
    """Every path git tracks in `root`, with each folder above a tracked file; None outside a git checkout."""
    if shutil.which("git") is None:
        return None
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        files = subprocess.run(
            ["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.split("\0")
    except subprocess.CalledProcessError:
        return None
    if Path(top).resolve() != root.resolve():
        return None  # the project is not the checkout's root: dvc.yaml's paths would not match git's
    tracked: set[str] = set()
    for name in filter(None, files):
        parts = name.split("/")
        tracked.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return tracked


def is_code(path: str, tracked: set[str]) -> bool:
    path = path.rstrip("/")
    return path.startswith(CODE_DIRS) or path in tracked


def stale_entries(status: dict, tracked: set[str]) -> dict[str, list[str]]:
    """What `dvc status --json` says differs from dvc.lock in code, params or command, by stage.

    `status` maps a stage to a list of strings ("changed command", "always changed", ...) and of dicts
    {"changed deps": {path: state}} / {"changed outs": {...}}; a params file's state is a dict
    {param: "modified" | "new" | "deleted"}, a path's a string ("modified", "new", "deleted", "not in cache").
    """
    stale: dict[str, list[str]] = {}
    for stage, entries in status.items():
        found = []
        for entry in entries:
            if entry == "changed command":
                found.append("command differs from dvc.lock")
            if not isinstance(entry, dict):
                continue  # "always changed", and "changed checksum" of .dvc files (not stages)
            for path, state in entry.get("changed deps", {}).items():
                if isinstance(state, dict):  # a params file: every listed key differs from dvc.lock
                    found.extend(f"param {key} in {path}: {st}" for key, st in state.items())
                elif is_code(path, tracked) and state != "not in cache":
                    found.append(f"{path}: {state}")
        if found:
            stale[stage] = found
    return stale


def test_stale_entries_ignores_missing_data():
    tracked = {"src", "src/galzoo", "src/galzoo/sources", "metrics", "metrics/train"}
    status = {
        "download": [
            {"changed deps": {"src/galzoo/sources": "modified"}},
            {"changed outs": {"data/raw/synthetic": "not in cache"}},
        ],
        "crop": [{"changed deps": {"data/raw/synthetic": "deleted"}}, {"changed outs": {"data/crops": "deleted"}}],
        "split": [{"changed deps": {"params.yaml": {"split.val": "modified"}}}, "always changed"],
        "plot": [{"changed deps": {"metrics/train": "modified", "data/predictions": "modified"}}],
        "report": ["changed command"],
        "new_stage": [{"changed deps": {"stages/new.py": "new"}}],
    }
    assert stale_entries(status, tracked) == {
        "download": ["src/galzoo/sources: modified"],
        "split": ["param split.val in params.yaml: modified"],
        "plot": ["metrics/train: modified"],
        "report": ["command differs from dvc.lock"],
        "new_stage": ["stages/new.py: new"],
    }


def test_dvc_lock_matches_code_and_params():
    dvc = _dvc_command()
    tracked = _git_tracked(ROOT)
    if dvc is None or tracked is None:
        pytest.skip("needs a git checkout of galzoo and dvc (./bootstrap.sh test)")
    if not (ROOT / "dvc.lock").is_file():
        pytest.skip("no dvc.lock to compare with")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(
        [*dvc, "status", "--json"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600
    )
    if result.returncode != 0 and "Unable to acquire lock" in result.stderr:
        pytest.skip("another dvc command holds this repository's lock")
    assert result.returncode == 0, f"dvc status failed:\n{result.stderr}"
    status = json.loads(result.stdout or "{}")
    stale = stale_entries(status, tracked)
    report = "\n".join(f"  {stage}: " + "; ".join(items) for stage, items in stale.items())
    assert not stale, (
        "dvc.lock is older than the code or params of these stages (dvc status):\n"
        f"{report}\n"
        "Re-run them (dvc repro, or ./bootstrap.sh repro in a clean clone) and commit dvc.lock with the change."
    )
