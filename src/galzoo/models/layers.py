"""Layers the paper networks share: untied-bias convolutions, maxout, and Dieleman's tree output layer."""
from __future__ import annotations

import torch
from torch import nn

from galzoo import tree


def he_init(model: nn.Module) -> None:
    """He et al. (2015) initialisation: Kaiming-normal (fan-in, ReLU gain) weights for convolutions and
    linear layers, zero biases, identity batch-norm. Dai & Tong state it for their networks (sec. 4.5)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class UntiedBiasConv2d(nn.Module):
    """A 'same'-padded convolution with one bias per output channel *and position* (untied biases).

    Kabani & El-Sakka (sec. 5) and Dieleman et al. use untied biases, so the map size must be known when
    the layer is built.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, map_size: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels, map_size, map_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.bias


class Maxout(nn.Module):
    """Dense maxout layer (Goodfellow et al. 2013): ``units`` outputs, each the max of ``pieces`` linear ones."""

    def __init__(self, in_features: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(*x.shape[:-1], self.units, self.pieces).amax(dim=-1)


class DielemanTreeLayer(nn.Module):
    """Dieleman et al. (2015, sec. 7.5) output layer: makes any 37 numbers a valid Galaxy Zoo answer set.

    ReLU, then normalise each question's answers to sum to 1, then multiply each question by the cumulative
    value of its parent answer, walking the tree top-down (``tree.TOPOLOGICAL_ORDER``). A question whose
    answers are all zero after the ReLU gets a uniform distribution instead of a division by zero.
    """

    def __init__(self):
        super().__init__()
        starts = {q.number: tree.question_slice(q).start for q in tree.QUESTIONS}
        # (answers of the question, where its parent answer lives: (start of the parent question, offset))
        self._slices = []
        for q in tree.TOPOLOGICAL_ORDER:
            parent = None
            if q.parent is not None:
                number, answer = (int(v) for v in q.parent.removeprefix("Class").split("."))
                parent = (starts[number], answer - 1)
            self._slices.append((tree.question_slice(q), parent))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != tree.N_ANSWERS:
            raise ValueError(f"DielemanTreeLayer needs {tree.N_ANSWERS} inputs, got {x.shape[-1]}")
        if x.dtype in (torch.float16, torch.bfloat16):  # normalise in full precision under autocast
            x = x.float()
        x = torch.relu(x)
        # Each question's block is a new tensor (no in-place writes, so autograd can differentiate it),
        # concatenated in column order at the end.
        blocks: dict[int, torch.Tensor] = {}
        for answers, parent in self._slices:
            part = x[:, answers]
            total = part.sum(dim=1, keepdim=True)
            n = part.shape[1]
            normalised = torch.where(total > 0, part / total.clamp_min(1e-12), torch.full_like(part, 1.0 / n))
            if parent is not None:
                start, offset = parent
                normalised = normalised * blocks[start][:, offset:offset + 1]
            blocks[answers.start] = normalised
        return torch.cat([blocks[start] for start in sorted(blocks)], dim=1)


class MLPSigmoidHead(nn.Module):
    """``backbone`` (ending in a dense layer of ``hidden`` units) -> ReLU -> dense ``num_outputs`` -> sigmoid.

    Kalvankar et al.'s head for vote fractions: the sigmoid keeps each output in [0, 1], but unlike
    :class:`DielemanTreeLayer` it does not make the 37 answers obey the tree. ``head_parameters`` are the
    weights a frozen-backbone phase trains: the backbone's own last dense layer and everything after it.
    """

    def __init__(self, backbone: nn.Module, hidden: int, num_outputs: int):
        super().__init__()
        self.backbone = backbone
        self.output = nn.Linear(hidden, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.output(torch.relu(self.backbone(x))))

    def head_parameters(self) -> list[nn.Parameter]:
        last_dense = [m for m in self.backbone.modules() if isinstance(m, nn.Linear)][-1]
        return [*last_dense.parameters(), *self.output.parameters()]
