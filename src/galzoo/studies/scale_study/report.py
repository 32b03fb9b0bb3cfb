"""The Markdown report: our numbers beside the papers' (from :mod:`galzoo.paper`), never typed by hand."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

import numpy as np

from galzoo import paper, tree
from galzoo.errors import DataError
from galzoo.evaluation.bootstrap import N_RESAMPLES, paired_difference_interval
from galzoo.evaluation.logs import read_training_log


def read_scale_metrics(metrics_dir: Path, scales: list[str]) -> dict[str, dict]:
    metrics = {}
    for scale in scales:
        path = Path(metrics_dir) / f"{scale}.json"
        if not path.is_file():
            raise DataError(f"{path}: metrics for scale {scale!r} not found (run the evaluate stage)")
        metrics[scale] = json.loads(path.read_text())
    return metrics


def scale_study_table(metrics: dict[str, dict], logs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per scale: our test and validation MSE beside the paper's."""
    rows = []
    for scale, m in metrics.items():
        reference = paper.SCALE_STUDY.get(scale, {})
        log = logs[scale]
        rows.append({
            "scale": scale,
            "test MSE, deterministic": m["deterministic"]["mse"],
            "paper": reference.get("deterministic_mse", math.nan),
            "test MSE, non-deterministic": m["nondeterministic"]["mse"],
            "test RMSE, deterministic": m["deterministic"]["rmse"],
            "val MSE, first epoch": log["val_mse"].iloc[0],
            "paper, epoch 1": reference.get("val_mse_epoch1", math.nan),
            "val MSE, last epoch": log["val_mse"].iloc[-1],
            "paper, epoch 20": reference.get("val_mse_epoch20", math.nan),
        })
    return pd.DataFrame(rows)


def per_question_table(metrics: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for q in tree.QUESTIONS:
        row = {"question": f"Q{q.number} {q.text}"}
        row.update({scale: m["deterministic"][f"rmse_q{q.number}"] for scale, m in metrics.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def scale_difference_table(predictions_dir: Path, scales: list[str]) -> pd.DataFrame:
    """Paired bootstrap of the per-galaxy test MSE: the first scale (the paper's proposal) minus each other."""
    errors = {}
    for scale in scales:
        path = Path(predictions_dir) / f"{scale}.npz"
        if not path.is_file():
            raise DataError(f"{path}: test predictions for scale {scale!r} not found (run the evaluate stage)")
        with np.load(path) as saved:
            errors[scale] = ((saved["pred"] - saved["true"]) ** 2).mean(axis=1)
    reference, rows = scales[0], []
    for other in scales[1:]:
        mean, low, high = paired_difference_interval(errors[reference], errors[other])
        rows.append({"difference": f"{reference} - {other}", "test MSE difference": mean,
                     "95% interval, low": low, "95% interval, high": high})
    return pd.DataFrame(rows)


def render_report(metrics_dir: Path, train_logs: Path, predictions_dir: Path, scales: list[str], *, model: str,
                  budget: str) -> str:
    metrics = read_scale_metrics(metrics_dir, scales)
    logs = {scale: read_training_log(Path(train_logs) / scale) for scale in scales}
    table = scale_study_table(metrics, logs)
    n_test = {m["n_test"] for m in metrics.values()}
    best = table.loc[table["test MSE, deterministic"].idxmin(), "scale"]
    lines = [
        "# galzoo report",
        "",
        "## Study 1: how important is scale? (Kabani & El-Sakka 2016)",
        "",
        f"Model `{model}`, budget `{budget}`, {', '.join(map(str, sorted(n_test)))} test images per scale, "
        f"{len(logs[scales[0]])} epochs. Paper: {paper.SCALE_STUDY_SOURCE}. "
        "Deterministic = dropout off, no augmentation; non-deterministic = dropout and augmentation on.",
        "",
        _markdown(table),
        "",
        f"Lowest deterministic test MSE here: **{best}** (the paper's: normalized).",
        "",
        f"How sure is the ranking? Paired bootstrap over the test galaxies ({N_RESAMPLES} resamples) of the "
        "per-galaxy deterministic MSE; an interval that excludes 0 means the difference is not test-set luck "
        "(training-seed variation is not included):",
        "",
        _markdown(scale_difference_table(predictions_dir, scales)),
        "",
        "### Test RMSE per question (deterministic)",
        "",
        _markdown(per_question_table(metrics)),
        "",
        "Figures: `plots/loss_per_scale.png`, `plots/scale_comparison.png`, `plots/predicted_vs_true.png`, "
        "`plots/crop_gallery.png`.",
        "",
    ]
    return "\n".join(lines)


def scale_metrics_in(metrics_dir: Path) -> dict[str, dict]:
    """Every scale's test metrics in ``metrics_dir`` (``<scale>.json``), the paper's scales first, in its order."""
    found = {path.stem: path for path in Path(metrics_dir).glob("*.json")}
    order = [s for s in paper.SCALE_STUDY if s in found] + sorted(set(found) - set(paper.SCALE_STUDY))
    return read_scale_metrics(metrics_dir, order) if order else {}


def baseline_table(metrics: dict[str, dict]) -> pd.DataFrame:
    """One row per scale: the test MSE beside the paper's and beside predicting the training split's mean
    vote fractions for every galaxy (n/a: the metrics predate the baseline; re-run evaluate_scale)."""
    rows = []
    for scale, m in metrics.items():
        baseline = m.get("baseline") or {}
        rows.append({
            "scale": scale, "model": m["model"], "test galaxies": m["n_test"],
            "test MSE, deterministic": m["deterministic"]["mse"],
            "paper": paper.SCALE_STUDY.get(scale, {}).get("deterministic_mse", math.nan),
            "training-mean MSE": baseline.get("mse", "n/a"),
            "test MSE, non-deterministic": m["nondeterministic"]["mse"],
            "test RMSE, deterministic": m["deterministic"]["rmse"],
            "training-mean RMSE": baseline.get("rmse", "n/a"),
        })
    return pd.DataFrame(rows)


def workspace_section(metrics_dir: Path) -> list[str]:
    """Markdown lines for ``galzoo report``: the scale study from its test metrics alone (the DAG's
    ``metrics/report.md`` adds the validation MSE per epoch and the paired bootstrap, from the training logs and
    test predictions, which a clone without the DVC cache lacks). [] when no scale has metrics."""
    metrics = scale_metrics_in(metrics_dir)
    if not metrics:
        return []
    return [
        "# How important is scale? (Kabani & El-Sakka 2016)", "",
        f"`{metrics_dir}/`: one model per input scale, scored on the same test galaxies. Paper: "
        f"{paper.SCALE_STUDY_SOURCE}. Deterministic = dropout off, no augmentation; non-deterministic = dropout "
        "and augmentation on. Baseline: every test galaxy predicted as the training split's mean vote fractions. "
        "The DAG's own report, `metrics/report.md`, adds the validation curves and a paired bootstrap between "
        "the scales.", "",
        _markdown(baseline_table(metrics)), "",
        "## Test RMSE per question (deterministic)", "",
        _markdown(per_question_table(metrics)), "",
    ]


def _markdown(frame: pd.DataFrame) -> str:
    """A GitHub table without the optional ``tabulate`` dependency; floats with 4 significant digits."""
    def cell(value) -> str:
        if isinstance(value, float):
            return "–" if math.isnan(value) else f"{value:.4g}"
        return str(value)

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join(["---"] * len(frame.columns)) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
