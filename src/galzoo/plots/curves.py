"""Figures of the vote-fraction regression: loss per epoch and scale, test MSE per scale beside the paper, and
predicted against true vote fraction. Written as PNG (``dvc plots show`` needs a CDN for its HTML; PNGs need
nothing)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from galzoo import paper, tree  # noqa: E402
from galzoo.plots.common import DPI, save_figure  # noqa: E402

#: Answers shown in the predicted-vs-true figure: the main branches of the tree.
SHOWCASE_ANSWERS = ("Class1.1", "Class1.2", "Class2.1", "Class4.1", "Class7.1", "Class6.1")


def plot_loss_per_scale(logs: dict[str, pd.DataFrame], out: Path) -> None:
    """Train and validation MSE per epoch, one panel per scale (the paper's figures 5-7)."""
    fig, axes = plt.subplots(1, len(logs), figsize=(4.2 * len(logs), 3.4), sharey=True, squeeze=False)
    for ax, (scale, log) in zip(axes[0], logs.items()):
        ax.plot(log.index, log["train_mse"], "o-", label="training")
        ax.plot(log.index, log["val_mse"], "s-", label="validation")
        reference = paper.SCALE_STUDY.get(scale)
        if reference:
            ax.axhline(reference["val_mse_epoch20"], color="grey", ls=":", label="paper, validation epoch 20")
        ax.set_title(scale)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("MSE over 37 answers")
    axes[0][0].legend(fontsize=8)
    save_figure(fig, out, tight_layout=True, dpi=DPI)


def plot_scale_comparison(metrics: dict[str, dict], out: Path) -> None:
    """Deterministic and non-deterministic test MSE per scale, beside the paper's deterministic score."""
    scales = list(metrics)
    x = np.arange(len(scales))
    width = 0.27
    ours_det = [metrics[s]["deterministic"]["mse"] for s in scales]
    ours_nondet = [metrics[s]["nondeterministic"]["mse"] for s in scales]
    theirs = [paper.SCALE_STUDY.get(s, {}).get("deterministic_mse", np.nan) for s in scales]
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.bar(x - width, ours_det, width, label="ours, deterministic")
    ax.bar(x, ours_nondet, width, label="ours, non-deterministic")
    ax.bar(x + width, theirs, width, label="paper, deterministic", color="grey")
    ax.set_xticks(x, scales)
    ax.set_ylabel("test MSE")
    ax.set_title("Scale study: test MSE per input scale")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, out, tight_layout=True, dpi=DPI)


def plot_predicted_vs_true(predictions: dict[str, tuple[np.ndarray, np.ndarray]], out: Path,
                           answers: tuple[str, ...] = SHOWCASE_ANSWERS) -> None:
    """Predicted against true vote fraction for a few answers (rows) and every scale (columns)."""
    fig, axes = plt.subplots(len(answers), len(predictions), figsize=(3 * len(predictions), 2.6 * len(answers)),
                             squeeze=False, sharex=True, sharey=True)
    for col, (scale, (pred, true)) in enumerate(predictions.items()):
        for row, answer in enumerate(answers):
            i = tree.COLUMN_INDEX[answer]
            ax = axes[row][col]
            ax.scatter(true[:, i], pred[:, i], s=5, alpha=0.5)
            ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
            rmse = float(np.sqrt(((pred[:, i] - true[:, i]) ** 2).mean()))
            q = tree.question(int(answer[5:].split(".")[0]))
            label = q.answers[int(answer.split(".")[1]) - 1]
            ax.set_title(f"{scale}: {answer} {label}\nRMSE {rmse:.3f}", fontsize=8)
            ax.set_xlim(-0.05, 1.05)
            ax.set_ylim(-0.05, 1.05)
    for ax in axes[-1]:
        ax.set_xlabel("true fraction")
    for row in axes:
        row[0].set_ylabel("predicted")
    save_figure(fig, out, tight_layout=True, dpi=DPI)

