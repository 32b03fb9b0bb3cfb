"""Helpers the studies' report tables share: grouping runs over seeds and formatting cells."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from galzoo.studies.base import Run


def run_key(run: Run, variant: str) -> tuple:
    """(task, budget, model, variant, seed): a rerun of the same configuration is the same run."""
    m = run.metrics
    return m["task"], m["budget"], m["model"], variant, m["seed"]


def group_runs(runs: list[Run], variant: Callable[[Run], str]) -> list[tuple[tuple, list[Run]]]:
    """Runs grouped by (task, budget, model, variant), each group sorted by seed, groups sorted."""
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(run_key(run, variant(run))[:4], []).append(run)
    for members in groups.values():
        members.sort(key=lambda r: r.metrics["seed"])
    return sorted(groups.items())


def std(values: np.ndarray) -> float:
    """The sample standard deviation over seeds (0 for one seed)."""
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def paper_cell(paper: dict, key: str, digits: int) -> str:
    return f"{paper[key]:.{digits}f}" if key in paper else "—"


def seeds_cell(members: list[Run]) -> str:
    return ", ".join(str(r.metrics["seed"]) for r in members)
