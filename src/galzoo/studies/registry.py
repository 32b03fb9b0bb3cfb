"""The study registry: each study module registers its :class:`~galzoo.studies.base.Study` here, and the
stages, ``galzoo report`` and ``galzoo predict`` find it by name, by task or by a run's metrics.

This module imports no study (``galzoo.studies`` does, as timm's package imports its model families), so a
study can import it to register itself.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from galzoo.errors import ConfigError
from galzoo.studies.base import Study
from galzoo.tasks import get_task

if TYPE_CHECKING:
    from galzoo.config import Params

AUTO_TASK = "auto"
DEFAULT_STUDY = "cnn_comparison"
"""``task: auto`` for a model that is no other study's own (the CNN comparison trains any registered model)."""

_STUDIES: dict[str, Study] = {}


def register_study(study: Study) -> Study:
    """Register ``study`` under ``study.name`` (once)."""
    if study.name in _STUDIES:
        raise ValueError(f"study {study.name!r} is registered twice")
    _STUDIES[study.name] = study
    return study


def list_studies() -> dict[str, Study]:
    return dict(sorted(_STUDIES.items()))


def get_study(name: str) -> Study:
    if name not in _STUDIES:
        raise ConfigError(f"unknown study {name!r}; known studies: {', '.join(sorted(_STUDIES))}")
    return _STUDIES[name]


def resolve(params: Params) -> Params:
    """``params`` with ``task: auto`` replaced by the task of the study that owns the data source or the model
    (the CNN comparison's otherwise)."""
    if params.task != AUTO_TASK:
        return params
    studies = list(_STUDIES.values())
    owner = (next((s for s in studies if params.data.source in s.data_sources), None)
             or next((s for s in studies if params.model in s.home_models), None)
             or get_study(DEFAULT_STUDY))
    return dataclasses.replace(params, task=owner.default_task)


def study_for(params: Params) -> Study:
    """The study whose recipe trains ``params.model`` on ``params.task`` (``auto`` resolved); a task that
    does not go with ``data.source`` is an error naming both."""
    task = get_task(resolve(params).task)
    study = get_study(task.study)
    owners = [s for s in _STUDIES.values() if params.data.source in s.data_sources]
    if owners and study not in owners or not owners and study.data_sources:
        expected = owners[0] if owners else study
        raise ConfigError(f"task: {task.name} and data.source: {params.data.source} do not go together; "
                          f"{expected.default_task} is the task of data.source "
                          f"{' / '.join(expected.data_sources)}, and the only one it has")
    return study


def study_of_metrics(metrics: dict) -> Study:
    """The study that wrote a run's test metrics (they name their task)."""
    return get_study(get_task(metrics["task"]).study)
