"""Where training batches come from: the device-resident path and the conventional DataLoader path.

Device path (``runtime.data_path: device``): the split's uint8 crops are copied once onto the training device
(for a CPU run: into RAM), about 0.76 GB for the 61,578 Kaggle images at 64 px; each batch is a gather of
rows there plus one batched augmentation call (``batch_augment``). When the split would take more than
``runtime.resident_fraction`` of the device's free memory (EfficientNet's 224 px crops on a small GPU) it is
streamed instead, in large chunks gathered from the memory-mapped store into pinned memory and copied
asynchronously while the previous chunk trains.

Loader path (``runtime.data_path: loader``): the DataLoader over a per-sample Dataset (albumentations or
OpenCV on the CPU), exactly as the committed results were produced.

Both are iterables of ``(x, y)`` batches with ``len()`` = batches per pass, each pass in a new order drawn
from the seed (or, given ``draw_weights``, as many samples drawn with replacement in proportion to them: the
class-balanced batches of ``imbalance``); with several processes each yields its share of every global batch,
so that together they compute exactly the batches one process would.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import (BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler,
                              WeightedRandomSampler)

from galzoo.errors import GalzooError
from galzoo.training.distributed import SINGLE_PROCESS, Distributed
from galzoo.training.inference import predict_batches, tensor_batches

CHUNK_BYTES = 256 * 2**20
"""Bytes of uint8 images per streamed chunk: large copies keep the host-to-device link busy."""
AUGMENT_BYTES = {"cuda": 64 * 2**20, "cpu": 2 * 2**20}
"""About how many bytes of float32 images one augmentation call produces. On CUDA many batches at once, or
a batch of 16 small images is all kernel-launch overhead; on a CPU a batch or two, which stay in its caches
(1,600 images at 64 px in one call augment 2.8 times slower than in calls of 16-64: benchmarks/RESULTS.md)."""
UPLOAD_ROWS = 4096
"""Rows per copy when a split is uploaded once (bounds the pinned staging buffer)."""


def available_memory(device: torch.device) -> int:
    """Free bytes on ``device``: the GPU's free memory, or the machine's available RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def upload_rows(images: np.ndarray, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """``images[rows]`` as one uint8 tensor on ``device``, copied in pinned chunks from a memory map."""
    out = torch.empty((len(rows), *images.shape[1:]), dtype=torch.uint8, device=device)
    pinned = device.type == "cuda"
    for start in range(0, len(rows), UPLOAD_ROWS):
        block = torch.from_numpy(np.ascontiguousarray(images[rows[start:start + UPLOAD_ROWS]]))
        if pinned:
            block = block.pin_memory()
        out[start:start + len(block)].copy_(block, non_blocking=pinned)
    if pinned:
        torch.cuda.synchronize(device)
    return out


def as_target_tensor(targets: np.ndarray) -> torch.Tensor:
    """float32 regression targets (as ``ArrayDataset``) or int64 class labels (as ``AugmentedCrops``)."""
    targets = np.asarray(targets)
    if np.issubdtype(targets.dtype, np.floating):
        return torch.as_tensor(targets.astype(np.float32))
    return torch.as_tensor(targets.astype(np.int64))


class DeviceBatches:
    """Shuffled, augmented full batches of ``images[rows]`` drawn on ``device``: the device-resident path.

    Every pass draws a permutation from a CPU generator seeded with ``seed`` (with ``draw_weights``: as many
    samples, with replacement, sample i in proportion to ``draw_weights[i]``) and the augmentation from a
    generator on ``device`` seeded with ``seed``, so a run is reproducible from the seed. Batches are
    augmented ``bulk_batches`` at a time (one call for many batches: on a GPU a batch of 16 small images is
    otherwise all kernel-launch overhead). With several processes all draw the same permutation and the
    same parameters for the whole global batches, and each takes its contiguous share of every batch:
    together they compute exactly the batches one process would.
    """

    def __init__(self, images: np.ndarray, rows: np.ndarray, targets: np.ndarray, augment, *, batch_size: int,
                 seed: int, device: torch.device, dist: Distributed = SINGLE_PROCESS,
                 resident_fraction: float = 0.5, memory_format: torch.memory_format = torch.contiguous_format,
                 shuffle: bool = True, draw_weights: torch.Tensor | None = None):
        rows = np.asarray(rows)
        if len(rows) != len(targets):
            raise ValueError(f"{len(rows)} rows but {len(targets)} targets")
        self.draw_weights = _checked_draw_weights(draw_weights, len(rows), shuffle)
        if len(rows) < batch_size:
            raise GalzooError(f"the training split has {len(rows)} images, fewer than one batch of {batch_size}")
        self.images, self.rows, self.augment, self.device, self.dist = images, rows, augment, device, dist
        self.batch_size, self.local_batch = batch_size, dist.local_batch_size(batch_size)
        self.memory_format = memory_format
        self.height, self.width = images.shape[1], images.shape[2]
        self.targets = as_target_tensor(targets).to(device)
        self.order = torch.Generator().manual_seed(seed) if shuffle else None
        self.generator = torch.Generator(device=device).manual_seed(seed)
        row_bytes = int(np.prod(images.shape[1:]))
        # from the global batch, so that any number of processes draws the parameters in the same groups
        budget = AUGMENT_BYTES["cuda" if device.type == "cuda" else "cpu"]
        self.bulk_batches = max(1, budget // (4 * row_bytes * batch_size))
        self.chunk_bulks = max(1, CHUNK_BYTES // (row_bytes * self.local_batch * self.bulk_batches))
        self.resident = len(rows) * row_bytes <= resident_fraction * available_memory(device)
        self.stored = upload_rows(images, rows, device) if self.resident else None

    def __len__(self) -> int:
        return len(self.rows) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.draw_weights is not None:  # as WeightedRandomSampler draws on the loader path
            order = torch.multinomial(self.draw_weights, len(self.rows), replacement=True, generator=self.order)
        elif self.order is not None:
            order = torch.randperm(len(self.rows), generator=self.order)
        else:
            order = torch.arange(len(self.rows))
        order = order[:len(self) * self.batch_size]
        share = slice(self.dist.rank * self.local_batch, (self.dist.rank + 1) * self.local_batch)
        local = order.view(len(self), self.batch_size)[:, share]  # batches x this process's share
        bulks = [local[start:start + self.bulk_batches] for start in range(0, len(self), self.bulk_batches)]
        if self.resident:
            for positions in bulks:
                on_device = positions.to(self.device, non_blocking=True)
                yield from self._augmented(self.stored.index_select(0, on_device.reshape(-1)), on_device)
            return
        for start in range(0, len(bulks), self.chunk_bulks):
            chunk = bulks[start:start + self.chunk_bulks]
            images, offset = self._fetch(torch.cat([positions.reshape(-1) for positions in chunk])), 0
            for positions in chunk:
                count = positions.numel()
                yield from self._augmented(images[offset:offset + count], positions.to(self.device, non_blocking=True))
                offset += count

    def _augmented(self, images: torch.Tensor, positions: torch.Tensor):
        """Augment a bulk of this process's samples (``positions``: batches x share) in one call and yield
        it batch by batch; the parameters are drawn for the bulk's whole global batches."""
        batches = positions.shape[0]
        params = self.augment.draw(batches * self.batch_size, self.generator, height=self.height, width=self.width)
        mine = (torch.arange(batches, device=self.device)[:, None] * self.batch_size + self.dist.rank * self.local_batch
                + torch.arange(self.local_batch, device=self.device)).reshape(-1)
        x = self.augment.apply(images, {name: value[mine] for name, value in params.items()})
        if self.memory_format == torch.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = self.targets[positions.reshape(-1)]
        for i in range(batches):
            yield x[i * self.local_batch:(i + 1) * self.local_batch], y[i * self.local_batch:(i + 1) * self.local_batch]

    def _fetch(self, positions: torch.Tensor) -> torch.Tensor:
        """The uint8 rows of a streamed chunk on the device. On CUDA they go through one of two pinned
        buffers (the next gather never overwrites a copy still in flight) and are copied on a side stream
        while the previous chunk trains."""
        rows = self.rows[positions.numpy()]
        if self.device.type != "cuda":
            return torch.from_numpy(np.ascontiguousarray(self.images[rows]))
        if not hasattr(self, "_pinned"):
            capacity = self.chunk_bulks * self.bulk_batches * self.local_batch
            self._pinned = [torch.empty((capacity, *self.images.shape[1:]), dtype=torch.uint8, pin_memory=True)
                            for _ in range(2)]
            self._copied: list[torch.cuda.Event | None] = [None, None]
            self._stream, self._slot = torch.cuda.Stream(self.device), 0
        slot = self._slot = 1 - self._slot
        if self._copied[slot] is not None:
            self._copied[slot].synchronize()
        host = self._pinned[slot][:len(rows)]
        np.take(self.images, rows, axis=0, out=host.numpy())
        with torch.cuda.stream(self._stream):
            chunk = host.to(self.device, non_blocking=True)
            self._copied[slot] = torch.cuda.Event()
            self._copied[slot].record(self._stream)
        current = torch.cuda.current_stream(self.device)
        current.wait_event(self._copied[slot])
        chunk.record_stream(current)
        return chunk


class LoaderBatches:
    """The conventional path: a DataLoader over a per-sample Dataset, shuffled in an order fixed by ``seed``.

    One process iterates the plain shuffled DataLoader the committed results were trained with. Several
    processes each draw that same order (the same generator) and load their contiguous share of each batch.
    With ``draw_weights`` each pass draws ``len(dataset)`` samples with replacement, sample i in proportion
    to ``draw_weights[i]``, from that same generator.
    """

    def __init__(self, dataset: Dataset, batch_size: int, *, seed: int, device: torch.device,
                 dist: Distributed = SINGLE_PROCESS, shuffle: bool = True, draw_weights: torch.Tensor | None = None):
        generator = torch.Generator().manual_seed(seed)
        self.draw_weights = draw_weights = _checked_draw_weights(draw_weights, len(dataset), shuffle)
        if draw_weights is not None:
            order = WeightedRandomSampler(draw_weights, len(dataset), replacement=True, generator=generator)
        else:
            order = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        batches = BatchSampler(order, batch_size, drop_last=True)
        self.loader = DataLoader(dataset, batch_sampler=ShareOfEachBatch(batches, dist), generator=generator,
                                 pin_memory=device.type == "cuda")
        if len(self.loader) == 0:
            raise GalzooError(f"the training split has {len(dataset)} images, fewer than one batch of {batch_size}")

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        return iter(self.loader)


def _checked_draw_weights(draw_weights: torch.Tensor | None, n: int, shuffle: bool) -> torch.Tensor | None:
    """``draw_weights`` as float64 (the dtype WeightedRandomSampler draws with, so both paths draw alike)."""
    if draw_weights is None:
        return None
    if not shuffle:
        raise ValueError("draw_weights draw a random order: they cannot be combined with shuffle=False")
    draw_weights = torch.as_tensor(draw_weights, dtype=torch.float64)
    if draw_weights.shape != (n,):
        raise ValueError(f"{tuple(draw_weights.shape)} draw weights for {n} samples")
    return draw_weights


class ShareOfEachBatch(Sampler[list[int]]):
    """This process's contiguous share of every batch that ``batches`` draws (all of it for one process)."""

    def __init__(self, batches: BatchSampler, dist: Distributed):
        local = dist.local_batch_size(batches.batch_size)
        self.batches, self.share = batches, slice(dist.rank * local, (dist.rank + 1) * local)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            yield batch[self.share]


def as_batches(train, batch_size: int, *, seed: int, device: torch.device, dist: Distributed = SINGLE_PROCESS,
               shuffle: bool = True):
    """A batch source for the training loops: a Dataset goes through the DataLoader path, anything already
    iterable in batches (DeviceBatches) is used as it is."""
    if isinstance(train, (DeviceBatches, LoaderBatches)):
        return train
    return LoaderBatches(train, batch_size, seed=seed, device=device, dist=dist, shuffle=shuffle)


class ResidentImages:
    """A validation or test split on the device: uint8 images, targets, and the no-augmentation transform,
    predicted in large batches without a DataLoader."""

    def __init__(self, images: np.ndarray, rows: np.ndarray, targets: np.ndarray, transform, *,
                 device: torch.device, memory_format: torch.memory_format = torch.contiguous_format):
        self.stored = upload_rows(images, np.asarray(rows), device)
        self.targets = np.asarray(targets)
        self.transform, self.device, self.memory_format = transform, device, memory_format

    def __len__(self) -> int:
        return len(self.targets)

    def predict(self, model, indices: np.ndarray, *, batch_size: int, amp_dtype) -> np.ndarray:
        """Model outputs (float64) for ``indices`` of the split, in eval mode."""
        index = torch.as_tensor(indices, device=self.device)
        batches = (self.transform(self.stored.index_select(0, rows)) for rows in tensor_batches(index, batch_size))
        return predict_batches(model, batches, device=self.device, amp_dtype=amp_dtype,
                               memory_format=self.memory_format)


def resident_train_val(data, augment, *, batch_size: int, seed: int, rt,
                       shuffle: bool = True) -> tuple[DeviceBatches, ResidentImages]:
    """The device path of a vote-fraction study: the ``train`` split of ``data`` (a ``LabelledStore``) as
    ``augment``-ed batches and its ``val`` split with ``augment.plain``, both on ``rt.device`` (a
    ``TrainingRuntime``)."""
    _, train_rows, train_targets = data.subsets["train"]
    _, val_rows, val_targets = data.subsets["val"]
    memory_format = rt.accel.memory_format
    train = DeviceBatches(data.images, train_rows, train_targets, augment, batch_size=batch_size, seed=seed,
                          device=rt.device, dist=rt.dist, resident_fraction=rt.resident_fraction,
                          memory_format=memory_format, shuffle=shuffle)
    val = ResidentImages(data.images, val_rows, val_targets, augment.plain, device=rt.device,
                         memory_format=memory_format)
    return train, val
