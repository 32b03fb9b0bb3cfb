"""Figures of a trained classifier's answers: confusion matrix, ROC curve per class, and the colour-magnitude
diagram of the Perseus membership study. What the network learned (filters, feature maps) is in
:mod:`galzoo.plots.network`."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score, roc_curve  # noqa: E402

from galzoo.plots.common import DPI, save_figure  # noqa: E402


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
    return save_figure(figure, out_png, dpi=DPI, bbox_inches="tight")


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
    return save_figure(figure, out_png, dpi=DPI, bbox_inches="tight")


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
    return save_figure(figure, out_png, dpi=DPI, bbox_inches="tight")
