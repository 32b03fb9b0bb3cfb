"""The synthetic-vs-real statistics: sky level and noise, colour and size, and the comparison figure."""
import numpy as np
import pytest

from galzoo.realism import STATISTICS, folder_statistics, image_statistics, plot_synthetic_vs_real
from tests.conftest import write_raw_dataset


def sky_with_disc(colour) -> np.ndarray:
    rng = np.random.default_rng(0)
    image = rng.normal(10, 3, (424, 424, 3))
    yy, xx = np.mgrid[:424, :424] - 211.5
    image[np.hypot(xx, yy) < 40] += colour
    return np.clip(image, 0, 255).astype(np.uint8)


def test_sky_level_and_noise_are_read_from_the_border():
    stats = image_statistics(sky_with_disc((120, 120, 120)))
    assert stats["sky_level"] == pytest.approx(10, abs=0.5)
    assert stats["sky_noise"] == pytest.approx(3 / np.sqrt(3), rel=0.25)  # std of the mean of 3 channels
    assert stats["normalized_side"] == pytest.approx(80, rel=0.05)


def test_colour_is_positive_for_red_galaxies_and_negative_for_blue_ones():
    assert image_statistics(sky_with_disc((150, 100, 50)))["colour"] > 0.3
    assert image_statistics(sky_with_disc((50, 100, 150)))["colour"] < -0.3


def test_real_images_give_finite_statistics_and_a_comparison_figure(real_sample, tmp_path):
    real = folder_statistics(sorted(real_sample.glob("*.jpg"))[:20])
    synthetic = folder_statistics(sorted((write_raw_dataset(tmp_path / "raw", n=6) / "images").glob("*.jpg")))
    assert np.isfinite(real[list(STATISTICS)].to_numpy()).all()
    plot_synthetic_vs_real(synthetic, real, tmp_path / "cmp.png")
    assert (tmp_path / "cmp.png").stat().st_size > 1000
