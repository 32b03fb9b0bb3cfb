"""`galzoo gallery`'s figure: the galaxies with the highest predicted value of a column, one row per column."""
import pandas as pd
import pytest

from galzoo.errors import DataError
from galzoo.plots.gallery import plot_prediction_gallery


def test_the_gallery_ranks_classifier_probabilities_and_shows_the_highest(raw_dataset, tmp_path):
    jpeg_dir = raw_dataset / "images"  # 100000.jpg, 100001.jpg, ...
    predictions = pd.DataFrame({"GalaxyID": ["100000", "100001", "100002"], "p_spiral": [0.2, 0.9, 0.5],
                                "predicted_class": ["a", "b", "c"]})
    out = plot_prediction_gallery(predictions, jpeg_dir, ["p_spiral"], tmp_path / "g.png", n=2)
    assert out.is_file()
    with pytest.raises(DataError, match=r"unknown column\(s\) \['predicted_class'\]; available: p_spiral"):
        plot_prediction_gallery(predictions, jpeg_dir, ["predicted_class"], tmp_path / "g.png")
