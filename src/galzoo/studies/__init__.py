"""The four studies galzoo reproduces, each a registered :class:`~galzoo.studies.base.Study`.

| name             | paper                                   | params section   |
|------------------|-----------------------------------------|------------------|
| `scale_study`    | Kabani & El-Sakka 2016 (three scales)   | `scale_study`    |
| `cnn_comparison` | Dai & Tong 2018 (five clean classes)    | `cnn_comparison` |
| `efficientnet`   | Kalvankar et al. 2020 (37 vote fractions) | `efficientnet` |
| `perseus`        | Pruitt 2024 (cluster membership)        | `perseus`        |

Importing this package registers them (as timm's package imports its model families); the registry itself
(:mod:`galzoo.studies.registry`) imports none.
"""
from galzoo.studies import cnn_comparison, efficientnet, perseus, scale_study  # noqa: F401 (registers them)
from galzoo.studies.base import Run, StageFiles, Study
from galzoo.studies.registry import get_study, list_studies, register_study, resolve, study_for, study_of_metrics

__all__ = ["Run", "StageFiles", "Study", "get_study", "list_studies", "register_study", "resolve", "study_for",
           "study_of_metrics"]
