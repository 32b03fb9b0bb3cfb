"""A classifier's figures: confusion matrix, ROC per class, colour-magnitude diagram."""
import numpy as np
from PIL import Image

from galzoo.plots.classification import plot_colour_magnitude, plot_confusion, plot_roc

NAMES = ("smooth", "edge_on", "spiral")


def assert_png(path):
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 100


def test_the_confusion_matrix_takes_a_class_never_seen_in_the_test_set(tmp_path):
    confusion = np.array([[5, 1, 0], [0, 0, 0], [2, 0, 7]])  # no edge_on galaxy: its row is all zeros
    out = plot_confusion(confusion, NAMES, tmp_path / "model" / "confusion.png", title="a title")
    assert out == tmp_path / "model" / "confusion.png"
    assert_png(out)


def test_the_roc_figure_skips_a_class_without_positives(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.array([0, 2] * 10)  # edge_on never occurs: no curve for it, and no error
    probabilities = rng.dirichlet(np.ones(len(NAMES)), len(labels))
    assert_png(plot_roc(labels, probabilities, NAMES, tmp_path / "roc.png"))


def test_the_colour_magnitude_diagram_takes_objects_without_photometry(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    g_z, r = rng.normal(1.2, 0.3, n), rng.normal(17, 1, n)
    g_z[:3] = np.nan  # no SDSS photometry
    labels = rng.integers(0, 2, n)
    subsets = np.array(["train", "val", "test", "independent"] * 10)
    out = plot_colour_magnitude(g_z, r, labels, 1 - labels, subsets, ("member", "non-member"), -0.1, (3.0, 4.0),
                                tmp_path / "cmd.png")
    assert_png(out)
