"""Several trainings at once on one machine (`dvc queue start -j N`): each takes its own numbered slot for its
lifetime, and on a machine with several GPUs slot k trains on GPU k mod the GPU count."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from galzoo.training import slots
from galzoo.training.runtime import spread_over_gpus

HOLD_A_SLOT = textwrap.dedent("""
    import sys
    from galzoo.training.slots import claim_slot
    print(claim_slot(), flush=True)
    sys.stdin.readline()  # hold the slot until the test says so
""")


@pytest.fixture
def slot_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(slots.SLOT_DIR_VARIABLE, str(tmp_path / "slots"))
    return tmp_path / "slots"


def hold_slot(env_dir):
    """A process that claims a slot, prints it and holds it until its stdin gets a line."""
    process = subprocess.Popen([sys.executable, "-c", HOLD_A_SLOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, env={**os.environ, slots.SLOT_DIR_VARIABLE: str(env_dir)})
    return process, int(process.stdout.readline())


def release(process):
    process.communicate("\n", timeout=30)


def test_processes_running_at_once_hold_different_slots_and_an_ended_ones_slot_is_free_again(slot_dir):
    first, first_slot = hold_slot(slot_dir)
    second, second_slot = hold_slot(slot_dir)
    assert (first_slot, second_slot) == (0, 1)
    release(first)
    third, third_slot = hold_slot(slot_dir)
    assert third_slot == 0  # the ended process's slot, released by the operating system
    release(second)
    release(third)


def test_a_process_killed_mid_run_does_not_keep_its_slot(slot_dir):
    victim, slot = hold_slot(slot_dir)
    victim.kill()
    victim.wait(timeout=30)
    survivor, again = hold_slot(slot_dir)
    assert slot == again == 0
    release(survivor)


def test_slot_k_trains_on_gpu_k_mod_the_gpu_count():
    assert [slots.gpu_for_slot(k, 4) for k in range(6)] == [0, 1, 2, 3, 0, 1]


def test_concurrent_trainings_on_a_four_gpu_machine_take_one_gpu_each(slot_dir):
    other, other_slot = hold_slot(slot_dir)  # an experiment already running
    chosen = spread_over_gpus(torch.device("cuda"), gpus=4)
    assert other_slot == 0 and chosen == torch.device("cuda", 1)
    release(other)


@pytest.mark.parametrize("device, gpus", [
    (torch.device("cpu"), 4),           # CPU training has nothing to spread
    (torch.device("cuda"), 1),          # one GPU: everyone shares it
    (torch.device("cuda", 2), 4),       # runtime.device: cuda:2 is the user's choice
])
def test_the_device_is_kept_when_there_is_nothing_to_choose(slot_dir, device, gpus):
    assert spread_over_gpus(device, gpus=gpus) == device
    assert not slot_dir.exists()  # no slot was claimed


def test_under_torchrun_each_process_keeps_its_local_rank_gpu(slot_dir, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert spread_over_gpus(torch.device("cuda"), gpus=4) == torch.device("cuda")
