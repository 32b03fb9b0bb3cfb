"""Label views of ``labels.csv``: what a model is asked to predict, derived in code, never stored twice."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from galzoo import tree
from galzoo.errors import ConfigError


@dataclass(frozen=True)
class Task:
    name: str
    kind: str            # "regression": targets in [0, 1], MSE loss
    num_outputs: int
    description: str

    def targets(self, labels: pd.DataFrame) -> np.ndarray:
        """Targets for the rows of ``labels`` (indexed by GalaxyID), float32."""
        return labels[list(tree.ANSWER_COLUMNS)].to_numpy(np.float32)


TASKS = {
    "votes37": Task("votes37", "regression", tree.N_ANSWERS,
                    "the 37 cumulative Galaxy Zoo vote fractions (Kaggle Galaxy Challenge)"),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ConfigError(f"task: unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]
