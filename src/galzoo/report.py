"""``galzoo report``: one report of everything the project has scored, each score beside its paper's number
and its trivial baseline, with every figure; Markdown plus a self-contained HTML page that opens offline.

Where the scores come from:

- the workspace's DAG outputs: the scale study's ``metrics/scale_study/<scale>.json``, the default model's
  ``metrics/model/test.json`` (with ``params.yaml`` and ``plots/model/``), the runs saved as
  ``metrics/<folder>/<run>/test.json`` (the Perseus runs) and every figure under ``plots/``;
- every DVC experiment and commit with ``metrics/model/test.json`` (``dvc exp show --json --all-commits``),
  its figures and per-galaxy predictions read out of its commit.

Each experiment is one (model, task, seed) run whose ``evaluate_model`` stage wrote ``metrics/model/test.json``;
that file describes itself (model, task, seed, budget, scores, bootstrap intervals, baseline), so the tables
are built from the metrics alone and cannot pair a score with the wrong model. Its task names the study
(:func:`galzoo.studies.study_of_metrics`), which renders the run's table (each study's ``report``); a study may
read the experiment's params to tell variants apart (the Perseus selection switch, the EfficientNet output
layer).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from galzoo.errors import DataError, GalzooError
from galzoo.evaluation.significance import read_predictions
from galzoo.report_html import heading_slugs, write_html
from galzoo.studies import Run, get_study, list_studies, study_of_metrics
from galzoo.studies.scale_study.report import workspace_section
from galzoo.studies.tables import run_key
from galzoo.tasks import TASKS

if TYPE_CHECKING:
    import pandas as pd

TEST_METRICS = "metrics/model/test.json"
TEST_PREDICTIONS = "plots/model_confusion.csv"  # GalaxyID, actual, predicted: one row per test galaxy
"""Per-galaxy test predictions (GalaxyID, actual, predicted) that ``evaluate_model`` writes beside the metrics."""
SCALE_METRICS = "metrics/scale_study"
SAVED_RUNS = "metrics/*/*/test.json"
"""Runs saved without their experiment, each a folder with its test.json (and split_counts.json)."""
SAVED_COUNTS = "split_counts.json"
PLOTS = "plots"
MODEL_PLOTS = "plots/model"
"""Where ``plot_model`` draws the workspace run's figures."""
WORKSPACE = "workspace"
"""The rev of the workspace's own run (as ``dvc exp show`` names it)."""
SAVED = "saved"
"""The rev of a run saved under ``metrics/<folder>/<run>/``; its name is that folder."""
DEFAULT_OUT = Path("reports")
REPORT_NAME = "report"


def variant(run: Run) -> str:
    """What the run's study says tells it apart from runs of the same model, task, budget and seed."""
    return study_of_metrics(run.metrics).variant(run)


def runs_from_exp_show(exp_show: list) -> list[Run]:
    """Every commit or experiment in ``dvc exp show --json`` output that has test metrics, one per
    (task, budget, model, seed): a rerun of the same configuration is the same run."""
    runs: dict[tuple, Run] = {}
    for node in _walk(exp_show):
        if node.get("rev") == WORKSPACE or node.get("error"):
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


def run_plot_name(run: Run, path: str) -> str:
    """``<model>_<task>[_<variant>]_seed<seed>_<name>.png``: the name a run's figure ``path`` is copied under."""
    m = run.metrics
    label = variant(run)
    suffix = "_" + re.sub(r"[^a-z0-9]+", "_", label).strip("_") if label else ""
    return f"{m['model']}_{m['task']}{suffix}_seed{m['seed']}_{Path(path).name}"


def extract_run_plots(runs: list[Run], out_dir: Path, repo: Path = Path(".")) -> list[Path]:
    """Copy each run's PNGs (confusion matrix and ROC; or predicted vs true and the gallery) out of its
    experiment commit (they are git-tracked outputs) to ``out_dir/<model>_<task>[_<variant>]_seed<seed>_<name>.png``."""
    written = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for run in runs:
        for path in study_of_metrics(run.metrics).run_plots:
            blob = _git_show(repo, run.rev, path)
            if blob is None:
                raise GalzooError(f"{path} is not in experiment {run.name} ({run.rev[:7]})")
            target = out_dir / run_plot_name(run, path)
            target.write_bytes(blob)
            written.append(target)
    return written


def _git_show(repo: Path, rev: str, path: str) -> bytes | None:
    """The file ``path`` as commit ``rev`` has it, or None where that commit has no such file."""
    blob = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, check=False)
    return blob.stdout if blob.returncode == 0 else None


# --- the runs: workspace, experiments, saved folders ---------------------------------------------------------

def workspace_run(repo: Path) -> Run | None:
    """The default model's run in the workspace (``metrics/model/test.json`` and ``params.yaml``), if scored."""
    path = repo / TEST_METRICS
    if not path.is_file():
        return None
    params_path = repo / "params.yaml"
    params = (yaml.safe_load(params_path.read_text()) or {}) if params_path.is_file() else {}
    return Run(rev=WORKSPACE, name=WORKSPACE, metrics=_read_json(path), params=params,
               predictions=_predictions_file(repo / TEST_PREDICTIONS))


def saved_runs(repo: Path) -> list[Run]:
    """Runs saved as ``metrics/<folder>/<run>/test.json`` (the Perseus runs): their study reads what tells them
    apart from the ``split_counts.json`` saved beside (their experiment's params are gone)."""
    runs = []
    for path in sorted(repo.glob(SAVED_RUNS)):
        folder, metrics = path.parent, _read_json(path)
        try:
            study = study_of_metrics(metrics)
        except (GalzooError, KeyError) as exc:
            raise DataError(f"{path}: not the test metrics of a run ({exc})")
        counts = folder / SAVED_COUNTS
        params = study.saved_run_params(_read_json(counts)) if counts.is_file() else {}
        runs.append(Run(rev=SAVED, name=folder.relative_to(repo).as_posix(), metrics=metrics, params=params,
                        predictions=_predictions_file(folder / Path(TEST_PREDICTIONS).name)))
    return runs


def with_predictions(run: Run, repo: Path) -> Run:
    """An experiment's run with the per-galaxy predictions of its commit (None where it did not write them)."""
    text = _git_show(repo, run.rev, TEST_PREDICTIONS)
    if text is None:
        return run
    return dataclasses.replace(run, predictions=_per_galaxy(text.decode(), f"{run.name}:{TEST_PREDICTIONS}"))


def collect_runs(*sources: list[Run]) -> list[Run]:
    """One run per (task, budget, model, variant, seed), the first source that has it winning (the workspace,
    then the experiments, then the saved folders)."""
    runs: dict[tuple, Run] = {}
    for source in sources:
        for run in source:
            runs.setdefault(run_key(run, variant(run)), run)
    return list(runs.values())


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not JSON ({exc})")


def _predictions_file(path: Path) -> pd.DataFrame | None:
    return _per_galaxy(path.read_text(), str(path)) if path.is_file() else None


def _per_galaxy(text: str, source: str) -> pd.DataFrame | None:
    """A run's per-galaxy predictions, or None for the file's older layout (``actual,predicted``, written
    before the GalaxyID column existed): such a run is listed as having none, not refused."""
    header = text.split("\n", 1)[0].strip().split(",")
    if "GalaxyID" not in header and {"actual", "predicted"} <= set(header):
        return None
    return read_predictions(text, source)


def describe(run: Run) -> str:
    """Where a run comes from, for people: the workspace, a saved folder or an experiment."""
    if run.rev == WORKSPACE:
        return f"workspace, `{TEST_METRICS}`"
    if run.rev == SAVED:
        return f"saved in `{run.name}/`"
    return f"experiment {run.name}, {run.rev[:7]}"


# --- figures --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Figure:
    path: Path
    caption: str


def run_figures(run: Run, repo: Path, figures_dir: Path,
                copy_dir: Path | None = None) -> tuple[list[Figure], list[str]]:
    """A run's figures (its study's ``run_plots``) and a note for each one not found: from ``plots/model/``
    for the workspace's run, from ``plots/`` for a saved run (copied there under :func:`run_plot_name`), out of
    its commit into ``figures_dir`` for an experiment. ``copy_dir`` (``--plots-dir``) gets a copy of each."""
    figures, missing = [], []
    for path in study_of_metrics(run.metrics).run_plots:
        name = run_plot_name(run, path)
        found = _find_run_plot(run, path, name, repo, figures_dir)
        if found is None:
            missing.append(f"`{path}`")
            continue
        if copy_dir is not None and found.resolve() != (copy_dir / name).resolve():
            copy_dir.mkdir(parents=True, exist_ok=True)
            (copy_dir / name).write_bytes(found.read_bytes())
        figures.append(Figure(found, f"{name} ({describe(run)})"))
    if run.rev == WORKSPACE:  # the rest of what plot_model drew for it: filters, feature maps, ...
        shown = {f.path.resolve() for f in figures}
        figures += [Figure(p, f"{p.relative_to(repo).as_posix()} ({describe(run)})")
                    for p in sorted((repo / MODEL_PLOTS).glob("*.png")) if p.resolve() not in shown]
    return figures, missing


def _find_run_plot(run: Run, path: str, name: str, repo: Path, figures_dir: Path) -> Path | None:
    if run.rev == WORKSPACE:
        return repo / path if (repo / path).is_file() else None
    if run.rev == SAVED:
        return next(iter(sorted((repo / PLOTS).rglob(name))), None)
    blob = _git_show(repo, run.rev, path)
    if blob is None:
        return None
    figures_dir.mkdir(parents=True, exist_ok=True)
    (figures_dir / name).write_bytes(blob)
    return figures_dir / name


def task_of_figure(path: Path) -> str | None:
    """The task a figure saved under :func:`run_plot_name` is of (its name holds ``_<task>_``), if any."""
    return next((task for task in TASKS if f"_{task}_" in path.name), None)


def figure_lines(figures: list[Figure], md_dir: Path) -> list[str]:
    """Markdown: each figure as an image (path relative to the report) with its caption under it."""
    lines = []
    for figure in figures:
        target = Path(os.path.relpath(figure.path.resolve(), md_dir.resolve())).as_posix()
        if re.search(r"[\s()]", target):
            target = f"<{target}>"  # CommonMark's form for a destination with spaces or brackets
        lines += [f"![{figure.caption}]({target})", f"*{figure.caption}*", ""]
    return lines


# --- the report -----------------------------------------------------------------------------------------------

def report_paths(out: Path | None, repo: Path, *, study: str | None = None,
                 task: str | None = None) -> tuple[Path, Path]:
    """(Markdown, HTML) paths: ``out`` a ``.md`` file (the HTML beside it) or a folder (``report.md`` and
    ``report.html`` in it); by default ``reports/`` of ``repo``, a filtered report named by its filter so it
    never overwrites the whole one."""
    if out is not None and out.suffix == ".md":
        return out, out.with_suffix(".html")
    folder = out if out is not None else repo / DEFAULT_OUT
    name = "_".join(part for part in (study, task) if part) or REPORT_NAME
    return folder / f"{name}.md", folder / f"{name}.html"


def build_report(repo: Path, exp_show: list, md_path: Path, *, study: str | None = None, task: str | None = None,
                 plots_dir: Path | None = None) -> str:
    """The report's Markdown (figures linked relative to ``md_path``; experiments' figures copied out of their
    commits into ``plots_dir``, or ``figures/`` beside the report). ``study`` / ``task`` keep only their runs
    and figures; the scale study's section and the DAG's figures come with no filter or ``study=scale_study``."""
    if study is not None:
        get_study(study)  # an unknown name is an error listing the studies

    def wanted(run: Run) -> bool:
        return ((task is None or run.metrics["task"] == task)
                and (study is None or study_of_metrics(run.metrics).name == study))

    experiments = [with_predictions(r, repo) for r in runs_from_exp_show(exp_show) if wanted(r)]
    workspace = [r for r in [workspace_run(repo)] if r is not None and wanted(r)]
    runs = collect_runs(workspace, experiments, [r for r in saved_runs(repo) if wanted(r)])
    whole, dag = study is None and task is None, task is None and study in (None, "scale_study")
    sections = _Sections(repo, md_path.parent, plots_dir or md_path.parent / "figures", plots_dir)
    body: list[str] = []
    if dag:
        body += workspace_section(repo / SCALE_METRICS) + sections.dag_figures()
    for each in list_studies().values():
        if study is None or each.name == study:
            body += sections.study(each, [r for r in runs if study_of_metrics(r.metrics) is each], task)
    if whole:
        body += sections.other_figures()
    if not runs and not body:
        raise GalzooError(f"nothing to report in {repo}: no experiment has {TEST_METRICS}"
                          f"{'' if whole else ' for ' + ' / '.join(filter(None, (study, task)))}, and no workspace "
                          "metrics or figures; run ./bootstrap.sh repro or the sweep first "
                          "(docs/studies/cnn_comparison.md)")
    head = _head(repo, runs, None if whole else " / ".join(filter(None, (study, task))))
    return "\n".join(head + contents("\n".join(head + body)) + body) + "\n"


class _Sections:
    """The report's figure sections; remembers which PNGs under ``plots/`` are shown, so that each is once."""

    def __init__(self, repo: Path, md_dir: Path, figures_dir: Path, copy_dir: Path | None):
        self.repo, self.md_dir, self.figures_dir, self.copy_dir = repo, md_dir, figures_dir, copy_dir
        self.shown: set[Path] = set()
        self.nested = [p for p in sorted((repo / PLOTS).rglob("*.png")) if p.parent != repo / PLOTS]

    def figures(self, paths: list[Path]) -> list[str]:
        self.shown.update(p.resolve() for p in paths)
        return figure_lines([Figure(p, p.relative_to(self.repo).as_posix()) for p in paths], self.md_dir)

    def dag_figures(self) -> list[str]:
        """The figures directly under ``plots/``: the scale study's ``plot`` stage and ``galzoo compare-real``."""
        top = sorted((self.repo / PLOTS).glob("*.png"))
        if not top:
            return []
        return [f"# Figures of the DAG (`{PLOTS}/`)", "",
                "The scale study's `plot` stage and `galzoo compare-real` write these.", "", *self.figures(top)]

    def study(self, study, runs: list[Run], task: str | None) -> list[str]:
        """The study's tables (its ``report``), then each run's figures and the figures of the study's runs
        saved under ``plots/`` without their metrics (named as :func:`run_plot_name`)."""
        lines = study.report(runs)
        figures: list[str] = []
        for run in runs:
            found, missing = run_figures(run, self.repo, self.figures_dir, self.copy_dir)
            self.shown.update(f.path.resolve() for f in found)
            if found or missing:
                m, label = run.metrics, variant(run)
                figures += [f"### {m['model']} on {m['task']}{', ' + label if label else ''}, seed {m['seed']} "
                            f"({describe(run)})", "", *figure_lines(found, self.md_dir),
                            *([f"Not found: {', '.join(missing)} ({describe(run)}).", ""] if missing else [])]
        copies = [p for p in self.nested if p.resolve() not in self.shown and (of := task_of_figure(p)) is not None
                  and TASKS[of].study == study.name and task in (None, of)]
        if copies:
            figures += ["### Figures saved without their run's metrics", "", *self.figures(copies)]
        if not figures:
            return lines
        if not lines:
            lines = [f"# {study.title}", "", "No run of this study is in the workspace or the experiments: only "
                     f"figures saved under `{PLOTS}/`.", ""]
        return lines + ["## Figures", "", *figures]

    def other_figures(self) -> list[str]:
        other = [p for p in self.nested if p.resolve() not in self.shown]
        return ["# Other figures", "", *self.figures(other)] if other else []


def _head(repo: Path, runs: list[Run], selected: str | None) -> list[str]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True,
                            check=False)
    at = f" at commit {commit.stdout.strip()}" if commit.returncode == 0 else ""
    n_workspace = sum(r.rev == WORKSPACE for r in runs)
    n_saved = sum(r.rev == SAVED for r in runs)
    return [f"# galzoo report{': ' + selected if selected else ''}", "",
            f"Made by `galzoo report` from the workspace{at} and `dvc exp show --all-commits`: "
            f"{len(runs) - n_workspace - n_saved} experiment run(s), {n_workspace} workspace run(s) "
            f"(`{TEST_METRICS}`), {n_saved} saved run(s) (`{SAVED_RUNS}`). Every score sits beside its paper's "
            "number and its trivial baseline (the training split's majority class for classes, its mean vote "
            "fractions for vote fractions); n/a: the metrics predate the baseline (re-run the evaluate stage). "
            "The `.html` beside this file is the same report with every figure inlined: it opens offline.", ""]


def contents(markdown: str) -> list[str]:
    """Markdown: a list linking each top-level section of ``markdown`` after its title (GitHub's anchors)."""
    entries = [(text, slug) for level, text, slug in heading_slugs(markdown) if level == 1][1:]
    return ["**Contents**", "", *[f"- [{text}](#{slug})" for text, slug in entries], ""] if entries else []


def write_report(markdown: str, md_path: Path, html_path: Path) -> None:
    """The Markdown and its self-contained HTML page (figures read relative to the Markdown's folder)."""
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(markdown)
    title = markdown.splitlines()[0].lstrip("#").strip()
    write_html(markdown, html_path, base_dir=md_path.parent, title=title)
