"""Dieleman, Willett & Dambre's (2015, sec. 7) rotation-invariant convnet, adapted to Dai & Tong's (2018)
64x64 input, on which they trained it for their comparison (sec. 5, tables 6-7).

Given in Dieleman et al.: several rotated and flipped *views* of each galaxy go through one shared stack of
convolutions (6x6 32 filters, 2x2 max-pool; 5x5 64, 2x2 max-pool; 3x3 128; 3x3 128, 2x2 max-pool; ReLU,
no padding); the views' feature maps are flattened and concatenated; two maxout dense layers of 2048 units
of 2 pieces each with dropout 0.5 before each; a linear output layer.

Our adaptation to a 64 px input (Dieleman cut 16 partially overlapping 45x45 views out of two 69x69 crops,
one of them rotated by 45 degrees):

* **Views.** The 8 elements of the dihedral group D4 applied to the *whole* 64x64 image: the rotations by
  0, 90, 180 and 270 degrees of the image and of its horizontal flip. Dieleman's 16 views together cover
  his whole 69 px crop; a central 45 px crop of our input would throw away the outer 28% of the side (48%
  of the area), where extended spiral arms and edge-on disks lie. The 45 degree rotations need
  interpolation and corner padding, so they are left out; at Dai & Tong's scale (a 64 px input spans
  about 135-190 original pixels) the whole image is close to the 135 px field of one Dieleman view.
  ``view_size`` takes a centre crop instead (it must leave an even margin so the crop commutes with the
  rotations).
* The views are made with ``torch.rot90``/``torch.flip`` on the whole batch and stacked into the batch
  dimension, so the shared conv stack runs once on ``8 * batch`` images.
* **Cost.** With 'valid' convolutions a 64 px view ends as 4x4x128 = 2048 features, so the 8 concatenated
  views give 16384 inputs to the first maxout layer: we keep the paper's 2048x2 maxout units anyway, which
  makes the network 75.8M parameters (67.1M in the first maxout layer; 5 outputs), against about 42M in
  Dieleman's own network (16 views of 2x2x128). ``view_size=46`` gives Dieleman's 2x2x128 per view and
  25.5M parameters.
* **Invariance.** The set of views of a rotated or flipped image is the same set of tensors as that of
  the original, in another order (D4 is a group), so the conv stack computes the same per-view features,
  permuted. Concatenation (``view_pooling='concat'``, Dieleman's choice and the registered network) is
  therefore *not* exactly invariant: the dense layers must learn to be. ``view_pooling='mean'`` averages
  the views' features instead and makes the output exactly invariant to the eight transforms.
* Tied biases and PyTorch's default initialisation; Dieleman's exact initialisation is not reproduced.
"""
from __future__ import annotations

import torch
from torch import nn

from galzoo.models.layers import Maxout
from galzoo.models.registry import register_model

INPUT_SIZE = 64
#: Shared conv stack: (filters, kernel, max-pool after?) per layer, 'valid' convolutions, ReLU.
CONV_LAYERS = ((32, 6, True), (64, 5, True), (128, 3, False), (128, 3, True))
MAXOUT_UNITS = 2048
MAXOUT_PIECES = 2
DROPOUT = 0.5
#: 4 rotations by 90 degrees x (identity, horizontal flip): the dihedral group D4.
N_VIEWS = 8
VIEW_POOLINGS = ("concat", "mean")


def dihedral_views(x: torch.Tensor) -> torch.Tensor:
    """The 8 D4 transforms of a batch ``(B, C, H, W)``, stacked view-major as ``(8 * B, C, H, W)``.

    Order: rotations by k*90 degrees (k = 0..3) of ``x``, then of ``x`` flipped horizontally.
    """
    flipped = torch.flip(x, dims=(-1,))
    return torch.cat([torch.rot90(image, k, dims=(-2, -1)) for image in (x, flipped) for k in range(4)], dim=0)


def _conv_output_size(size: int) -> int:
    for _, kernel, pool in CONV_LAYERS:
        size = size - kernel + 1
        if pool:
            size //= 2
    return size


class DielemanNet(nn.Module):
    def __init__(self, num_outputs: int = 37, input_size: int = INPUT_SIZE, view_size: int | None = None,
                 view_pooling: str = "concat", in_channels: int = 3):
        super().__init__()
        view_size = input_size if view_size is None else view_size
        if view_size > input_size or (input_size - view_size) % 2:
            raise ValueError(f"view_size must be <= input_size ({input_size}) and leave an even margin, "
                             f"got {view_size}")
        if view_pooling not in VIEW_POOLINGS:
            raise ValueError(f"view_pooling: expected one of {list(VIEW_POOLINGS)}, got {view_pooling!r}")
        final = _conv_output_size(view_size)
        if final < 1:
            raise ValueError(f"DielemanNet needs views of at least 43 px, got {view_size}")
        self.input_size, self.view_size, self.view_pooling = input_size, view_size, view_pooling
        layers: list[nn.Module] = []
        channels = in_channels
        for filters, kernel, pool in CONV_LAYERS:
            layers += [nn.Conv2d(channels, filters, kernel), nn.ReLU(inplace=True)]
            if pool:
                layers.append(nn.MaxPool2d(2))
            channels = filters
        self.features = nn.Sequential(*layers)
        per_view = channels * final * final
        dense_in = per_view * N_VIEWS if view_pooling == "concat" else per_view
        self.head = nn.Sequential(
            nn.Dropout(DROPOUT),
            Maxout(dense_in, MAXOUT_UNITS, MAXOUT_PIECES),
            nn.Dropout(DROPOUT),
            Maxout(MAXOUT_UNITS, MAXOUT_UNITS, MAXOUT_PIECES),
            nn.Linear(MAXOUT_UNITS, num_outputs),
        )

    def view_features(self, x: torch.Tensor) -> torch.Tensor:
        """Per-view flattened conv features, ``(B, 8, F)``."""
        if self.view_size != x.shape[-1]:
            margin = (x.shape[-1] - self.view_size) // 2
            x = x[..., margin:margin + self.view_size, margin:margin + self.view_size]
        batch = x.shape[0]
        features = self.features(dihedral_views(x)).flatten(1)  # (8 * B, F), view-major
        return features.view(N_VIEWS, batch, -1).transpose(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = self.view_features(x)
        pooled = views.flatten(1) if self.view_pooling == "concat" else views.mean(dim=1)
        return self.head(pooled)


@register_model("dieleman", "Dieleman et al. 2015 view-sharing convnet: 8 D4 views of 64 px, concatenated, 2 maxout")
def _dieleman(num_outputs: int, input_size: int) -> nn.Module:
    return DielemanNet(num_outputs=num_outputs, input_size=input_size)
