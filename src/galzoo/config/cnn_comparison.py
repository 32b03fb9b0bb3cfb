"""``cnn_comparison`` (study 2, Dai & Tong 2018): preprocessing and recipe of ``model`` on ``task``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from galzoo.config.scale_study import SgdRecipe, SplitParams
from galzoo.config.schema import (
    Budgeted,
    at_least,
    not_empty,
    pair,
    positive_items,
    positives,
    probabilities,
    require,
    within,
)
from galzoo.errors import ConfigError

Imbalance = Literal["none", "weighted_loss", "sqrt_weighted_loss", "balanced_sampling"]
"""A classifier's remedy for classes of very different sizes (``galzoo.training.imbalance``); none = the papers'."""

Optimizer = Literal["sgd", "adamw"]
"""sgd = the paper's (Nesterov momentum); adamw = AdamW with the recipe's lr and (decoupled) weight_decay."""


@dataclass(frozen=True)
class CnnComparisonCropParams:
    """The centre crop kept of each galaxy: ``source_side`` px of the original, stored at ``store_size`` px."""

    source_side: int
    store_size: int

    def check(self, key: str) -> None:
        positives(key, self, "store_size")


@dataclass(frozen=True)
class CnnComparisonAugmentParams:
    train_sides: list[int]
    resize: int
    input_size: int
    rotate90: bool
    hflip_p: float
    brightness: float
    contrast: list[float]
    saturation: list[float]
    hue: float

    def check(self, key: str) -> None:
        pair(f"{key}.train_sides", self.train_sides)
        positives(key, self, "resize", "input_size")
        if not self.input_size <= self.resize:
            raise ConfigError(f"{key}.input_size ({self.input_size}) must not exceed {key}.resize ({self.resize})")
        probabilities(key, self, "hflip_p")
        at_least(f"{key}.brightness", self.brightness, 0, "(a shift of the 0-1 pixel values)")
        for name in ("contrast", "saturation"):
            low, _ = pair(f"{key}.{name}", getattr(self, name))
            require(low >= 0, f"{key}.{name}", "factors of 0 or more", getattr(self, name))
        require(0 <= self.hue <= 0.5, f"{key}.hue", "a fraction of the hue circle in [0, 0.5]", self.hue)


@dataclass(frozen=True)
class CnnComparisonRecipe(SgdRecipe):
    optimizer: Optimizer  # type: ignore[assignment]  # SgdRecipe's field, widened: AdamW fits an imbalanced folder
    lr_drop_iterations: list[int]
    lr_drop_factor: float
    iterations: int
    eval_every: int
    warmup_iterations: int = 0     # the lr rises linearly from 0 over these first steps (0 = none)
    clip_grad_norm: float = 0.0    # the gradient's global L2 norm is clipped to this (0 = no clipping)

    def check(self, key: str) -> None:
        self.check_sgd(key)
        positives(key, self, "iterations", "eval_every")
        positive_items(f"{key}.lr_drop_iterations", self.lr_drop_iterations)
        require(0 < self.lr_drop_factor <= 1, f"{key}.lr_drop_factor", "a factor in (0, 1]", self.lr_drop_factor)
        for name in ("warmup_iterations", "clip_grad_norm"):
            value = getattr(self, name)
            require(value >= 0, f"{key}.{name}", "0 (off) or a positive number", value)


@dataclass(frozen=True)
class VisualizeParams:
    """The feature-map figures (the paper's figs. 10-12): a few galaxies per class, a few maps per layer."""

    galaxies_per_class: int = 2
    feature_maps: int = 8

    def check(self, key: str) -> None:
        positives(key, self, "galaxies_per_class", "feature_maps")


@dataclass(frozen=True)
class CnnComparisonParams(Budgeted):
    split: SplitParams
    crop: CnnComparisonCropParams
    augment: CnnComparisonAugmentParams
    test_sides: list[int]
    recipe: CnnComparisonRecipe
    budgets: dict[str, dict[str, Any]]
    visualize: VisualizeParams = field(default_factory=VisualizeParams)
    imbalance: Imbalance = "none"  # class-weighted loss or class-balanced batches; none = as the paper
    test_rotations_flips: bool = False  # each test view also under the 8 rotations and flips; False = as the paper
    prior_power: float = 0.0  # test probabilities divided by the training class shares ** this; 0 = as the paper

    section = "cnn_comparison"
    budgets_per_model = True  # any registered network trains here, from 11 to 75 images/s on 2 CPU cores

    def check(self, key: str) -> None:
        not_empty(f"{key}.test_sides", self.test_sides, "one test crop side")
        within(f"{key}.prior_power", self.prior_power, 0, 1, "a power (0 = the paper's argmax, 1 = balanced recall)")
        sides = [*self.augment.train_sides, *self.test_sides]
        if min(sides) < 1 or max(sides) > self.crop.source_side:
            raise ConfigError(f"{key}: crop sides {sides} must lie in [1, {key}.crop.source_side = "
                              f"{self.crop.source_side}], the stored centre crop")

    def recipe_for(self, budget: str, model: str | None = None) -> CnnComparisonRecipe:
        return super().recipe_for(budget, model)
