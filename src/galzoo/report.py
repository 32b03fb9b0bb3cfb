"""``galzoo report``: every DVC experiment's test metrics, rendered by the study that wrote them beside its
paper's numbers (each study's ``report``), and each run's figures copied out of its experiment commit.

Each experiment is one (model, task, seed) run whose ``evaluate_model`` stage wrote
``metrics/model/test.json``; that file describes itself (model, task, seed, budget, scores, bootstrap
intervals), so the tables are built from the metrics alone and cannot pair a score with the wrong model. Its
task names the study (:func:`galzoo.studies.study_of_metrics`); a study may read the experiment's params to
tell variants apart (the Perseus selection switch, the EfficientNet output layer).
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from galzoo.errors import GalzooError
from galzoo.studies import Run, list_studies, study_of_metrics
from galzoo.studies.tables import run_key

TEST_METRICS = "metrics/model/test.json"


def variant(run: Run) -> str:
    """What the run's study says tells it apart from runs of the same model, task, budget and seed."""
    return study_of_metrics(run.metrics).variant(run)


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
        runs.setdefault(run_key(run, variant(run)), run)
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


def render_comparison(runs: list[Run]) -> str:
    """Markdown: each study's table of its runs beside its paper's numbers (the CNN comparison's tables 6 and 7,
    the EfficientNet-B0 study's RMSE, Pruitt's tables 2 and 3), in the registry's order."""
    if not runs:
        raise GalzooError(f"no experiment has {TEST_METRICS}: run the sweep first (docs/studies/cnn_comparison.md)")
    lines: list[str] = []
    for study in list_studies().values():
        lines += study.report([r for r in runs if study_of_metrics(r.metrics) is study])
    return "\n".join(lines)


def extract_run_plots(runs: list[Run], out_dir: Path, repo: Path = Path(".")) -> list[Path]:
    """Copy each run's PNGs (confusion matrix and ROC; or predicted vs true and the gallery) out of its
    experiment commit (they are git-tracked outputs) to ``out_dir/<model>_<task>[_<variant>]_seed<seed>_<name>.png``."""
    written = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for run in runs:
        m = run.metrics
        for path in study_of_metrics(m).run_plots:
            blob = subprocess.run(["git", "show", f"{run.rev}:{path}"], cwd=repo, capture_output=True, check=False)
            if blob.returncode != 0:
                raise GalzooError(f"{path} is not in experiment {run.name} ({run.rev[:7]}): "
                                  f"{blob.stderr.decode().strip()}")
            label = variant(run)
            suffix = "_" + re.sub(r"[^a-z0-9]+", "_", label).strip("_") if label else ""
            target = out_dir / f"{m['model']}_{m['task']}{suffix}_seed{m['seed']}_{Path(path).name}"
            target.write_bytes(blob.stdout)
            written.append(target)
    return written
