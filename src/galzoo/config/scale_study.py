"""``scale_study`` (study 1, Kabani & El-Sakka 2016) and the top-level ``crop`` and ``split`` sections it uses."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from galzoo.config.schema import (Budgeted, at_least, momentum, not_empty, positive_items, positives, probabilities,
                                  require, seed)
from galzoo.errors import ConfigError


@dataclass(frozen=True)
class CropParams:
    scales: list[str]
    output_size: int = 64
    workers: int = 0

    def check(self, key: str) -> None:
        from galzoo.preprocess.crops import check_scale  # lazy: galzoo.preprocess loads the image libraries

        for i, scale in enumerate(self.scales):
            try:
                check_scale(scale)
            except ConfigError as error:
                raise ConfigError(f"{key}.scales[{i}]: {error}") from None
        not_empty(f"{key}.scales", self.scales, "one scale")
        positives(key, self, "output_size")
        at_least(f"{key}.workers", self.workers, 0, "(0 = one process per core)")


@dataclass(frozen=True)
class SplitParams:
    """A random split: ``test_fraction`` held out, then ``val_fraction`` of the rest (every study has one)."""

    test_fraction: float
    val_fraction: float

    def check(self, key: str) -> None:
        for name in ("test_fraction", "val_fraction"):
            value = getattr(self, name)
            require(0 < value < 1, f"{key}.{name}", "a fraction in (0, 1)", value)


@dataclass(frozen=True)
class SgdRecipe:
    """The SGD fields the scale study's and the CNN comparison's recipes share (what make_optimizer reads)."""

    optimizer: Literal["sgd"]
    momentum: float
    nesterov: bool
    weight_decay: float
    batch_size: int
    lr: float

    def check_sgd(self, key: str) -> None:
        """The rules torch.optim.SGD sets when training starts, checked at load time instead."""
        positives(key, self, "batch_size", "lr")
        momentum(f"{key}.momentum", self.momentum, self.nesterov)
        at_least(f"{key}.weight_decay", self.weight_decay, 0)


@dataclass(frozen=True)
class Recipe(SgdRecipe):
    loss: Literal["mse"]
    lr_drop_epochs: list[int]
    lr_drop_factor: float
    epochs: int

    def check(self, key: str) -> None:
        self.check_sgd(key)
        positives(key, self, "epochs")
        positive_items(f"{key}.lr_drop_epochs", self.lr_drop_epochs)
        require(0 < self.lr_drop_factor <= 1, f"{key}.lr_drop_factor", "a factor in (0, 1]", self.lr_drop_factor)


@dataclass(frozen=True)
class AugmentParams:
    rotation_deg: float
    hflip_p: float
    vflip_p: float
    shift_px: int
    border: Literal["reflect", "constant"]

    def check(self, key: str) -> None:
        at_least(f"{key}.rotation_deg", self.rotation_deg, 0, "degrees")
        probabilities(key, self, "hflip_p", "vflip_p")
        at_least(f"{key}.shift_px", self.shift_px, 0, "pixels")


@dataclass(frozen=True)
class ScaleStudyParams(Budgeted):
    model: str
    seed: int
    output_layer: Literal["linear", "tree"]
    standardize: Literal["per_channel", "none"]
    recipe: Recipe
    augment: AugmentParams
    budgets: dict[str, dict[str, Any]]

    section = "scale_study"

    def check(self, key: str) -> None:
        seed(f"{key}.seed", self.seed)

    def recipe_for(self, budget: str, model: str | None = None) -> Recipe:
        return super().recipe_for(budget, model)
