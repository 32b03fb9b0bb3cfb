"""Data-parallel training with PyTorch's own DDP, launched by ``torchrun --nproc_per_node=N``.

torchrun starts N copies of a stage script and tells each its place through the environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``). Each process trains on its share of every global batch (the recipe's batch
size is the global one, so N processes take the same optimisation steps as one), DDP averages the gradients,
validation is split between the processes and gathered, and only rank 0 writes checkpoints, metrics and
logs. One process (the default, ``runtime.nproc: 1``) never creates a process group: the code path and the
numbers are exactly those of plain single-process training.

The backend is NCCL on CUDA (one GPU per process, ``cuda:LOCAL_RANK``) and gloo on the CPU. The train stages
start themselves under torchrun with ``--processes N`` (``galzoo.training.launch``).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn

from galzoo.errors import ConfigError

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
PROCESS_GROUP_TIMEOUT = timedelta(minutes=10)
"""How long a collective may wait for the slowest process before the run fails instead of hanging."""


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job: ``rank`` of ``world_size`` processes, ``local_rank`` on this machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints, logs and writes outputs."""
        return self.rank == 0

    def shard(self, n: int) -> np.ndarray:
        """This process's items of ``range(n)`` for evaluation: every ``world_size``-th, from ``rank``."""
        return np.arange(self.rank, n, self.world_size)

    def local_batch_size(self, global_batch: int, key: str = "batch_size") -> int:
        """Each process's share of a global batch; a batch that does not split evenly is an error."""
        if global_batch % self.world_size:
            raise ConfigError(f"{key} = {global_batch} does not split into {self.world_size} processes "
                              f"(runtime.nproc): choose a number of processes that divides it")
        return global_batch // self.world_size

    def all_reduce_sum(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum over the processes (in place, and returned); a no-op for one process."""
        if self.enabled:
            torch_dist.all_reduce(values, op=torch_dist.ReduceOp.SUM)
        return values

    def all_gather(self, value: Any) -> list[Any]:
        """Every process's ``value`` (any picklable object), in rank order, on every process."""
        if not self.enabled:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        torch_dist.all_gather_object(gathered, value)
        return gathered

    def gather_rows(self, indices: np.ndarray, *arrays: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
        """Reassemble arrays computed on each process's ``shard(n)`` into full arrays in the original order,
        on every process (so every process takes the same decisions from them, e.g. early stopping)."""
        if not self.enabled:
            return arrays
        parts = self.all_gather((indices, arrays))
        full = []
        for position, first in enumerate(arrays):
            out = np.empty((n, *first.shape[1:]), dtype=first.dtype)
            for shard_indices, shard_arrays in parts:
                out[shard_indices] = shard_arrays[position]
            full.append(out)
        return tuple(full)


SINGLE_PROCESS = Distributed()


def from_environment() -> Distributed:
    """The job layout torchrun put in the environment, or a single process when it is absent."""
    if "WORLD_SIZE" not in os.environ:
        return SINGLE_PROCESS
    try:
        rank, world, local = (int(os.environ[name]) for name in TORCHRUN_VARIABLES)
    except (KeyError, ValueError) as error:
        raise ConfigError(f"WORLD_SIZE is set but {', '.join(TORCHRUN_VARIABLES)} are not all integers "
                          f"({error}): launch with torchrun, or unset WORLD_SIZE") from None
    return Distributed(rank=rank, world_size=world, local_rank=local)


@contextlib.contextmanager
def distributed_session(device: torch.device) -> Iterator[tuple[Distributed, torch.device]]:
    """Join the job torchrun started (gloo on the CPU, NCCL on CUDA, one GPU per process) and leave it at
    the end; yields this process's place and its device. Without torchrun: one process, ``device``."""
    dist = from_environment()
    if not dist.enabled:
        yield dist, device
        return
    if device.type == "cuda":
        if dist.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"process {dist.local_rank} on this machine has no GPU of its own: "
                              f"{torch.cuda.device_count()} CUDA device(s) for {dist.world_size} processes "
                              f"(runtime.nproc)")
        device = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch_dist.init_process_group(backend, rank=dist.rank, world_size=dist.world_size,
                                  timeout=PROCESS_GROUP_TIMEOUT,
                                  device_id=device if device.type == "cuda" else None)
    try:
        yield dist, device
        torch_dist.barrier()  # leave together: a process that tears gloo down while rank 0 still writes can abort
    finally:
        torch_dist.destroy_process_group()


def wrap_data_parallel(model: nn.Module, dist: Distributed, device: torch.device) -> nn.Module:
    """``model`` itself for one process; else DDP around it (gradients averaged over the processes).
    Only parameters that require a gradient when it is called are synchronised, so wrap after freezing."""
    if not dist.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
