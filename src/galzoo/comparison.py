"""The comparison tables rendered from DVC experiments: Dai & Tong's tables 6 and 7 for classification
tasks, the EfficientNet-B0 study's RMSE for the 37 vote fractions, and Pruitt's tables 2 and 3 for the
Perseus membership task (colour and greyscale side by side).

Each experiment is one (model, task, seed) run whose ``evaluate_model`` stage wrote
``metrics/model/test.json``; that file describes itself (model, task, seed, budget, scores, bootstrap
intervals), so the tables are built from the metrics alone and cannot pair a score with the wrong model; the
one exception is the Perseus selection switch (spectroscopic additions), read from the experiment's params.
"""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from galzoo.errors import GalzooError
from galzoo.evaluation.classification import HEADLINE
from galzoo.paper import (
    CNN_COMPARISON,
    CNN_COMPARISON_SOURCE,
    EFFICIENTNET,
    EFFICIENTNET_SOURCE,
    PERSEUS,
    PERSEUS_SOURCE,
)

TEST_METRICS = "metrics/model/test.json"
#: The PNGs copied out of each run's experiment commit, by kind of task.
RUN_PLOTS = {"classification": ("plots/model/confusion_matrix.png", "plots/model/roc.png"),
             "regression": ("plots/model/predicted_vs_true.png", "plots/model/gallery.png"),
             "perseus": ("plots/model/confusion_matrix.png", "plots/model/roc.png",
                         "plots/model/colour_magnitude.png")}
PERSEUS_TASK = "perseus_member"
PAPER_KEYS = {"accuracy": "max_accuracy", "macro_precision": "precision", "macro_recall": "recall",
              "macro_f1": "f1", "auc": "auc"}


@dataclass(frozen=True)
class Run:
    rev: str
    name: str
    metrics: dict
    params: dict = field(default_factory=dict)  # the experiment's params.yaml, as ``dvc exp show`` has it

    @property
    def key(self) -> tuple:
        m = self.metrics
        return m["task"], m["budget"], m["model"], self.variant, m["seed"]

    @property
    def variant(self) -> str:
        """``colour`` or ``greyscale`` for the Perseus task (the paper's ablation), with ``, no spectroscopic
        additions`` when the experiment switched them off (its independent set is then not empty); the output
        layer (``mlp_sigmoid``, ``tree``) for the vote fractions, where the params say; else empty."""
        if self.kind == "regression":
            return str((self.params.get("efficientnet_study") or {}).get("output_layer", ""))
        if self.metrics["task"] != PERSEUS_TASK:
            return ""
        colour = "greyscale" if self.metrics.get("greyscale") else "colour"
        selection = (self.params.get("perseus") or {}).get("selection") or {}
        return f"{colour}, no spectroscopic additions" if selection.get("spec_additions") is False else colour

    @property
    def kind(self) -> str:
        if self.metrics["task"] == PERSEUS_TASK:
            return "perseus"
        return "classification" if "accuracy" in self.metrics else "regression"


def runs_from_exp_show(exp_show: list) -> list[Run]:
    """Every commit or experiment in ``dvc exp show --json`` output that has test metrics, one per
    (task, budget, model, seed): a rerun of the same configuration is the same run."""
    runs: dict[tuple, Run] = {}
    for node in _walk(exp_show):
        if node.get("rev") == "workspace" or node.get("error"):
            continue
        metrics = ((node.get("data") or {}).get("metrics") or {}).get(TEST_METRICS, {}).get("data")
        if not metrics:
            continue
        params = ((node.get("data") or {}).get("params") or {}).get("params.yaml", {}).get("data") or {}
        run = Run(rev=node["rev"], name=node.get("name") or node["rev"][:7], metrics=metrics, params=params)
        runs.setdefault(run.key, run)
    return list(runs.values())


def _walk(nodes):
    for node in nodes or []:
        yield node
        for experiment in node.get("experiments") or []:
            yield from _walk(experiment.get("revs"))


def read_exp_show(repo: Path = Path(".")) -> list:
    """``dvc exp show --json --all-commits`` of ``repo`` (experiments stay attached to their baseline commit)."""
    try:
        result = subprocess.run(["dvc", "exp", "show", "--json", "--all-commits"], cwd=repo, capture_output=True,
                                text=True, check=False)
    except FileNotFoundError:
        raise GalzooError("dvc not found on PATH: activate the project's environment (source .venv/bin/activate)")
    if result.returncode != 0:
        raise GalzooError(f"dvc exp show failed in {repo}: {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout)


def _groups(runs: list[Run]) -> list[tuple[tuple, list[Run]]]:
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.key[:4], []).append(run)
    for members in groups.values():
        members.sort(key=lambda r: r.metrics["seed"])
    return sorted(groups.items())


def summarise(runs: list[Run]) -> list[dict]:
    """Per (task, budget, model) of the classification runs: the seeds, mean, std and maximum of each
    headline score, and the bootstrap interval of the best run (maximum accuracy, as the paper's maxima)."""
    rows = []
    for (task, budget, model, _), members in _groups([r for r in runs if r.kind == "classification"]):
        best = max(members, key=lambda r: r.metrics["accuracy"])
        row = {"task": task, "budget": budget, "model": model, "seeds": [r.metrics["seed"] for r in members],
               "n_test": best.metrics["n_test"], "best_rev": best.name}
        for key in HEADLINE:
            values = np.array([r.metrics[key] for r in members], np.float64)
            row[key] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                        "max": float(values.max()), "best_ci": (best.metrics["ci95"][key]["low"],
                                                                 best.metrics["ci95"][key]["high"]),
                        "best": float(best.metrics[key])}
        rows.append(row)
    return rows


def render_comparison(runs: list[Run]) -> str:
    """Markdown: our scores (mean ± std over seeds, maximum, 95% bootstrap CI of the best run) beside the
    paper's, one table per task and budget; then the vote-fraction (RMSE) runs, if any."""
    if not runs:
        raise GalzooError(f"no experiment has {TEST_METRICS}: run the sweep first (README, 'The CNN comparison')")
    rows = summarise(runs)
    lines = ["# The CNN comparison", ""] if rows else []
    for task, budget in sorted({(r["task"], r["budget"]) for r in rows}):
        group = [r for r in rows if (r["task"], r["budget"]) == (task, budget)]
        lines += [f"## Task {task}, budget {budget}", "",
                  f"{len(group)} models, {sum(len(r['seeds']) for r in group)} runs, {group[0]['n_test']} test "
                  "galaxies. Ours: multi-scale test-time average; mean ± std over seeds, the maximum, and the 95% "
                  "percentile-bootstrap interval (test galaxies resampled) of the run with the maximum accuracy. "
                  f"Paper: {CNN_COMPARISON_SOURCE}; its Table 7 maxima are also over single test scales.", "",
                  "| model | seeds | accuracy % mean ± std | accuracy % max [95% CI] | paper mean (T6) | "
                  "paper max (T7) |", "|---|---|---|---|---|---|"]
        for r in group:
            paper = CNN_COMPARISON.get(r["model"], {})
            a = r["accuracy"]
            lines.append(f"| {r['model']} | {', '.join(map(str, r['seeds']))} | {100 * a['mean']:.2f} ± "
                         f"{100 * a['std']:.2f} | {100 * a['max']:.2f} [{100 * a['best_ci'][0]:.1f}, "
                         f"{100 * a['best_ci'][1]:.1f}] | {_paper(paper, 'mean_accuracy', 2)} | "
                         f"{_paper(paper, 'max_accuracy', 2)} |")
        lines += ["", "Macro-averaged precision, recall, F1 and one-vs-rest AUC: ours as mean ± std / max "
                  "[95% CI of the best run], paper Table 7 in brackets.", "",
                  "| model | precision | recall | F1 | AUC |", "|---|---|---|---|---|"]
        for r in group:
            paper = CNN_COMPARISON.get(r["model"], {})
            cells = []
            for key in HEADLINE[1:]:
                s = r[key]
                cells.append(f"{s['mean']:.3f} ± {s['std']:.3f} / {s['max']:.3f} [{s['best_ci'][0]:.3f}, "
                             f"{s['best_ci'][1]:.3f}] ({_paper(paper, PAPER_KEYS[key], 4)})")
            lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += render_votes([r for r in runs if r.kind == "regression"])
    lines += render_perseus([r for r in runs if r.kind == "perseus"])
    return "\n".join(lines)


def render_votes(runs: list[Run]) -> list[str]:
    """Markdown lines: RMSE over the 37 answers, mean ± std over seeds and the best run, beside the
    EfficientNet-B0 study's validation and Kaggle-test RMSE."""
    if not runs:
        return []
    lines = ["# The 37 vote fractions (EfficientNet-B0 study)", "",
             f"RMSE over all 37 answers (the Kaggle metric). Paper: {EFFICIENTNET_SOURCE}; its test score is on "
             "Kaggle's private test set, ours on the held-out test part.", "",
             "| model | output | budget | pretrained | seeds | val RMSE mean ± std | test RMSE mean ± std | "
             "test RMSE best | paper val | paper test |", "|---|---|---|---|---|---|---|---|---|---|"]
    for (task, budget, model, output), members in _groups(runs):
        val = np.array([r.metrics["val_rmse"] for r in members])
        test = np.array([r.metrics["rmse"] for r in members])
        paper = EFFICIENTNET.get(model, {})
        pretrained = ", ".join(sorted({str(r.metrics.get("pretrained", "none")) for r in members}))
        seeds = ", ".join(str(r.metrics["seed"]) for r in members)
        lines.append(f"| {model} | {output or '—'} | {budget} | {pretrained} | {seeds} | "
                     f"{val.mean():.4f} ± {_std(val):.4f} | {test.mean():.4f} ± {_std(test):.4f} | "
                     f"{test.min():.4f} | {_paper(paper, 'val_rmse', 4)} | {_paper(paper, 'test_rmse', 4)} |")
    lines.append("")
    return lines


def render_perseus(runs: list[Run]) -> list[str]:
    """Markdown lines: Pruitt's headline scores, ours (mean ± std over seeds) beside the paper's, colour and
    greyscale as separate rows."""
    if not runs:
        return []
    lines = ["# Perseus cluster membership (Pruitt 2024)", "",
             f"Test split: every rotated copy of a test object counts as an image, as the paper's table 2. "
             f"Independent set: spectroscopic objects with a cutout that are not training objects, unrotated. "
             f"Paper: {PERSEUS_SOURCE}.", "",
             "| model | input | budget | seeds | test images | test accuracy | test macro F1 | test member F1 | "
             "independent objects | independent accuracy | independent member F1 | independent macro F1 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def cell(members: list[Run], part: str, key: str) -> str:
        values = np.array([r.metrics[part].get(key, np.nan) for r in members], np.float64)
        if not np.isfinite(values).any():
            return "—"
        return f"{np.nanmean(values):.3f} ± {_std(values[np.isfinite(values)]):.3f}"

    for (task, budget, model, variant), members in _groups(runs):
        m = members[0].metrics
        lines.append(
            f"| {model} | {m['input_size']} px {variant} | {budget} | {', '.join(str(r.metrics['seed']) for r in members)}"
            f" | {m['test_images']['n']} | {cell(members, 'test_images', 'accuracy')} | "
            f"{cell(members, 'test_images', 'macro_f1')} | {cell(members, 'test_images', 'member_f1')} | "
            f"{m['independent']['n']} | {cell(members, 'independent', 'accuracy')} | "
            f"{cell(members, 'independent', 'member_f1')} | {cell(members, 'independent', 'macro_f1')} |")
    p = PERSEUS
    lines += [f"| paper (ResNet-50) | 200 px colour | 200 epochs | — | 1,840 | {p['test_accuracy']:.2f} | "
              f"{p['test_macro_f1']:.2f} | {p['test_member_f1']:.2f} | 335 | {p['independent_accuracy']:.2f} | "
              f"{p['independent_member_f1']:.2f} | {p['independent_macro_f1']:.2f} |", ""]
    return lines


def _std(values: np.ndarray) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _paper(paper: dict, key: str, digits: int) -> str:
    return f"{paper[key]:.{digits}f}" if key in paper else "—"


def extract_run_plots(runs: list[Run], out_dir: Path, repo: Path = Path(".")) -> list[Path]:
    """Copy each run's PNGs (confusion matrix and ROC; or predicted vs true and the gallery) out of its
    experiment commit (they are git-tracked outputs) to ``out_dir/<model>_<task>[_<variant>]_seed<seed>_<name>.png``."""
    written = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for run in runs:
        m = run.metrics
        for path in RUN_PLOTS[run.kind]:
            blob = subprocess.run(["git", "show", f"{run.rev}:{path}"], cwd=repo, capture_output=True, check=False)
            if blob.returncode != 0:
                raise GalzooError(f"{path} is not in experiment {run.name} ({run.rev[:7]}): "
                                  f"{blob.stderr.decode().strip()}")
            variant = "_" + re.sub(r"[^a-z0-9]+", "_", run.variant).strip("_") if run.variant else ""
            target = out_dir / f"{m['model']}_{m['task']}{variant}_seed{m['seed']}_{Path(path).name}"
            target.write_bytes(blob.stdout)
            written.append(target)
    return written
