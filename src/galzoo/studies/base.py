"""What every study is: one interface the stages, ``galzoo report`` and ``galzoo predict`` call, so that no
code outside the registries asks "which study am I in?".

A study owns, for its paper: how its array store is built from the raw layout, how its galaxies are split,
how a model is trained and scored, its figures, its rows of the cross-experiment report and its paper's
numbers. ``galzoo.studies`` registers the four studies; :func:`galzoo.studies.study_for` picks the one that
trains ``model`` on ``task`` (``docs/adding-a-study.md`` walks through adding a fifth).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pandas as pd

    from galzoo.config import Params


@dataclass(frozen=True)
class StageFiles:
    """The files one stage of a study reads and writes (paths from ``dvc.yaml``; None = not used by it).

    ``scale`` names the input scale for the scale study, whose stages run once per scale.
    """

    raw: Path
    store: Path | None = None
    split: Path | None = None
    model: Path | None = None
    live: Path | None = None
    metrics: Path | None = None
    predictions: Path | None = None
    confusion: Path | None = None
    counts: Path | None = None
    plots: Path | None = None
    scale: str | None = None

    #: the keyword each file goes by in the studies' functions (``raw_dir=``, ``split_path=``, ...)
    KEYWORDS: ClassVar[dict[str, str]] = {
        "raw": "raw_dir", "store": "store_dir", "split": "split_path", "model": "model_path", "live": "live_dir",
        "metrics": "metrics_path", "predictions": "predictions_path", "confusion": "confusion_path",
        "counts": "counts_path", "plots": "out_dir"}

    def kwargs(self, *names: str) -> dict[str, Path]:
        """``{keyword: path}`` for the named files, as the studies' stage functions take them."""
        return {self.KEYWORDS[name]: getattr(self, name) for name in names}


EVALUATE_FILES = ("raw", "store", "split", "model", "metrics", "predictions", "confusion")
"""The files the model-on-task branch's evaluate stage reads and writes."""
PLOT_FILES = ("raw", "store", "split", "model", "predictions", "plots")
"""The files its plot stage reads and writes."""


def build_centre_crop_store(params: Params, files: StageFiles, *, source_side: int, size: int) -> None:
    """The store of the studies that read one centre crop: the centre ``source_side`` px of every raw image at
    ``size`` px, as the array ``crop<source_side>`` (images of a user's folder may have any size)."""
    from galzoo.dataset import open_raw_dataset
    from galzoo.preprocess.store import build_store
    from galzoo.sources import expected_image_size

    raw = open_raw_dataset(files.raw)
    build_store(raw.image_paths, list(raw.ids), files.store, scales=(f"crop{source_side}",), output_size=size,
                expected_size=expected_image_size(params.data.source), workers=params.crop.workers or None)


@dataclass(frozen=True)
class Run:
    """One finished experiment as ``galzoo report`` sees it: its test metrics (which describe themselves:
    model, task, seed, budget), its ``params.yaml`` as ``dvc exp show`` recorded it, and its per-galaxy test
    predictions (``GalaxyID``, ``actual``, ``predicted``) where the report found them (None: not written by
    that run's ``evaluate_model``), so that two models can be compared galaxy by galaxy."""

    rev: str
    name: str
    metrics: dict
    params: dict = field(default_factory=dict)
    predictions: pd.DataFrame | None = field(default=None, compare=False, repr=False)


class Study(ABC):
    """One paper's experiment. Subclasses set the class attributes and implement the stage methods."""

    #: the one name of the study: its module, its ``params.yaml`` section, its report section, its docs page
    name: str
    #: a title for people, with the paper
    title: str
    #: the task this study trains on when ``task: auto`` picks it
    default_task: str
    #: models whose own study this is: ``task: auto`` picks it for them
    home_models: tuple[str, ...] = ()
    #: data sources that hold only this study's data: ``task: auto`` picks it for them
    data_sources: tuple[str, ...] = ()
    #: the PNGs under ``plots/model/`` that ``galzoo report --plots-dir`` copies out of each experiment
    run_plots: tuple[str, ...] = ()

    def section(self, params: Params) -> Any:
        """This study's parameters: the ``params.yaml`` section of its name."""
        return getattr(params, self.name)

    @abstractmethod
    def build_store(self, params: Params, files: StageFiles) -> None:
        """Write the array store (``files.store``) the study trains on, from the raw layout ``files.raw``."""

    @abstractmethod
    def split(self, params: Params, files: StageFiles) -> dict:
        """Write the split (``files.split``) and return its counts (also written to ``files.counts``)."""

    @abstractmethod
    def train(self, params: Params, files: StageFiles) -> None:
        """Train one model and save it, with the preprocessing it needs, to ``files.model``."""

    @abstractmethod
    def evaluate(self, params: Params, files: StageFiles) -> dict:
        """Score ``files.model`` on the test split; write ``files.metrics`` and ``files.predictions``."""

    @abstractmethod
    def plot(self, params: Params, files: StageFiles) -> list[Path]:
        """The study's figures (PNG) under ``files.plots``."""

    @abstractmethod
    def summary(self, metrics: dict) -> str:
        """One line of test scores for the stage log."""

    def variant(self, run: Run) -> str:
        """What tells two runs of the same model, task, budget and seed apart in the report ('' = nothing)."""
        return ""

    def report(self, runs: list[Run]) -> list[str]:
        """Markdown lines: this study's table of ``runs`` beside its paper's numbers."""
        return []

    def saved_run_params(self, counts: dict) -> dict:
        """For a run saved without its experiment (``metrics/<folder>/<run>/``: ``test.json`` and the
        ``split_counts.json`` of the same run), the params that :meth:`variant` reads, as far as the saved
        split counts tell them ({} = they tell nothing)."""
        return {}
