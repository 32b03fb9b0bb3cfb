"""The regression figures: loss per scale, test MSE per scale, predicted against true vote fraction."""
import numpy as np
import pandas as pd
from PIL import Image

from galzoo import tree
from galzoo.plots.common import DPI
from galzoo.plots.curves import (SHOWCASE_ANSWERS, plot_loss_per_scale, plot_predicted_vs_true,
                                 plot_scale_comparison)

SCALES = ("normalized", "crop64", "crop256")


def png_size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_the_loss_figure_has_one_panel_per_scale(tmp_path):
    rng = np.random.default_rng(0)
    logs = {s: pd.DataFrame({"train_mse": rng.uniform(0.01, 0.03, 4), "val_mse": rng.uniform(0.01, 0.03, 4)},
                            index=pd.RangeIndex(1, 5, name="epoch")) for s in SCALES}
    plot_loss_per_scale(logs, tmp_path / "plots" / "loss.png")
    assert png_size(tmp_path / "plots" / "loss.png") == (round(4.2 * len(SCALES) * DPI), round(3.4 * DPI))


def test_the_scale_comparison_takes_a_scale_the_paper_does_not_score(tmp_path):
    metrics = {s: {"deterministic": {"mse": 0.01}, "nondeterministic": {"mse": 0.012}} for s in (*SCALES, "other")}
    plot_scale_comparison(metrics, tmp_path / "comparison.png")
    assert png_size(tmp_path / "comparison.png") == (round(6.4 * DPI), round(3.8 * DPI))


def test_predicted_vs_true_has_a_row_per_answer_and_a_column_per_scale(tmp_path):
    rng = np.random.default_rng(1)
    predictions = {s: (rng.uniform(size=(20, tree.N_ANSWERS)), rng.uniform(size=(20, tree.N_ANSWERS)))
                   for s in SCALES[:2]}
    plot_predicted_vs_true(predictions, tmp_path / "all.png")
    assert png_size(tmp_path / "all.png") == (3 * 2 * DPI, round(2.6 * len(SHOWCASE_ANSWERS) * DPI))
    plot_predicted_vs_true({"test": predictions["normalized"]}, tmp_path / "two.png", answers=("Class1.1", "Class4.1"))
    assert png_size(tmp_path / "two.png") == (3 * DPI, round(2.6 * 2 * DPI))
