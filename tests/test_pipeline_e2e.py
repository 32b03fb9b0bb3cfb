"""End to end: `dvc repro` of the whole DAG on tiny synthetic data in a temporary git repository, then
`dvc exp run -S model=efficientnet_b0` (the EfficientNet-B0 study) beside it, as a user would run them."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from galzoo.report import runs_from_exp_show
from tests.conftest import REPO_ROOT

TINY = {
    "data.synthetic.n_images": 120,  # enough for a few galaxies of each of the five classes
    "crop.workers": 1,
    "split.test_fraction": 0.25,
    "split.val_fraction": 0.25,
    "scale_study.budgets": {"embedded": {"epochs": 1, "batch_size": 8, "lr": 0.01, "lr_drop_epochs": [1]}},
    "cnn_comparison.split": {"test_fraction": 0.25, "val_fraction": 0.25},
    "cnn_comparison.budgets": {"embedded": {"iterations": 2, "batch_size": 8, "lr": 0.01, "eval_every": 1,
                                        "lr_drop_iterations": [1]}},
    "efficientnet.budgets": {"embedded": {"batch_size": 8, "head_epochs": 1, "full_epochs": 1}},
}


def run(args, cwd, env):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def write_tiny_project(root: Path) -> None:
    """This checkout's code, dvc.yaml and params.yaml (with the TINY values) copied into ``root``."""
    for name in ("src", "stages"):
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO_ROOT / name, root / name)
    params = yaml.safe_load((root / "params.yaml").read_text())
    for key, value in TINY.items():
        node = params
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project with tiny parameters, committed to a fresh git repo, after `dvc repro`."""
    root = tmp_path_factory.mktemp("galzoo")
    write_tiny_project(root)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    run(["git", "init", "-q"], root, env)
    run(["dvc", "init", "-q"], root, env)
    shutil.copy(REPO_ROOT / ".dvcignore", root / ".dvcignore")  # as a clone has it: bytecode is no dependency
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "tiny galzoo"], root, env)
    run(["dvc", "repro"], root, env)
    return root, env


def test_repro_writes_both_scores_for_all_three_scales(project):
    root, _ = project
    for scale in ("normalized", "crop64", "crop256"):
        metrics = json.loads((root / "metrics" / "scale_study" / f"{scale}.json").read_text())
        assert metrics["deterministic"]["mse"] > 0 and metrics["nondeterministic"]["mse"] > 0
        assert len([k for k in metrics["deterministic"] if k.startswith("rmse_q")]) == 11
        assert metrics["baseline"]["name"] == "training mean" and metrics["baseline"]["mse"] > 0


def test_repro_writes_the_plots_and_a_report_with_the_paper_column(project):
    root, _ = project
    for png in ("loss_per_scale", "scale_comparison", "predicted_vs_true", "crop_gallery"):
        assert (root / "plots" / f"{png}.png").stat().st_size > 1000
    report = (root / "metrics" / "report.md").read_text()
    assert "| scale | test MSE, deterministic | paper |" in report
    assert "| normalized |" in report and "0.0084" in report


def test_repro_trains_and_scores_the_default_classifier_with_intervals(project):
    root, _ = project
    counts = json.loads((root / "metrics" / "model" / "split_counts.json").read_text())
    assert all(n["test"] >= 1 and n["val"] >= 1 and n["train"] >= 1 for n in counts["classes"].values())
    metrics = json.loads((root / "metrics" / "model" / "test.json").read_text())
    assert metrics["model"] == yaml.safe_load((root / "params.yaml").read_text())["model"]
    assert metrics["task"] == "gz2_5class"
    assert metrics["baseline"]["name"] == "majority class" and 0 < metrics["baseline"]["accuracy"] < 1
    assert metrics["n_test"] == sum(n["test"] for n in counts["classes"].values())
    ci = metrics["ci95"]["accuracy"]
    assert ci["low"] <= metrics["accuracy"] <= ci["high"]
    assert set(metrics["per_view_accuracy"]) == {"Q180", "Q200", "Q220", "Q240"}
    for png in ("confusion_matrix", "roc", "filters", "feature_maps"):
        assert (root / "plots" / "model" / f"{png}.png").stat().st_size > 1000


def test_dvc_plots_show_includes_the_confusion_plot(project):
    root, env = project
    run(["dvc", "plots", "show", "-o", "plots_html"], root, env)
    html = (root / "plots_html" / "index.html").read_text()
    assert "Confusion matrix of the model (test set" in html
    assert '"mark": "rect"' in html  # DVC's confusion template: one rect per (actual, predicted) cell


def test_a_second_repro_has_nothing_to_do(project):
    root, env = project
    assert "Data and pipelines are up to date" in run(["dvc", "status"], root, env)


def test_exp_run_with_efficientnet_b0_is_the_efficientnet_study_beside_the_papers_rmse(project, tmp_path):
    root, env = project
    run(["dvc", "exp", "run", "--temp", "-S", "model=efficientnet_b0"], root, env)  # the workspace stays as is
    shown = json.loads(run(["dvc", "exp", "show", "--json"], root, env))
    runs = [r for r in runs_from_exp_show(shown) if r.metrics["model"] == "efficientnet_b0"]
    assert len(runs) == 1 and runs[0].metrics["task"] == "votes37"
    assert set(runs[0].metrics["phases"]) == {"head", "full"} and 0 < runs[0].metrics["rmse"] < 0.5
    table = run([sys.executable, "-m", "galzoo.cli", "report", "--plots-dir", str(tmp_path)], root, env)
    assert "| efficientnet_b0 | mlp_sigmoid | embedded | none | 2016 |" in table and "| 0.0814 | 0.0810 |" in table
    for png in ("predicted_vs_true", "gallery"):
        assert (tmp_path / f"efficientnet_b0_votes37_mlp_sigmoid_seed2016_{png}.png").stat().st_size > 1000


@pytest.mark.slow
def test_the_documented_sweep_gives_the_comparison_table_and_every_runs_plots(project):
    root, env = project
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "baseline results"], root, env)
    run(["dvc", "exp", "run", "--queue", "-S", "task=gz2_5class", "-S", "model=efficientnet_b0,dai_resnet26",
         "-S", "seed=1,2"], root, env)
    run(["dvc", "exp", "run", "--run-all"], root, env)
    first = run(["dvc", "exp", "ls", "--name-only"], root, env).split()[0]
    diff = json.loads(run(["dvc", "metrics", "diff", "HEAD", first, "--json"], root, env))
    assert "accuracy" in diff["metrics/model/test.json"]  # a sweep run's score against the committed run's
    table = run([sys.executable, "-m", "galzoo.cli", "report", "--out", "comparison.md", "--plots-dir", "sweep"],
                root, env)
    assert "| efficientnet_b0 | 1, 2 |" in table and "| dai_resnet26 | 1, 2 |" in table and "95.21" in table
    assert "| kabani_maxout | 2016 |" in table  # the workspace's run (the default model), beside the sweep's
    for model in ("efficientnet_b0", "dai_resnet26"):
        for seed in (1, 2):
            for kind in ("confusion_matrix", "roc"):
                assert (root / "sweep" / f"{model}_gz2_5class_seed{seed}_{kind}.png").stat().st_size > 1000
