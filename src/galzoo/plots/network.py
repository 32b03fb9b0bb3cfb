"""What a trained network learned: its first-layer filters and the feature maps of a few galaxies, as Dai &
Tong's figures 10-12."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from galzoo.plots.common import DPI, save_figure  # noqa: E402


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every convolution of ``model`` with its name, in the order of ``named_modules``."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def plot_filters(model: nn.Module, out_png: Path, title: str = "") -> Path:
    """The first convolution's filters as small RGB tiles, each stretched to its own [min, max]."""
    name, conv = conv_layers(model)[0]
    weights = conv.weight.detach().float().cpu().numpy()  # out x in x k x k
    n = weights.shape[0]
    columns = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 0.5, rows * 0.5 + 0.4), squeeze=False)
    for k, axis in enumerate(axes.flat):
        axis.set_axis_off()
        if k >= n:
            continue
        tile = weights[k].transpose(1, 2, 0)
        tile = (tile - tile.min()) / max(float(tile.max() - tile.min()), 1e-12)
        axis.imshow(tile if tile.shape[2] == 3 else tile[..., 0], cmap=None if tile.shape[2] == 3 else "gray",
                    interpolation="nearest")
    figure.suptitle(title or f"First-layer filters ({name}: {n} x {weights.shape[2]}x{weights.shape[3]})",
                    fontsize=8)
    return save_figure(figure, out_png, dpi=DPI, bbox_inches="tight")


@torch.no_grad()
def plot_feature_maps(model: nn.Module, inputs: torch.Tensor, captions: list[str], out_png: Path, *,
                      maps_per_layer: int = 8, n_layers: int = 3) -> Path:
    """For each input (C x H x W, as the network sees it) a row: the input, then the first
    ``maps_per_layer`` activations of ``n_layers`` convolutions spread over the depth of the network."""
    convs = conv_layers(model)
    picks = sorted({round(q * (len(convs) - 1)) for q in np.linspace(0, 0.66, n_layers)})
    captured: dict[int, torch.Tensor] = {}
    hooks = [convs[p][1].register_forward_hook(lambda _m, _i, out, p=p: captured.__setitem__(p, out[0]))
             for p in picks]
    model.eval()
    columns = 1 + len(picks) * maps_per_layer
    figure, axes = plt.subplots(len(inputs), columns, figsize=(columns * 0.55, len(inputs) * 0.62 + 0.5),
                                squeeze=False)
    try:
        for r, (x, caption) in enumerate(zip(inputs, captions)):
            model(x[None])
            image = x.permute(1, 2, 0).cpu().numpy()
            axes[r, 0].imshow((image - image.min()) / max(float(image.max() - image.min()), 1e-12))
            axes[r, 0].set_title(caption, fontsize=5)
            for j, p in enumerate(picks):
                maps = captured[p].float().cpu().numpy()
                for k in range(maps_per_layer):
                    axis = axes[r, 1 + j * maps_per_layer + k]
                    if k < len(maps):
                        axis.imshow(maps[k], cmap="viridis")
                    if r == 0 and k == 0:
                        axis.set_title(f"{convs[p][0]} ({maps.shape[1]}x{maps.shape[2]})", fontsize=5, loc="left")
    finally:
        for hook in hooks:
            hook.remove()
    for axis in axes.flat:
        axis.set_axis_off()
    figure.suptitle("Input (whitened) and feature maps of three convolutions", fontsize=8)
    return save_figure(figure, out_png, dpi=DPI, bbox_inches="tight")
