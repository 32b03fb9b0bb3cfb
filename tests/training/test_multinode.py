"""Training on several machines: with runtime.nodes > 1 every machine runs the same train stage command and
their torchrun agents meet at a c10d rendezvous. Here two "machines" are two launcher processes on 127.0.0.1
with one rendezvous port."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from galzoo.config import load_params
from galzoo.errors import ConfigError
from galzoo.training.launch import Launch, join_commands, rendezvous_id, stage_launch
from tests.conftest import REPO_ROOT
from tests.training.test_distributed import (  # noqa: F401 (tiny_store: a fixture)
    WORKER, assert_trains_as_one_process, tiny_perseus_workspace, tiny_store)

ENV = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "HF_HUB_OFFLINE": "1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_all(commands: list[list[str] | str], cwd: Path) -> list[subprocess.CompletedProcess]:
    """Start every command at once (as machines would), then wait for all of them."""
    running = [subprocess.Popen(c, cwd=cwd, env=ENV, shell=isinstance(c, str), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for c in commands]
    done = []
    for process in running:
        out, err = process.communicate(timeout=240)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return done


def test_one_machine_runs_torchrun_standalone():
    command = Launch(nproc=2).torchrun_command("stages/train_model.py", ["--raw", "r"])
    assert command[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert command[5:] == [os.path.abspath("stages/train_model.py"), "--raw", "r"]


def test_several_machines_meet_at_a_c10d_rendezvous_named_by_the_stage_command():
    command = Launch(nproc=1, nodes=2, rendezvous="node001:29500").torchrun_command("stages/train_model.py", ["--x"])
    assert "--nnodes=2" in command and "--rdzv-backend=c10d" in command
    assert "--rdzv-endpoint=node001:29500" in command and "--standalone" not in command
    same = rendezvous_id("/elsewhere/stages/train_model.py", ["--x"])
    assert f"--rdzv-id={same}" in command  # every machine computes the same id from the same command
    assert rendezvous_id("stages/train_model.py", ["--y"]) != same  # the next stage cannot be joined by mistake


def test_auto_rendezvous_is_read_from_master_addr_and_port():
    launch = Launch(nodes=2)
    assert launch.endpoint({"MASTER_ADDR": "10.0.0.7", "MASTER_PORT": "29400"}) == "10.0.0.7:29400"
    with pytest.raises(ConfigError, match=r"runtime.rendezvous: auto.*MASTER_PORT is not set"):
        launch.endpoint({"MASTER_ADDR": "10.0.0.7"})
    with pytest.raises(ConfigError, match=r"\$MASTER_ADDR:\$MASTER_PORT: expected host:port"):
        launch.endpoint({"MASTER_ADDR": "10.0.0.7", "MASTER_PORT": "http"})


@pytest.mark.parametrize("change, message", [
    ({"nodes": 0}, r"runtime\.nodes: expected 1 or more machines, got 0"),
    ({"rendezvous": "node001"}, r"runtime\.rendezvous: expected host:port of the rendezvous .* got 'node001'"),
    ({"rendezvous": "node001:70000"}, r"runtime\.rendezvous: expected host:port"),
])
def test_bad_multi_machine_params_are_refused_at_load_time(change, message):
    with pytest.raises(ConfigError, match=message):
        load_params(overrides={f"runtime.{key}": value for key, value in change.items()})


def test_two_machines_of_one_process_train_as_one_process_does(tmp_path, monkeypatch):
    """The Perseus study's own training (a dropout-free tiny network): two launchers joining one rendezvous
    on 127.0.0.1 give the logged curves and weights of a single process, and one of them alone writes."""
    params, params_path, paths = tiny_perseus_workspace(tmp_path, monkeypatch)
    machine = Launch(nproc=1, nodes=2, rendezvous=f"127.0.0.1:{free_port()}")
    command = machine.torchrun_command(str(WORKER), ["perseus", str(params_path), str(tmp_path), str(tmp_path / "ddp")])
    first, second = start_all([command, command], tmp_path)
    assert first.returncode == 0 and second.returncode == 0, (first.stderr + second.stderr)[-4000:]
    logs = first.stderr + second.stderr
    assert "loader data path, 2 processes" in logs and logs.count("epoch 2/2: train loss") == 1  # rank 0 alone
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == ["live", "model.pt"]

    assert_trains_as_one_process(tmp_path, params, paths, tmp_path / "ddp")


def write_dvc_project(root: Path, nodes: int, rendezvous: str) -> None:
    """A DVC project around ``tiny_store`` with the real train_scale stage command (runtime from params)."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    # gloo: both "machines" are processes of this host, which may have a single GPU
    params["runtime"].update(nproc=1, nodes=nodes, rendezvous=rendezvous, device="cpu")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stage = {"cmd": f"python {REPO_ROOT / 'stages' / 'train_scale.py'} --scale normalized --raw raw --crops crops "
                    "--split split.csv --model-out out/model.pt --live-dir out/live --processes ${runtime.nproc} "
                    "--nodes ${runtime.nodes} --rendezvous ${runtime.rendezvous}",
             "deps": ["crops", "split.csv"], "params": ["runtime"], "outs": ["out"]}
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"train_scale": stage, "plot": {"cmd": "true"}}}))
    if not (root / ".dvc").exists():
        subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=root, check=True, env=ENV)


def test_a_stage_commands_launch_is_read_with_the_stages_own_arguments():
    command = "python stages/train_model.py --raw r --processes 2 --nodes 12 --rendezvous node0:29400"
    assert stage_launch(command) == Launch(nproc=2, nodes=12, rendezvous="node0:29400")
    assert stage_launch("python stages/train_model.py --raw r --nodes=1").nodes == 1
    assert stage_launch("python stages/train_model.py --raw r").nodes == 1  # the argument's default


def test_galzoo_join_names_what_it_cannot_join(tiny_store):  # noqa: F811
    write_dvc_project(tiny_store, nodes=1, rendezvous="auto")
    with pytest.raises(ConfigError, match=r"train_scale trains on one machine \(runtime.nodes: 1"):
        join_commands(["train_scale"], tiny_store)
    with pytest.raises(ConfigError, match="plot is not a train stage"):
        join_commands(["plot"], tiny_store)
    with pytest.raises(ConfigError, match="galzoo join evaluate: no such stage"):
        join_commands(["evaluate"], tiny_store)


def test_dvc_repro_on_one_machine_and_galzoo_join_on_another_train_one_model(tiny_store):  # noqa: F811
    """The documented workflow: the first machine runs `dvc repro`, the second `galzoo join <stage>` in the
    same (shared) workspace; the stage's outputs are written once and DVC records them."""
    write_dvc_project(tiny_store, nodes=2, rendezvous=f"127.0.0.1:{free_port()}")
    (command,) = join_commands(["train_scale"], tiny_store)
    assert "--nodes 2 --rendezvous 127.0.0.1:" in command[1]
    dvc, joined = start_all([[sys.executable, "-m", "dvc", "repro", "train_scale"],
                             [sys.executable, "-m", "galzoo.cli", "join", "train_scale"]], tiny_store)
    assert dvc.returncode == 0 and joined.returncode == 0, (dvc.stdout + dvc.stderr + joined.stderr)[-4000:]
    logs = dvc.stdout + dvc.stderr + joined.stderr
    assert "2 machines x 1 training processes" in logs and "loader data path, 2 processes" in logs
    assert logs.count("epoch 2/2: train mse") == 1  # one process reports, whichever machine it is on
    assert sorted(p.name for p in (tiny_store / "out").iterdir()) == ["live", "model.pt"]
    assert "train_scale" in (tiny_store / "dvc.lock").read_text()
