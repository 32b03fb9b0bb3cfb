"""A sweep spread over machines: each runs its shard of the grid with `galzoo sweep --shard i/n --push`, and
`galzoo report --pull` on any machine shows every run. The machines here are clones of one bare git
repository, sharing a local folder as the DVC remote."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from galzoo.errors import ConfigError
from galzoo.report import runs_from_exp_show
from galzoo.sweep import Shard, grid, parse_axes
from tests.conftest import REPO_ROOT
from tests.test_pipeline_e2e import write_tiny_project


def test_the_shards_take_every_run_of_the_grid_exactly_once_and_spread_each_model():
    runs = grid(parse_axes(["model=alexnet,vgg16,dieleman", "seed=1,2"]), "sweep")
    assert [r.name for r in runs] == ["sweep-alexnet-1", "sweep-alexnet-2", "sweep-vgg16-1", "sweep-vgg16-2",
                                      "sweep-dieleman-1", "sweep-dieleman-2"]
    assert runs[0].overrides == (("model", "alexnet"), ("seed", "1"))
    shards = [Shard.parse(f"{i}/4").take(runs) for i in range(1, 5)]
    assert sorted(r.name for s in shards for r in s) == sorted(r.name for r in runs)
    assert [r.name for r in shards[0]] == ["sweep-alexnet-1", "sweep-dieleman-1"]
    assert Shard.parse("4/4").take(runs[:3]) == []


def test_a_value_shared_by_every_run_stays_out_of_the_names():
    runs = grid(parse_axes(["task=gz2_5class", "model=alexnet,vgg16"]), "cmp")
    assert [r.name for r in runs] == ["cmp-alexnet", "cmp-vgg16"]
    assert runs[1].overrides == (("task", "gz2_5class"), ("model", "vgg16"))


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "2/0"])
def test_a_shard_outside_the_grid_of_machines_is_refused(text):
    with pytest.raises(ConfigError, match=rf"--shard: expected i/n with 1 <= i <= n .* got '{text}'"):
        Shard.parse(text)


@pytest.mark.parametrize("axes, message", [
    ([], "nothing to sweep"),
    (["model"], "expected key=value"),
    (["model=a,,b"], "expected key=value"),
    (["seed=1", "seed=2"], "seed is given twice"),
])
def test_bad_sweep_settings_are_refused(axes, message):
    with pytest.raises(ConfigError, match=message):
        parse_axes(axes)


def test_a_name_prefix_must_be_a_git_ref_name():
    with pytest.raises(ConfigError, match="--name: expected letters"):
        grid(parse_axes(["seed=1,2"]), "my sweep")


def git_env(home: Path) -> dict:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1",
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(home)}


def run(args, cwd, env) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def tiny_origin(root: Path, env: dict) -> Path:
    """A bare git repository holding a tiny galzoo project whose default DVC remote is a shared folder."""
    work = root / "seed"
    write_tiny_project(work)
    run(["git", "init", "-q", "-b", "main"], work, env)
    run(["dvc", "init", "-q"], work, env)
    shutil.copy(REPO_ROOT / ".dvcignore", work / ".dvcignore")  # as a clone has it: bytecode is no dependency
    run(["dvc", "remote", "add", "-d", "shared", str(root / "dvc-remote")], work, env)
    run(["git", "add", "-A"], work, env)
    run(["git", "commit", "-qm", "tiny galzoo"], work, env)
    run(["git", "clone", "-q", "--bare", str(work), str(root / "origin.git")], root, env)
    return root / "origin.git"


def test_two_machines_run_half_a_sweep_each_and_a_third_reports_all_four_runs(tmp_path):
    env = git_env(tmp_path)
    origin = tiny_origin(tmp_path, env)
    metrics_where_run = {}
    for shard, jobs in (("1/2", "1"), ("2/2", "2")):  # the second machine runs its two at once
        machine = tmp_path / f"machine{shard[0]}"
        run(["git", "clone", "-q", str(origin), str(machine)], tmp_path, env)
        names = run([sys.executable, "-m", "galzoo.cli", "sweep", "--shard", shard, "--jobs", jobs, "--push",
                     "origin", "-S", "model=kabani_maxout,alexnet", "-S", "seed=1,2", "plot_model"],
                    machine, env).split()
        assert len(names) == 2
        shown = [r for r in runs_from_exp_show(json.loads(run(["dvc", "exp", "show", "--json"], machine, env)))
                 if r.name in names]
        share = 0 if jobs == "1" else max(1, len(os.sched_getaffinity(0)) // 2)  # 0: torch's default, all cores
        assert [r.params["runtime"]["threads"] for r in shown] == [share] * 2
        metrics_where_run.update({r.name: r.metrics for r in shown})
    assert sorted(metrics_where_run) == ["sweep-alexnet-1", "sweep-alexnet-2", "sweep-kabani_maxout-1",
                                         "sweep-kabani_maxout-2"]

    reporter = tmp_path / "machine3"
    run(["git", "clone", "-q", str(origin), str(reporter)], tmp_path, env)
    table = run([sys.executable, "-m", "galzoo.cli", "report", "--pull", "origin", "--study", "cnn_comparison",
                 "--out", "comparison.md", "--plots-dir", "sweep"], reporter, env)
    assert "| kabani_maxout | 1, 2 |" in table and "| alexnet | 1, 2 |" in table
    shown = json.loads(run(["dvc", "exp", "show", "--json"], reporter, env))
    pulled = {r.name: r.metrics for r in runs_from_exp_show(shown) if r.name in metrics_where_run}
    assert pulled == metrics_where_run  # every score exactly as on the machine that ran it
    for name in metrics_where_run:  # their figures came with them (git) ...
        _, model, seed = name.split("-")
        assert (reporter / "sweep" / f"{model}_gz2_5class_seed{seed}_confusion_matrix.png").stat().st_size > 1000
    # ... and their trained models, through the DVC remote
    revs = {r.name: r.rev for r in runs_from_exp_show(shown)}
    for name in metrics_where_run:
        lock = yaml.safe_load(run(["git", "show", f"{revs[name]}:dvc.lock"], reporter, env))
        (model,) = [out for out in lock["stages"]["train_model"]["outs"] if out["path"] == "models/model.pt"]
        cached = reporter / ".dvc" / "cache" / "files" / "md5" / model["md5"][:2] / model["md5"][2:]
        assert cached.stat().st_size == model["size"]


def test_experiments_running_at_once_share_the_cores():
    from galzoo.sweep import threads_per_experiment

    axes = parse_axes(["model=alexnet,vgg16"])
    assert threads_per_experiment(axes, jobs=1, cores=16) == ()
    assert threads_per_experiment(axes, jobs=4, cores=16) == (("runtime.threads", "4"),)
    assert threads_per_experiment(axes, jobs=4, cores=2) == (("runtime.threads", "1"),)
    assert threads_per_experiment(parse_axes(["runtime.threads=2", "seed=1,2"]), jobs=4, cores=16) == ()


class FakeQueue:
    """Stands in for ``galzoo.sweep.dvc``: answers ``dvc queue status`` from a script of tables, records calls."""

    def __init__(self, tables: list[str]):
        self.tables, self.calls = list(tables), []

    def __call__(self, *args, repo, capture=False, echo=True):
        self.calls.append(args)
        if args[:2] == ("queue", "status"):
            return self.tables.pop(0) if len(self.tables) > 1 else self.tables[0]
        return ""


def status_table(rows: list[tuple[str, str]], active: int, idle: int = 0) -> str:
    lines = ["Task     Name                   Created    Status"]
    lines += [f"{i:07x}  {name}  10:33 PM   {status}" for i, (name, status) in enumerate(rows)]
    return "\n".join([*lines, "", f"Worker status: {active} active, {idle} idle"]) + "\n"


def test_several_workers_are_watched_until_the_runs_finish_then_stopped(monkeypatch, capsys):
    """`dvc exp run --run-all --jobs N` can wait forever on a worker that outlives the queue
    (treeverse/dvc#10398), so with several workers galzoo starts them and watches `dvc queue status`."""
    import galzoo.sweep as sweep

    mine = ["sweep-a-1", "sweep-a-2"]
    fake = FakeQueue([
        status_table([("sweep-a-1", "Running"), ("sweep-a-2", "Running"), ("other-run", "Queued")], active=2),
        status_table([("sweep-a-1", "Success"), ("sweep-a-2", "Running"), ("other-run", "Queued")], active=1),
        status_table([("sweep-a-1", "Success"), ("sweep-a-2", "Success"), ("other-run", "Queued")], active=0),
    ])
    monkeypatch.setattr(sweep, "dvc", fake)
    monkeypatch.setattr(sweep.time, "sleep", lambda seconds: None)
    sweep.run_queue(Path("."), mine, jobs=2)
    assert fake.calls[0] == ("queue", "start", "--jobs", "2")
    assert fake.calls[-1] == ("queue", "stop")
    assert fake.calls.count(("queue", "status")) == 3  # another run waiting in the queue is not this shard's
    progress = capsys.readouterr().err
    assert "1 of 2 experiments finished; waiting for sweep-a-2" in progress
    assert "2 of 2 experiments finished" in progress


def test_one_worker_runs_the_queue_in_the_foreground(monkeypatch):
    import galzoo.sweep as sweep

    fake = FakeQueue([status_table([], active=0)])
    monkeypatch.setattr(sweep, "dvc", fake)
    sweep.run_queue(Path("."), ["sweep-a-1"], jobs=1)
    assert fake.calls == [("exp", "run", "--run-all", "--jobs", "1")]  # dvc shows the running log itself


def test_runs_left_pending_without_any_worker_are_an_error_not_an_endless_wait(monkeypatch):
    import galzoo.sweep as sweep

    fake = FakeQueue([status_table([("sweep-a-1", "Queued")], active=0)])
    monkeypatch.setattr(sweep, "dvc", fake)
    monkeypatch.setattr(sweep.time, "sleep", lambda seconds: None)
    with pytest.raises(ConfigError, match=r"no DVC queue worker has run .* sweep-a-1 are still queued"):
        sweep.run_queue(Path("."), ["sweep-a-1"], jobs=2, workerless_s=0.0)


def test_a_running_experiment_is_waited_for_even_when_dvc_counts_no_worker(monkeypatch):
    """`dvc queue status` has been known to count no workers while experiments ran (treeverse/dvc#10427)."""
    import galzoo.sweep as sweep

    fake = FakeQueue([status_table([("sweep-a-1", "Running")], active=0)] * 5
                     + [status_table([("sweep-a-1", "Success")], active=0)])
    monkeypatch.setattr(sweep, "dvc", fake)
    monkeypatch.setattr(sweep.time, "sleep", lambda seconds: None)
    sweep.run_queue(Path("."), ["sweep-a-1"], jobs=2, workerless_s=0.0)
    assert fake.calls.count(("queue", "status")) == 6
