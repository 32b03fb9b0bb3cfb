"""``efficientnet`` (study 3, Kalvankar et al. 2020): ``model`` on the 37 vote fractions, trained in two phases."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from galzoo.config.scale_study import SplitParams
from galzoo.config.schema import Budgeted, at_least, pair, positives, probabilities, require
from galzoo.errors import ConfigError


@dataclass(frozen=True)
class EfficientNetCropParams:
    source_side: int

    def check(self, key: str) -> None:
        positives(key, self, "source_side")


@dataclass(frozen=True)
class HeadParams:
    hidden: int
    dropout: float

    def check(self, key: str) -> None:
        positives(key, self, "hidden")
        require(0 <= self.dropout < 1, f"{key}.dropout", "a probability in [0, 1)", self.dropout)


@dataclass(frozen=True)
class KerasAugmentParams:
    rotation_deg: float
    shift: float
    brightness: list[float]
    hflip_p: float
    vflip_p: float
    border: Literal["nearest", "reflect", "constant"]

    def check(self, key: str) -> None:
        low, _ = pair(f"{key}.brightness", self.brightness)
        require(low > 0, f"{key}.brightness", "positive factors", self.brightness)
        at_least(f"{key}.rotation_deg", self.rotation_deg, 0, "degrees")
        require(0 <= self.shift < 1, f"{key}.shift", "a fraction of the side in [0, 1)", self.shift)
        probabilities(key, self, "hflip_p", "vflip_p")


@dataclass(frozen=True)
class PhasedRecipe:
    optimizer: Literal["adam"]
    lr: float
    batch_size: int
    plateau_factor: float
    plateau_patience: int
    early_stop_patience: int
    head_epochs: int
    full_epochs: int
    input_size: int                  # the crop's side in px as the network sees it (crop_task stores it so)
    plateau_min_delta: float = 1e-4  # an improvement of the validation MSE smaller than this is a plateau
    shuffle: bool = True             # draw the training batches in a new random order every epoch

    def check(self, key: str) -> None:
        positives(key, self, "lr", "batch_size", "plateau_patience", "early_stop_patience", "input_size")
        require(0 < self.plateau_factor < 1, f"{key}.plateau_factor", "a factor in (0, 1)", self.plateau_factor)
        require(self.plateau_min_delta >= 0, f"{key}.plateau_min_delta", "0 or more", self.plateau_min_delta)
        for name in ("head_epochs", "full_epochs"):
            require(getattr(self, name) >= 0, f"{key}.{name}", "0 or more epochs", getattr(self, name))
        if self.head_epochs + self.full_epochs == 0:
            raise ConfigError(f"{key}.head_epochs and {key}.full_epochs are both 0: nothing would be trained")


@dataclass(frozen=True)
class EfficientNetParams(Budgeted):
    split: SplitParams
    crop: EfficientNetCropParams
    pretrained: str
    output_layer: Literal["mlp_sigmoid", "tree", "linear"]
    head: HeadParams
    augment: KerasAugmentParams
    recipe: PhasedRecipe
    budgets: dict[str, dict[str, Any]]

    section = "efficientnet"

    def recipe_for(self, budget: str, model: str | None = None) -> PhasedRecipe:
        return super().recipe_for(budget, model)
