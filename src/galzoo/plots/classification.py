"""Figures of a trained classifier: confusion matrix, ROC curves per class, and what the network learned
(first-layer filters and feature maps of a few galaxies per class, as Dai & Tong's figures 10-12)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import roc_auc_score, roc_curve  # noqa: E402
from torch import nn  # noqa: E402

DPI = 110


def _save(figure, out_png: Path) -> Path:
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_png, dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return out_png


def plot_confusion(confusion: np.ndarray, class_names, out_png: Path, title: str = "") -> Path:
    """Counts, with each row (true class) also shown as a fraction: the recall per class on the diagonal."""
    confusion = np.asarray(confusion)
    rows = confusion.sum(axis=1, keepdims=True)
    fraction = np.divide(confusion, rows, out=np.zeros(confusion.shape), where=rows > 0)
    figure, axis = plt.subplots(figsize=(1.2 * len(class_names) + 2, 1.0 * len(class_names) + 1.5))
    axis.imshow(fraction, cmap="Blues", vmin=0, vmax=1)
    for i in range(confusion.shape[0]):
        for j in range(confusion.shape[1]):
            axis.text(j, i, f"{confusion[i, j]}\n{fraction[i, j]:.0%}", ha="center", va="center", fontsize=8,
                      color="white" if fraction[i, j] > 0.6 else "black")
    axis.set_xticks(range(len(class_names)), class_names, rotation=30, ha="right", fontsize=8)
    axis.set_yticks(range(len(class_names)), class_names, fontsize=8)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    axis.set_title(title or "Confusion matrix (test set)", fontsize=9)
    return _save(figure, out_png)


def plot_roc(labels: np.ndarray, probabilities: np.ndarray, class_names, out_png: Path, title: str = "") -> Path:
    """One-vs-rest ROC curve of every class, its AUC in the legend."""
    figure, axis = plt.subplots(figsize=(5, 4.5))
    for i, name in enumerate(class_names):
        positive = np.asarray(labels) == i
        if positive.all() or not positive.any():
            continue  # a curve needs both positives and negatives
        fpr, tpr, _ = roc_curve(positive, probabilities[:, i])
        axis.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(positive, probabilities[:, i]):.3f})")
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.set_title(title or "ROC, one class against the rest (test set)", fontsize=9)
    axis.legend(fontsize=7, loc="lower right")
    return _save(figure, out_png)


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
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
    return _save(figure, out_png)


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
    return _save(figure, out_png)


def plot_colour_magnitude(g_z: np.ndarray, r: np.ndarray, labels: np.ndarray, predicted: np.ndarray,
                          subsets: np.ndarray, class_names, slope: float, intercepts: tuple[float, float],
                          out_png: Path, title: str = "") -> Path:
    """Pruitt's figure 27 and beyond: (g - z, r) of every object with the red-sequence lines, coloured by label
    (left) and by whether the network's prediction is right (right; marker = subset)."""
    g_z, r = np.asarray(g_z, float), np.asarray(r, float)
    known = np.isfinite(g_z) & np.isfinite(r)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharex=True, sharey=True)
    colours = ("tab:blue", "tab:orange")
    for label, name in enumerate(class_names):
        pick = known & (labels == label)
        axes[0].scatter(g_z[pick], r[pick], s=10, c=colours[label], label=f"{name} ({pick.sum()})", alpha=0.8)
    markers = {"train": "o", "val": "s", "test": "^", "independent": "D"}
    right = labels == predicted
    for subset, marker in markers.items():
        for correct, colour, word in ((True, "tab:green", "right"), (False, "tab:red", "wrong")):
            pick = known & (subsets == subset) & (right == correct)
            if pick.any():
                axes[1].scatter(g_z[pick], r[pick], s=14 if subset != "train" else 6, marker=marker, c=colour,
                                alpha=0.85 if subset != "train" else 0.35, label=f"{subset} {word} ({pick.sum()})")
    # A few objects have wild SDSS colours (blends, stars): frame the bulk and count what falls outside.
    x_range = np.percentile(g_z[known], [1, 99]) + [-0.3, 0.3] if known.any() else np.array([0.0, 3.0])
    y_range = np.percentile(r[known], [0.5, 99.5]) + [-0.5, 0.5] if known.any() else np.array([12.0, 22.0])
    outside = int((known & ((g_z < x_range[0]) | (g_z > x_range[1]) | (r < y_range[0]) | (r > y_range[1]))).sum())
    x = np.linspace(*x_range, 50)
    for axis in axes:
        for intercept in intercepts:
            axis.plot(x, slope * x + intercept, color="grey", linestyle="--", linewidth=1)
        axis.set_xlabel("g - z (SDSS model magnitudes)")
        axis.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("r (SDSS model magnitude)")
    axes[0].set_xlim(*x_range)
    axes[0].set_ylim(y_range[1], y_range[0])  # bright at the top
    axes[0].set_title("label (dashed: the red sequence)", fontsize=9)
    axes[1].set_title("prediction on the unrotated cutout", fontsize=9)
    missing = int((~known).sum())
    notes = [f"{missing} object(s) without SDSS photometry"] if missing else []
    notes += [f"{outside} outside the frame"] if outside else []
    figure.suptitle((title or "Colour-magnitude diagram") + (f"; not shown: {', '.join(notes)}" if notes else ""),
                    fontsize=9)
    return _save(figure, out_png)
