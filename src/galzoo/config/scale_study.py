"""``scale_study`` (study 1, Kabani & El-Sakka 2016) and the top-level ``crop`` and ``split`` sections it uses."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from galzoo.config.schema import apply_budget, not_empty, positives, require
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


@dataclass(frozen=True)
class Recipe(SgdRecipe):
    loss: Literal["mse"]
    lr_drop_epochs: list[int]
    lr_drop_factor: float
    epochs: int

    def check(self, key: str) -> None:
        positives(key, self, "batch_size", "epochs", "lr")


@dataclass(frozen=True)
class AugmentParams:
    rotation_deg: float
    hflip_p: float
    vflip_p: float
    shift_px: int
    border: Literal["reflect", "constant"]


@dataclass(frozen=True)
class ScaleStudyParams:
    model: str
    seed: int
    output_layer: Literal["linear", "tree"]
    standardize: Literal["per_channel", "none"]
    recipe: Recipe
    augment: AugmentParams
    budgets: dict[str, dict[str, Any]]

    def recipe_for(self, budget: str) -> Recipe:
        return apply_budget(self.recipe, self.budgets, budget, "scale_study")
