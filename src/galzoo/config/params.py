"""The whole of params.yaml (:class:`Params`) and :func:`load_params`, through which every stage reads it."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from galzoo.config.cnn_comparison import CnnComparisonParams
from galzoo.config.data import DataParams
from galzoo.config.efficientnet import EfficientNetParams
from galzoo.config.perseus import PerseusParams
from galzoo.config.runtime import EvaluateParams, RuntimeParams
from galzoo.config.scale_study import CropParams, ScaleStudyParams, SplitParams
from galzoo.config.schema import Budgeted, build, join, seed
from galzoo.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")


@dataclass(frozen=True)
class Params:
    seed: int
    model: str
    task: str
    budget: str
    data: DataParams
    crop: CropParams
    split: SplitParams
    scale_study: ScaleStudyParams
    cnn_comparison: CnnComparisonParams
    efficientnet: EfficientNetParams
    perseus: PerseusParams
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    runtime: RuntimeParams = field(default_factory=RuntimeParams)

    def check(self, key: str) -> None:
        """What no one section can check: names against their registries, ``budget`` in every study that has
        budgets (each study checked all of its own budgets when it was built)."""
        from galzoo.models import check_model_name  # lazy: the registry needs torch (and loads no timm)
        from galzoo.tasks import get_task

        seed(join(key, "seed"), self.seed)
        check_model_name(self.model, key=join(key, "model"))
        check_model_name(self.scale_study.model, key=join(key, "scale_study.model"))
        if self.task != "auto":
            try:
                get_task(self.task)
            except ConfigError as error:
                raise ConfigError(f"{error} (or auto: the task of the model's own study)") from None
        for f in dataclasses.fields(self):
            study = getattr(self, f.name)
            if isinstance(study, Budgeted):
                study.recipe_for(self.budget, self.model)
                for models_key, names in study.budget_models().items():
                    for name in names:
                        check_model_name(name, key=join(models_key, name))


def load_params(path: Path | str = DEFAULT_PARAMS, overrides: dict[str, Any] | None = None) -> Params:
    """Read and validate params.yaml; every problem is a ConfigError naming the file and the key.

    ``overrides`` maps dotted keys to values, applied before validation as ``dvc exp run -S key=value`` would
    (``{"cnn_comparison.budgets.embedded.iterations": 2}``): tests and scripts change a few values this way.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file not found (run from the project root)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    for key, value in (overrides or {}).items():
        _set_dotted(raw, key, value)
    try:
        return build(Params, raw, "")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _set_dotted(raw: dict, key: str, value: Any) -> None:
    """``raw["a"]["b"] = value`` for ``key = "a.b"``; a missing section is created (and checked by build)."""
    *sections, last = key.split(".")
    node = raw
    for i, name in enumerate(sections):
        child = node.setdefault(name, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{'.'.join(sections[:i + 1])}: is {child!r}, not a section, so {key} cannot be set")
        node = child
    node[last] = value
