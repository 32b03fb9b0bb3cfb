"""What every figure module shares: the resolution of the pyplot figures and the one way a figure is written."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

DPI = 110
"""Resolution of the pyplot figures (curves, classification, network); the galleries keep their own."""


def save_figure(figure: Figure, out_png: Path, *, tight_layout: bool = False, **savefig) -> Path:
    """Write ``figure`` to ``out_png``, creating its folder, and return the path.

    ``tight_layout`` lays the figure out again first; ``savefig`` (``dpi``, ``bbox_inches``, ...) goes to
    :meth:`Figure.savefig` as given. A figure made by pyplot is closed afterwards, so a long run does not
    keep every figure in memory; a plain :class:`Figure` (the galleries) never touches pyplot at all.
    """
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    if tight_layout:
        figure.tight_layout()
    figure.savefig(out_png, **savefig)
    if figure.canvas.manager is not None:  # only pyplot gives a figure a manager: pyplot is loaded already
        import matplotlib.pyplot as plt

        plt.close(figure)
    return out_png
