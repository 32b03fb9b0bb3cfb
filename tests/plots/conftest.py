"""Every figure test also checks that the figure function closed what it opened with pyplot: the studies draw
many figures in one process, which must not keep them all in memory."""
import matplotlib
import pytest

matplotlib.use("Agg")  # before pyplot is loaded: no display needed
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def no_pyplot_figure_left_open():
    before = set(plt.get_fignums())
    yield
    left_open = set(plt.get_fignums()) - before
    assert not left_open, f"pyplot figure(s) {sorted(left_open)} left open"
