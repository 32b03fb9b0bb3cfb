"""``save_figure``: the one way every figure module writes its PNG."""
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from PIL import Image

from galzoo.plots.common import DPI, save_figure


def test_a_pyplot_figure_is_written_into_a_new_folder_at_the_dpi_asked_and_closed(tmp_path):
    figure, axis = plt.subplots(figsize=(2, 1))
    axis.plot([0, 1], [1, 0])
    out = save_figure(figure, str(tmp_path / "new" / "line.png"), dpi=DPI)
    assert out == tmp_path / "new" / "line.png"
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (2 * DPI, DPI)
    assert figure.number not in plt.get_fignums()


def test_a_plain_figure_is_written_at_its_own_dpi_and_never_registered_with_pyplot(tmp_path):
    before = plt.get_fignums()
    figure = Figure(figsize=(2, 1), dpi=50)
    figure.subplots().imshow([[0, 1], [1, 0]])
    out = save_figure(figure, tmp_path / "plain.png")
    with Image.open(out) as image:
        assert image.size == (100, 50)
    assert plt.get_fignums() == before
