"""``perseus`` (study 4, Pruitt 2024): the selection of Perseus cluster members and the recipe of ``model``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from galzoo.config.cnn_comparison import Imbalance
from galzoo.config.scale_study import SplitParams
from galzoo.config.schema import Budgeted, at_least, momentum, not_empty, positives, require
from galzoo.errors import ConfigError


@dataclass(frozen=True)
class RedFilterParams:
    """Pruitt's red-image filter: an image is dropped when more than ``max_fraction`` of its pixels are red."""

    max_fraction: float
    hue_deg: float            # red = hue within this many degrees of 0 (pure red) ...
    min_saturation: int       # ... with at least this HSV saturation (0-255) ...
    min_value: int            # ... and at least this HSV value (0-255)

    def check(self, key: str) -> None:
        require(0 < self.max_fraction <= 1, f"{key}.max_fraction", "a fraction in (0, 1]", self.max_fraction)
        require(0 < self.hue_deg < 180, f"{key}.hue_deg", "degrees in (0, 180)", self.hue_deg)
        for name in ("min_saturation", "min_value"):
            require(0 <= getattr(self, name) <= 255, f"{key}.{name}", "0-255", getattr(self, name))


@dataclass(frozen=True)
class PerseusSelectionParams:
    r_max: float
    r_max_inclusive: bool
    red_filter: RedFilterParams
    balance: bool
    spec_additions: bool
    match_radius_arcsec: float
    drop_stars: bool = False   # drop spectroscopic STARs (z ~ 0) from the additions and the independent set

    def check(self, key: str) -> None:
        positives(key, self, "match_radius_arcsec")


@dataclass(frozen=True)
class PerseusRecipe:
    optimizer: Literal["sgd"]
    lr: float
    momentum: float
    weight_decay: float
    lr_decay_rate: float
    lr_decay_steps: int
    batch_size: int
    epochs: int
    input_size: int
    restore_best: bool = False      # keep the epoch with the lowest validation loss
    early_stop_patience: int = 0    # stop after this many epochs without a better one (0 = never)

    def check(self, key: str) -> None:
        positives(key, self, "lr", "batch_size", "epochs", "input_size", "lr_decay_steps")
        momentum(f"{key}.momentum", self.momentum)
        at_least(f"{key}.weight_decay", self.weight_decay, 0)
        require(self.early_stop_patience >= 0, f"{key}.early_stop_patience", "0 (never) or more epochs",
                self.early_stop_patience)
        require(0 < self.lr_decay_rate <= 1, f"{key}.lr_decay_rate", "a factor in (0, 1]", self.lr_decay_rate)


@dataclass(frozen=True)
class PerseusParams(Budgeted):
    selection: PerseusSelectionParams
    split: SplitParams
    rotations_deg: list[float]
    border: Literal["constant", "reflect"]
    greyscale: bool
    recipe: PerseusRecipe
    budgets: dict[str, dict[str, Any]]
    imbalance: Imbalance = "none"  # class-weighted loss or class-balanced batches; none = as the paper

    section = "perseus"

    def check(self, key: str) -> None:
        not_empty(f"{key}.rotations_deg", self.rotations_deg, "one angle (0 = the image as it is)")
        if len(set(a % 360 for a in self.rotations_deg)) != len(self.rotations_deg):
            raise ConfigError(f"{key}.rotations_deg: {self.rotations_deg} repeats an angle (modulo 360): each copy "
                              f"of an object must differ")

    def recipe_for(self, budget: str, model: str | None = None) -> PerseusRecipe:
        return super().recipe_for(budget, model)
