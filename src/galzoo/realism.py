"""How close is the embedded synthetic data to real Galaxy Zoo images? Per-image statistics and a figure.

Measured on any folder of 424x424 images, so the synthetic set can be put beside the real Kaggle sample:
- normalized side: the scale study's own measurement (:func:`find_normalized_side`);
- sky level and sky noise: median and robust std (1.4826 x MAD) of the mean-of-RGB intensity in a
  ``BORDER`` px frame along the edges, where the sky dominates;
- galaxy colour: (R - B) / (R + B) of the sky-subtracted light inside the galaxy's central region
  (positive = red, like an elliptical; negative = blue, like a star-forming disc).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from galzoo.preprocess.images import read_rgb
from galzoo.preprocess.scale import central_region, find_normalized_side, threshold_mask

BORDER = 20
MAD_TO_SIGMA = 1.4826
STATISTICS = {
    "normalized_side": "normalized crop side (px)",
    "sky_level": "sky level (mean RGB, 0-255)",
    "sky_noise": "sky noise (robust std, 0-255)",
    "colour": "galaxy colour (R-B)/(R+B)",
}


def image_statistics(rgb: np.ndarray) -> dict[str, float]:
    frame = np.ones(rgb.shape[:2], dtype=bool)
    frame[BORDER:-BORDER, BORDER:-BORDER] = False
    sky_pixels = rgb[frame].astype(np.float64)               # (n, 3)
    sky_rgb = np.median(sky_pixels, axis=0)
    sky_intensity = sky_pixels.mean(axis=1)
    level = float(np.median(sky_intensity))
    noise = float(MAD_TO_SIGMA * np.median(np.abs(sky_intensity - level)))
    colour = np.nan
    mask = threshold_mask(rgb)
    region = None if mask is None else central_region(mask)
    if region is not None:
        light = np.clip(rgb[region].astype(np.float64) - sky_rgb, 0, None).sum(axis=0)
        if light[0] + light[2] > 0:
            colour = float((light[0] - light[2]) / (light[0] + light[2]))
    return {"normalized_side": float(find_normalized_side(rgb).side), "sky_level": level, "sky_noise": noise,
            "colour": colour}


def folder_statistics(images: list[Path]) -> pd.DataFrame:
    return pd.DataFrame([image_statistics(read_rgb(p)) for p in images], index=[p.stem for p in images])


def plot_synthetic_vs_real(synthetic: pd.DataFrame, real: pd.DataFrame, out: Path) -> None:
    """One panel per statistic: normalised histograms of the synthetic and the real images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(STATISTICS), figsize=(4 * len(STATISTICS), 3.3))
    for ax, (column, label) in zip(axes, STATISTICS.items()):
        values = pd.concat([synthetic[column], real[column]]).dropna()
        bins = np.linspace(values.quantile(0.005), values.quantile(0.995), 30)
        for frame, name in ((real, f"real (n={len(real)})"), (synthetic, f"synthetic (n={len(synthetic)})")):
            ax.hist(frame[column].dropna(), bins=bins, density=True, histtype="step", lw=1.6,
                    label=f"{name}, median {frame[column].median():.3g}")
        ax.set_xlabel(label)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("density")
    fig.suptitle("Embedded synthetic data vs the real Galaxy Zoo (Kaggle) sample")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
