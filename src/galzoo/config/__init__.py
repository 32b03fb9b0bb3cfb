"""Typed, validated view of params.yaml: every stage reads its parameters through :func:`load_params`.

Unknown keys, missing keys, wrong types and values outside their choices raise :class:`ConfigError` naming
the dotted key (``scale_study.recipe.lr``), so a typo in a ``-S`` override cannot pass unnoticed.

One module per section of params.yaml, named after it (``data``, ``scale_study`` with the top-level ``crop`` and
``split``, ``cnn_comparison``, ``efficientnet``, ``perseus``, ``runtime`` with ``evaluate``); :mod:`.params` holds
the whole file and :mod:`.schema` the machinery: a dataclass is built from its mapping, then its ``check(key)``
runs with the key it was read from; checks across sections are :meth:`Params.check`. A study's ``budgets`` are
all checked as it is read (:class:`~galzoo.config.schema.Budgeted`), whichever one ``budget`` selects, each bad
value named where it was set (``scale_study.budgets.embedded.epochs``).
"""
from galzoo.config.cnn_comparison import (CnnComparisonAugmentParams, CnnComparisonCropParams, CnnComparisonParams,
                                          CnnComparisonRecipe, VisualizeParams)
from galzoo.config.data import (DataParams, DownloadParams, FolderParams, GZ2Params, KaggleParams, PerseusDataParams,
                                PerseusSdssParams, SyntheticParams)
from galzoo.config.efficientnet import (EfficientNetCropParams, EfficientNetParams, HeadParams,
                                        KerasAugmentParams, PhasedRecipe)
from galzoo.config.params import DEFAULT_PARAMS, Params, load_params
from galzoo.config.perseus import PerseusRecipe, PerseusSelectionParams, PerseusParams, RedFilterParams
from galzoo.config.runtime import EvaluateParams, RuntimeParams
from galzoo.config.scale_study import (AugmentParams, CropParams, Recipe, ScaleStudyParams, SgdRecipe,
                                       SplitParams)
from galzoo.config.schema import build as _build  # noqa: F401  (tests/sources build the data section alone)
from galzoo.errors import ConfigError

__all__ = [
    "DEFAULT_PARAMS", "AugmentParams", "CnnComparisonAugmentParams", "CnnComparisonCropParams", "CnnComparisonParams",
    "CnnComparisonRecipe", "ConfigError", "CropParams", "DataParams", "DownloadParams", "EfficientNetCropParams",
    "EfficientNetParams", "EvaluateParams", "FolderParams", "GZ2Params", "HeadParams", "KaggleParams",
    "KerasAugmentParams", "Params", "PerseusDataParams", "PerseusRecipe", "PerseusSdssParams",
    "PerseusSelectionParams", "PerseusParams", "PhasedRecipe", "Recipe", "RedFilterParams", "RuntimeParams",
    "ScaleStudyParams", "SgdRecipe", "SplitParams", "SyntheticParams", "VisualizeParams", "load_params",
]
