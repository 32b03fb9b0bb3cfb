"""Label views of ``labels.csv``: what a model is asked to predict, derived in code, never stored twice.

A task selects the galaxies it can use and turns their 37 cumulative vote fractions into targets:
``votes37`` keeps every galaxy and all 37 fractions; ``gz2_5class`` keeps the "clean" galaxies of Dai & Tong
(2018, Table 1) and gives each one of five class indices. ``classes`` reads a class name per galaxy from
``classes.csv`` (a user's folder with a class column): its class names come from the data.
``perseus_member`` (Pruitt 2024) reads the Perseus catalogue of ``data.source: perseus`` and is selected by
:mod:`galzoo.studies.perseus`. Each task names the ``study`` whose recipe trains models on it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from galzoo import tree
from galzoo.errors import ConfigError, DataError

#: Dai & Tong 2018, Table 1: thresholds on per-question (conditional) vote fractions.
SMOOTH_MIN = 0.469          # f_smooth (Q1 answer 1)
FEATURES_MIN = 0.430        # f_features-or-disk (Q1 answer 2)
SHAPE_MIN = 0.50            # f_completely-round / f_in-between / f_cigar (Q7)
EDGE_ON_YES_MIN = 0.602     # f_edge-on yes (Q2 answer 1)
EDGE_ON_NO_MIN = 0.715      # f_edge-on no (Q2 answer 2)
SPIRAL_YES_MIN = 0.619      # f_spiral yes (Q4 answer 1)

GZ2_5CLASS_NAMES = ("completely round smooth", "in-between smooth", "cigar-shaped smooth", "edge-on", "spiral")


@dataclass(frozen=True)
class Task:
    name: str
    kind: str            # "regression" (targets in [0, 1], MSE) or "classification" (class indices)
    num_outputs: int
    description: str
    class_names: tuple[str, ...] = ()
    #: whose preprocessing and recipe train a model on this task: cnn_comparison (Dai & Tong),
    #: efficientnet (Kalvankar et al.) or perseus (Pruitt)
    study: str = "cnn_comparison"

    def select(self, labels: pd.DataFrame) -> tuple[pd.Index, np.ndarray]:
        """The GalaxyIDs this task uses and their targets (float32 fractions or int64 class indices)."""
        values = labels[list(tree.ANSWER_COLUMNS)].to_numpy(np.float64)
        if self.kind == "regression":
            return labels.index, values.astype(np.float32)
        classes = gz2_5class_labels(values)
        keep = classes >= 0
        return labels.index[keep], classes[keep]


def gz2_5class_labels(cumulative: np.ndarray) -> np.ndarray:
    """Dai & Tong's five clean classes from the 37 cumulative Kaggle fractions: 0..4, or -1 for none.

    Their thresholds apply to per-question fractions, so each cumulative answer is divided by its
    question's total (``tree.conditional_fractions``): e.g. f_round = Class7.1 / (Class7.1 + 7.2 + 7.3),
    f_edge-on = Class2.1 / (Class2.1 + Class2.2). A galaxy meeting two classes' thresholds at once (possible
    because f_smooth >= 0.469 and f_features >= 0.430 can both hold) is not "clean" and gets -1; so does one
    meeting none.
    """
    f = tree.conditional_fractions(cumulative)
    col = tree.COLUMN_INDEX
    smooth = f[:, col["Class1.1"]] >= SMOOTH_MIN
    features = f[:, col["Class1.2"]] >= FEATURES_MIN
    members = np.stack([
        smooth & (f[:, col["Class7.1"]] >= SHAPE_MIN),
        smooth & (f[:, col["Class7.2"]] >= SHAPE_MIN),
        smooth & (f[:, col["Class7.3"]] >= SHAPE_MIN),
        features & (f[:, col["Class2.1"]] >= EDGE_ON_YES_MIN),
        features & (f[:, col["Class2.2"]] >= EDGE_ON_NO_MIN) & (f[:, col["Class4.1"]] >= SPIRAL_YES_MIN),
    ], axis=1)
    clean = members.sum(axis=1) == 1
    return np.where(clean, members.argmax(axis=1), -1).astype(np.int64)


def class_counts(task: Task, labels: pd.DataFrame | None = None, *, targets: np.ndarray | None = None,
                 ) -> dict[str, int]:
    """Galaxies per class after selection (from ``labels``, or the ``targets`` already selected); an empty
    class is an error naming it."""
    if targets is None:
        _, targets = task.select(labels)
    counts = {name: int((targets == i).sum()) for i, name in enumerate(task.class_names)}
    empty = [name for name, n in counts.items() if n == 0]
    if empty:
        raise DataError(f"task {task.name}: no galaxy of class(es) {', '.join(empty)} after selection "
                        f"({len(targets)} galaxies selected, counts {counts})")
    return counts


PERSEUS_CLASS_NAMES = ("background", "member")

TASKS = {
    "votes37": Task("votes37", "regression", tree.N_ANSWERS,
                    "the 37 cumulative Galaxy Zoo vote fractions (Kaggle Galaxy Challenge)", study="efficientnet"),
    "gz2_5class": Task("gz2_5class", "classification", len(GZ2_5CLASS_NAMES),
                       "Dai & Tong 2018: five clean morphology classes selected by vote-fraction thresholds",
                       GZ2_5CLASS_NAMES),
    "classes": Task("classes", "classification", 0,
                    "the class column of a folder source's labels.csv (classes.csv in the raw layout); the class "
                    "names are read from the data"),
    "perseus_member": Task("perseus_member", "classification", len(PERSEUS_CLASS_NAMES),
                           "Pruitt 2024: Perseus cluster member or background, from the PCC and SDSS spectra "
                           "(data.source: perseus)", PERSEUS_CLASS_NAMES, study="perseus"),
}

CLASSES_FILE = "classes.csv"
CLASS_COLUMN = "class"


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ConfigError(f"task: unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]


def task_targets(name: str, raw_dir: Path) -> tuple[Task, pd.Index, np.ndarray]:
    """Task ``name`` for the raw dataset in ``raw_dir``, the GalaxyIDs it uses (as text) and their targets.

    Vote-fraction tasks read ``labels.csv``; ``classes`` reads ``classes.csv`` and names its classes in
    sorted order, so the same folder always gives the same class indices.
    """
    task = get_task(name)
    raw_dir = Path(raw_dir)
    if name == "classes":
        path = raw_dir / CLASSES_FILE
        if not path.is_file():
            raise DataError(f"{path}: not found; task 'classes' needs a folder source whose labels.csv has a "
                            f"'{CLASS_COLUMN}' column")
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        if list(table.columns) != ["GalaxyID", CLASS_COLUMN]:
            raise DataError(f"{path}: expected columns GalaxyID,{CLASS_COLUMN}, got {','.join(table.columns)}")
        names = tuple(sorted(table[CLASS_COLUMN].unique()))
        if len(names) < 2:
            raise DataError(f"{path}: {len(names)} class(es) {list(names)}; a classification task needs two or more")
        task = replace(task, num_outputs=len(names), class_names=names)
        targets = pd.Categorical(table[CLASS_COLUMN], categories=list(names)).codes.astype(np.int64)
        return task, pd.Index(table["GalaxyID"]), targets
    from galzoo.labels import read_labels

    labels_path = raw_dir / "labels.csv"
    if not labels_path.is_file() and (raw_dir / CLASSES_FILE).is_file():
        raise DataError(f"{raw_dir}: has {CLASSES_FILE} but no labels.csv (the folder's labels are class names): "
                        f"use -S task=classes")
    ids, targets = task.select(read_labels(labels_path))
    return task, pd.Index(ids.astype(str)), targets
