"""Batched inference, the one loop behind every validation, every evaluation and ``galzoo predict``.

It lives in ``training`` because the training loop's validation needs it and training must not import
``galzoo.evaluation``. Every score of the project goes through ``predict_batches``, so eval mode, autocast,
softmax, views and test-time augmentation are done the same way everywhere.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from galzoo.training.runtime import autocast

DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


def enable_dropout_only(model: nn.Module) -> None:
    """Eval mode everywhere except dropout: the paper's non-deterministic score keeps dropout on, while
    batch-norm statistics (where a model has them) stay frozen, so test batches never leak into the model."""
    model.eval()
    for module in model.modules():
        if isinstance(module, DROPOUT_TYPES):
            module.train()


def d4_transforms(x: torch.Tensor) -> list[torch.Tensor]:
    """The 8 images of the dihedral group D4 (4 rotations by 90 degrees, each with and without a left-right
    flip) of a batch ``... x H x W``; the first is ``x`` itself."""
    flipped = torch.flip(x, dims=(-1,))
    return [torch.rot90(base, k, dims=(-2, -1)) for base in (x, flipped) for k in range(4)]


def _score_batch(model: nn.Module, x: torch.Tensor, *, device: torch.device, amp_dtype: torch.dtype | None,
                 softmax: bool, tta: bool, memory_format: torch.memory_format | None) -> torch.Tensor:
    """float32 outputs of one ``B x C x H x W`` or ``B x V x C x H x W`` batch, on the CPU."""
    if x.dim() not in (4, 5):
        raise ValueError(f"predict_batches: expected batches of B x C x H x W or B x V x C x H x W inputs, "
                         f"got shape {tuple(x.shape)}")
    views = x.shape[:2] if x.dim() == 5 else None
    x = x.to(device)
    if views is not None:
        x = x.reshape(views[0] * views[1], *x.shape[2:])
    inputs = d4_transforms(x) if tta else [x]
    total = None
    for image in inputs:
        if memory_format == torch.channels_last:  # as the training steps: other formats leave inputs as they are
            image = image.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp_dtype):
            out = model(image)
        out = torch.softmax(out.float(), dim=1) if softmax else out.float()
        total = out if total is None else total + out
    if tta:
        total = total / len(inputs)  # probabilities (or outputs) are averaged, never logits
    total = total.cpu()
    return total if views is None else total.reshape(views[0], views[1], -1)


@torch.no_grad()
def predict_batches(model: nn.Module, batches: Iterable[torch.Tensor], *, device: torch.device,
                    amp_dtype: torch.dtype | None = None, softmax: bool = False, tta: bool = False,
                    stochastic: bool = False, memory_format: torch.memory_format | None = None) -> np.ndarray:
    """Model outputs over ``batches`` in their order, as one float64 array (``0 x 0`` when there are none).

    Each batch is ``B x C x H x W`` (rows ``B x outputs``) or ``B x V x C x H x W``: the V views of an image
    go through the model flattened and come back as ``B x V x outputs``. ``softmax`` turns logits into
    probabilities; ``tta`` averages them over the 8 D4 transforms of every input. Eval mode (batch-norm
    running statistics, dropout off), or with ``stochastic`` dropout on and everything else in eval (the
    scale study's non-deterministic score). ``memory_format=torch.channels_last`` converts the inputs, as the
    training steps do; any other value leaves them in the layout they come in (a permuted uint8 store gives
    channels-last strides already, and forcing NCHW would change the kernels, hence the last bits). Every
    module's train/eval flag is restored afterwards, so a validation in the middle of training leaves frozen
    layers frozen.
    """
    modes = [(module, module.training) for module in model.modules()]
    if stochastic:
        enable_dropout_only(model)
    else:
        model.eval()
    try:
        chunks = [_score_batch(model, x, device=device, amp_dtype=amp_dtype, softmax=softmax, tta=tta,
                               memory_format=memory_format) for x in batches]
    finally:
        for module, training in modes:
            module.training = training
    if not chunks:
        return np.zeros((0, 0))
    return torch.cat(chunks).numpy().astype(np.float64)


def tensor_batches(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    """Consecutive slices of ``batch_size`` rows of ``x`` (the last one shorter)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for start in range(0, len(x), batch_size):
        yield x[start:start + batch_size]


class DatasetBatches:
    """The inputs of a Dataset of ``(x, y)`` pairs in order, batched by a DataLoader; the targets are kept
    as they pass, so outputs and targets of one pass line up without reading the dataset twice (an
    augmenting dataset would give other images the second time)."""

    def __init__(self, dataset: Dataset, batch_size: int, *, num_workers: int = 0):
        self.dataset, self.batch_size, self.num_workers = dataset, batch_size, num_workers
        self._targets: list[np.ndarray] = []

    def __iter__(self) -> Iterator[torch.Tensor]:
        self._targets = []
        for x, y in DataLoader(self.dataset, batch_size=self.batch_size, shuffle=False,
                               num_workers=self.num_workers):
            self._targets.append(np.asarray(y))
            yield x

    def targets(self) -> np.ndarray:
        """The targets of the last pass, float64, in dataset order."""
        if not self._targets:
            return np.zeros((0,))
        return np.concatenate(self._targets).astype(np.float64)


def predict_dataset(model: nn.Module, dataset: Dataset, *, batch_size: int, device: torch.device,
                    amp_dtype: torch.dtype | None = None, stochastic: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Outputs and targets (float64) over a Dataset of ``(x, y)`` pairs in its order.

    ``stochastic=False`` is the deterministic score; ``True`` keeps dropout on (pair it with an augmenting
    dataset for the paper's non-deterministic score).
    """
    batches = DatasetBatches(dataset, batch_size)
    outputs = predict_batches(model, batches, device=device, amp_dtype=amp_dtype, stochastic=stochastic)
    return outputs, batches.targets()
