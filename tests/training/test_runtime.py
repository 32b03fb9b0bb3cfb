"""Runtime choices are safe: what each `auto` resolves to, bf16 and channels_last train like fp32 and NCHW within
a tolerance, a streamed split gives the batches a resident one gives, and device-path training repeats itself
exactly from the seed."""
import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from galzoo.config import load_params
from galzoo.errors import ConfigError
from galzoo.evaluation.regression import predict
from galzoo.training.batch_augment import AffineAugment
from galzoo.training.data import ArrayDataset
from galzoo.training.device_data import DeviceBatches, ResidentImages
from galzoo.training.loop import fit
from galzoo.training.runtime import Acceleration, autocast_dtype, memory_format_for, resolve_data_path
from tests.conftest import REPO_ROOT
from tests.training.distributed_worker import AUGMENT, RECIPE, tiny_model, tiny_problem

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
PARAMS = load_params(REPO_ROOT / "params.yaml")


def test_auto_means_the_device_path_channels_last_and_bf16_on_cuda_and_the_committed_path_on_the_cpu():
    assert resolve_data_path("auto", CPU) == "loader" and resolve_data_path("auto", CUDA) == "device"
    assert memory_format_for("auto", CPU) == torch.contiguous_format
    assert memory_format_for("auto", CUDA) == torch.channels_last
    assert autocast_dtype("auto", CPU) is None and autocast_dtype("bf16", CPU) == torch.bfloat16
    assert resolve_data_path("device", CPU) == "device"


def test_the_defaults_are_one_process_without_compile():
    runtime = PARAMS.runtime
    assert (runtime.nproc, runtime.compile, runtime.data_path) == (1, "none", "auto")


@pytest.mark.parametrize("change, message", [({"nproc": 0}, "runtime.nproc"),
                                             ({"resident_fraction": 0.0}, "runtime.resident_fraction"),
                                             ({"threads": -1}, "runtime.threads")])
def test_runtime_values_out_of_range_are_refused_with_their_key(change, message):
    with pytest.raises(ConfigError, match=message):
        load_params(overrides={f"runtime.{key}": value for key, value in change.items()})


def test_an_unknown_data_path_in_params_yaml_names_the_key(tmp_path):
    text = (REPO_ROOT / "params.yaml").read_text().replace("  data_path: auto", "  data_path: gpu")
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"runtime.data_path: expected one of \['auto', 'device', 'loader'\]"):
        load_params(tmp_path / "params.yaml")


def device_training(*, amp_dtype=None, accel=Acceleration(), resident_fraction=0.5, seed=5) -> tuple[list, nn.Module]:
    images, targets = tiny_problem()
    augment = AffineAugment.scale_study(AUGMENT, [128.0] * 3, [64.0] * 3, CPU)
    rows = np.arange(len(images))
    batches = DeviceBatches(images, rows[:24], targets[:24], augment, batch_size=8, seed=seed, device=CPU,
                            resident_fraction=resident_fraction, memory_format=accel.memory_format)
    val = ResidentImages(images, rows[24:], targets[24:], augment.plain, device=CPU, memory_format=accel.memory_format)
    model = tiny_model()
    history = fit(model, batches, val, RECIPE, device=CPU, amp_dtype=amp_dtype, seed=seed, progress=False,
                  accel=accel)
    return history.val_loss, model


def test_device_path_training_twice_with_one_seed_gives_identical_results():
    first, model_a = device_training()
    second, model_b = device_training()
    assert first == second
    assert all(torch.equal(a, b) for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()))
    assert device_training(seed=6)[0] != first


def test_bf16_autocast_trains_like_fp32_within_a_tolerance():
    fp32, _ = device_training()
    bf16, _ = device_training(amp_dtype=torch.bfloat16)
    np.testing.assert_allclose(bf16, fp32, rtol=0.05)


def test_channels_last_trains_like_nchw_within_rounding():
    nchw, _ = device_training()
    nhwc, _ = device_training(accel=Acceleration(memory_format=torch.channels_last))
    np.testing.assert_allclose(nhwc, nchw, rtol=1e-4)


def test_a_streamed_split_gives_exactly_the_batches_of_a_resident_one():
    images, targets = tiny_problem()
    augment = AffineAugment.scale_study(AUGMENT, [0.0] * 3, [1.0] * 3, CPU)

    def batches(fraction):
        source = DeviceBatches(images, np.arange(24), targets[:24], augment, batch_size=8, seed=2, device=CPU,
                               resident_fraction=fraction)
        source.bulk_batches, source.chunk_bulks = 1, 2  # several bulks per chunk, several chunks per pass
        return source.resident, [batch for _ in range(2) for batch in source]

    resident, kept = batches(0.5)
    streamed, streamed_batches = batches(1e-12)
    assert resident and not streamed
    for (x, y), (sx, sy) in zip(kept, streamed_batches, strict=True):
        assert torch.equal(x, sx) and torch.equal(y, sy)


def test_device_resident_validation_scores_as_the_dataset_path_does():
    images, targets = tiny_problem()
    mean, std = np.full(3, 128.0, np.float32), np.full(3, 64.0, np.float32)
    model = tiny_model().eval()
    rows = np.arange(24, 30)
    resident = ResidentImages(images, rows, targets[rows], AffineAugment.scale_study(AUGMENT, mean, std, CPU).plain,
                              device=CPU)
    expected, truth = predict(model, ArrayDataset(images, rows, targets[rows], mean, std), batch_size=4, device=CPU)
    np.testing.assert_allclose(resident.predict(model, np.arange(6), batch_size=4, amp_dtype=None), expected,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(resident.targets, truth.astype(np.float32))


@pytest.mark.slow
def test_torch_compile_trains_like_eager_within_rounding():
    eager, _ = device_training()
    compiled, _ = device_training(accel=Acceleration(compile_mode="default"))
    np.testing.assert_allclose(compiled, eager, rtol=1e-4)
