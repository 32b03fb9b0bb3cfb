"""Where and how tensors are computed: device, autocast precision, memory format, torch.compile, the
training data path, threads and seeds."""
from __future__ import annotations

import contextlib
import random
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from galzoo.errors import ConfigError
from galzoo.training.distributed import SINGLE_PROCESS, Distributed, distributed_session, wrap_data_parallel
from galzoo.training.launch import under_torchrun
from galzoo.training.slots import claim_slot, gpu_for_slot


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("runtime.device: 'cuda' requested but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast by default on CUDA (where it is about free); fp32 by default on the CPU.

    On CPU bf16 helps some networks (the 9-conv scale-study net) and slows others (depthwise convolutions
    of EfficientNet), so it is opt-in there with ``runtime.precision: bf16``.
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def configure_threads(threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so two CPU runs with the same seed give the same numbers."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_data_path(setting: str, device: torch.device, *, device_path: bool = True) -> str:
    """``device`` (batched augmentation of a split held on the training device) or ``loader`` (DataLoader +
    per-sample albumentations / OpenCV on the CPU, the path the committed results were produced by). A study
    without a device path (``device_path=False``) always takes the loader; asking it for ``device`` is an error.

    ``auto`` is ``device`` on CUDA, where the step is fast enough for per-sample CPU augmentation to be the
    bottleneck, and ``loader`` on the CPU: there the scale-study network's step takes about 98% of the time
    (34 ms per image against 0.4 ms of augmentation on one core), so the device path trains only 1-3% faster
    (benchmarks/RESULTS.md), not enough to give up reproducing the committed metrics bit for bit.
    """
    if setting not in ("auto", "device", "loader"):
        raise ConfigError(f"runtime.data_path: expected auto, device or loader, got {setting!r}")
    if not device_path:
        if setting == "device":
            raise ConfigError("runtime.data_path: this study has no device data path; use auto or loader")
        return "loader"
    if setting == "auto":
        return "device" if device.type == "cuda" else "loader"
    return setting


def memory_format_for(setting: str, device: torch.device) -> torch.memory_format:
    """channels_last (NHWC) on CUDA by default, where convolutions under bf16 run on tensor cores in that
    layout; contiguous (NCHW) on the CPU, where it changes little and would change the last bits of the
    committed results."""
    if setting == "auto":
        return torch.channels_last if device.type == "cuda" else torch.contiguous_format
    if setting == "channels_last":
        return torch.channels_last
    if setting == "contiguous":
        return torch.contiguous_format
    raise ConfigError(f"runtime.memory_format: expected auto, channels_last or contiguous, got {setting!r}")


def configure_cuda(device: torch.device) -> None:
    """Let cuDNN pick the fastest convolution algorithms for the training's fixed batch shapes. fp32 matrix
    products stay exact (no TF32): the batched resize weights must stay OpenCV's. No effect on the CPU."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


@dataclass(frozen=True)
class Acceleration:
    """How a training step runs beyond its device and precision: the input's memory format, an optional
    ``torch.compile`` mode, and this process's place in a data-parallel job. The default is plain eager
    single-process training in NCHW, the behaviour the committed results were produced with."""

    memory_format: torch.memory_format = torch.contiguous_format
    compile_mode: str | None = None
    dist: Distributed = field(default=SINGLE_PROCESS)

    @property
    def channels_last(self) -> bool:
        return self.memory_format == torch.channels_last


def acceleration_for(runtime, device: torch.device, dist: Distributed = SINGLE_PROCESS) -> Acceleration:
    """The Acceleration that ``runtime`` (RuntimeParams) asks for on ``device``."""
    mode = None if runtime.compile == "none" else runtime.compile
    return Acceleration(memory_format=memory_format_for(runtime.memory_format, device), compile_mode=mode, dist=dist)


def prepare_for_training(model: nn.Module, accel: Acceleration, device: torch.device) -> nn.Module:
    """The module the training step calls: ``model`` in the chosen memory format, wrapped by DDP when
    several processes train, compiled when asked. ``model`` itself stays the one to save and evaluate (it
    shares its parameters with the returned module)."""
    if accel.channels_last:
        model.to(memory_format=torch.channels_last)
    net = wrap_data_parallel(model, accel.dist, device)
    if accel.compile_mode is not None:
        net = torch.compile(net, mode=accel.compile_mode)
    return net


@dataclass(frozen=True)
class TrainingRuntime:
    """Everything a training run resolved from ``runtime:`` and its launch: the device, autocast, the data
    path, the step's Acceleration (with this process's place in a data-parallel job)."""

    device: torch.device
    amp_dtype: torch.dtype | None
    data_path: str
    accel: Acceleration
    resident_fraction: float = 0.5

    @property
    def dist(self) -> Distributed:
        return self.accel.dist

    def describe(self) -> str:
        """For the stage log: ``cuda:0 (bf16 autocast, device data path, channels_last, 2 processes)``."""
        parts = ["fp32" if self.amp_dtype is None else "bf16 autocast", f"{self.data_path} data path"]
        if self.accel.channels_last:
            parts.append("channels_last")
        if self.accel.compile_mode:
            parts.append(f"torch.compile {self.accel.compile_mode}")
        if self.dist.enabled:
            parts.append(f"{self.dist.world_size} processes")
        return f"{self.device} ({', '.join(parts)})"

    def seed_per_process(self, seed: int) -> None:
        """After the model is built (identically everywhere), give each process of a data-parallel job its
        own stream for dropout and per-sample augmentation; one process keeps its stream untouched."""
        if self.dist.enabled:
            torch.manual_seed(seed + 7919 * self.dist.rank)


@contextlib.contextmanager
def training_runtime(runtime, seed: int, *, device_path: bool = True):
    """Threads, seeds, device and (under torchrun) the process group for one training run; yields its
    TrainingRuntime and leaves the process group at the end. ``device_path=False``: the study has no
    device data path (``resolve_data_path``)."""
    configure_threads(runtime.threads)
    seed_everything(seed)
    device = spread_over_gpus(select_device(runtime.device))
    with distributed_session(device) as (dist, device):
        configure_cuda(device)
        yield TrainingRuntime(device=device, amp_dtype=autocast_dtype(runtime.precision, device),
                              data_path=resolve_data_path(runtime.data_path, device, device_path=device_path),
                              accel=acceleration_for(runtime, device, dist),
                              resident_fraction=runtime.resident_fraction)


def spread_over_gpus(device: torch.device, gpus: int | None = None) -> torch.device:
    """One training process on a machine with several GPUs trains on its slot's GPU (galzoo.training.slots),
    so that experiments running at once (``dvc queue start -j N``) take one GPU each instead of all taking
    cuda:0. Under torchrun each process takes cuda:LOCAL_RANK instead (``distributed_session``)."""
    gpus = torch.cuda.device_count() if gpus is None else gpus
    if device.type != "cuda" or device.index is not None or under_torchrun() or gpus < 2:
        return device
    slot = claim_slot()
    chosen = torch.device("cuda", gpu_for_slot(slot, gpus))
    print(f"galzoo: training slot {slot} of this machine: {chosen} of {gpus} GPUs", file=sys.stderr, flush=True)
    return chosen


def main_process_only(dist: Distributed, factory):
    """``factory()`` on rank 0 (e.g. a DVCLive logger); a context yielding None on the other processes."""
    return factory() if dist.is_main else contextlib.nullcontext()
