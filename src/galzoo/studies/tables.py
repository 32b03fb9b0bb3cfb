"""Helpers the studies' report tables share: grouping runs over seeds, formatting cells, the trivial
baselines beside each score, and the paired-bootstrap comparison of classifiers."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from galzoo.evaluation.bootstrap import N_RESAMPLES
from galzoo.evaluation.significance import correct_answers, majority_answers, paired_accuracy_difference
from galzoo.studies.base import Run

NOT_AVAILABLE = "n/a"
"""A baseline cell of runs whose metrics predate the baseline (re-run evaluate to get it)."""
NO_PREDICTIONS = "no per-galaxy predictions (re-run evaluate_model)"


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


def baseline_values(members: list[Run], key: str) -> list[float]:
    """``key`` of each run's trivial baseline (``metrics["baseline"]``), from the runs that recorded one."""
    return [float(b[key]) for r in members if (b := r.metrics.get("baseline")) and b.get(key) is not None]


def baseline_cell(members: list[Run], key: str, digits: int, scale: float = 1.0) -> str:
    """The baseline's ``key`` averaged over the seeds that recorded it (each seed has its own split), or n/a."""
    values = baseline_values(members, key)
    return f"{scale * np.mean(values):.{digits}f}" if values else NOT_AVAILABLE


def majority_class_cell(members: list[Run]) -> str:
    """The training split's majority class of each seed (one name when they agree), or n/a."""
    names = sorted({b["class"] for r in members if (b := r.metrics.get("baseline")) and b.get("class")})
    return " / ".join(names) if names else NOT_AVAILABLE


def lower_bound_above_baseline_cell(members: list[Run]) -> str:
    """Whether each run's 95% bootstrap interval of accuracy starts above its majority-class accuracy: a
    model whose interval reaches down to the majority class has not shown it learnt anything."""
    judged = [r.metrics["ci95"]["accuracy"]["low"] > b["accuracy"] for r in members
              if (b := r.metrics.get("baseline")) and b.get("accuracy") is not None and "ci95" in r.metrics]
    if not judged:
        return NOT_AVAILABLE
    verdict = "yes" if all(judged) else "no" if not any(judged) else "partly"
    return f"{verdict} ({sum(judged)}/{len(judged)} seeds)"


def significance_lines(models: list[tuple[str, list[Run]]], *, n_resamples: int = N_RESAMPLES) -> list[str]:
    """Markdown: every pair of ``models`` (ranked best first; each model with its runs, one per seed) and each
    model against its majority class, as a paired bootstrap of the accuracy difference over the test
    galaxies (:func:`galzoo.evaluation.significance.paired_accuracy_difference`)."""
    correct, majority, missing = {}, {}, []
    for model, members in models:
        correct[model], majority[model] = {}, {}
        for run in members:
            seed = run.metrics["seed"]
            if run.predictions is None:
                missing.append(f"{model} seed {seed} ({run.name})")
                continue
            correct[model][seed] = correct_answers(run.predictions, f"{model} seed {seed} ({run.name})")
            majority_class = (run.metrics.get("baseline") or {}).get("class")
            if majority_class is not None:
                majority[model][seed] = majority_answers(run.predictions, majority_class,
                                                         f"the majority class of seed {seed} ({run.name})")
    names, rows = [model for model, _ in models], []
    for i, a in enumerate(names):
        rows += [_difference_row(a, b, correct[a], correct[b], n_resamples) for b in names[i + 1:]
                 if correct[a] and correct[b]]
    for a in names:
        if correct[a] and majority[a]:
            rows.append(_difference_row(a, "majority class", correct[a], majority[a], n_resamples))
        elif correct[a]:
            rows.append(f"| {a} | majority class | — | {NOT_AVAILABLE} | {NOT_AVAILABLE} | "
                        "no baseline in its metrics |")
    lines = []
    if rows:
        lines += [f"Paired bootstrap over the test galaxies ({n_resamples} resamples, matched by GalaxyID; with "
                  "several seeds, resampled within each seed's test set and averaged over the seeds both ran): "
                  "the accuracy difference in points and its 95% interval; significant = the interval excludes 0.",
                  "", "| model | versus | seeds | accuracy difference (points) | 95% interval | |",
                  "|---|---|---|---|---|---|", *rows, ""]
    if missing:
        lines += [f"Not compared, {NO_PREDICTIONS}: {', '.join(missing)}.", ""]
    return lines


def _difference_row(a: str, b: str, correct_a: dict, correct_b: dict, n_resamples: int) -> str:
    if not set(correct_a) & set(correct_b):
        return f"| {a} | {b} | none in common | — | — | not compared |"
    d = paired_accuracy_difference(correct_a, correct_b, n_resamples=n_resamples)
    return (f"| {a} | {b} | {', '.join(map(str, d.seeds))} | {100 * d.difference:+.2f} | "
            f"[{100 * d.low:+.2f}, {100 * d.high:+.2f}] | {'significant' if d.significant else 'not significant'} |")
