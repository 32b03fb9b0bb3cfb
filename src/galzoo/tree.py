"""The Galaxy Zoo 2 decision tree as data: the one place that knows questions, answers and parents.

Everything that needs the tree reads it from here: the synthetic volunteers, the label checks,
Dieleman's normalising output layer, the per-question metrics and the 5-class selection.

Kaggle's 37 columns are *cumulative* vote fractions (Willett et al. 2013; Dieleman et al. 2015, sec. 3):
Q1 and Q6 sum to 1, every other question sums to the value of the answer that leads to it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Tolerance of the real Kaggle labels: they obey the tree only up to rounding.
DEFAULT_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Question:
    number: int
    text: str
    answers: tuple[str, ...]
    #: Column of the answer whose fraction this question's answers sum to; None means they sum to 1.
    parent: str | None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f"Class{self.number}.{i + 1}" for i in range(len(self.answers)))


QUESTIONS: tuple[Question, ...] = (
    Question(1, "Is the galaxy simply smooth and rounded, with no sign of a disk?",
             ("smooth", "features or disk", "star or artifact"), None),
    Question(2, "Could this be a disk viewed edge-on?", ("yes", "no"), "Class1.2"),
    Question(3, "Is there a sign of a bar feature through the centre of the galaxy?", ("yes", "no"), "Class2.2"),
    Question(4, "Is there any sign of a spiral arm pattern?", ("yes", "no"), "Class2.2"),
    Question(5, "How prominent is the central bulge?",
             ("no bulge", "just noticeable", "obvious", "dominant"), "Class2.2"),
    Question(6, "Is there anything odd?", ("yes", "no"), None),
    Question(7, "How rounded is it?", ("completely round", "in between", "cigar-shaped"), "Class1.1"),
    Question(8, "Is the odd feature a ring, or is the galaxy disturbed or irregular?",
             ("ring", "lens or arc", "disturbed", "irregular", "other", "merger", "dust lane"), "Class6.1"),
    Question(9, "Does the galaxy have a bulge at its centre? If so, what shape?",
             ("rounded", "boxy", "no bulge"), "Class2.1"),
    Question(10, "How tightly wound do the spiral arms appear?", ("tight", "medium", "loose"), "Class4.1"),
    Question(11, "How many spiral arms are there?",
             ("1", "2", "3", "4", "more than four", "can't tell"), "Class4.1"),
)

#: The 37 Kaggle label columns in file order.
ANSWER_COLUMNS: tuple[str, ...] = tuple(c for q in QUESTIONS for c in q.columns)
COLUMN_INDEX: dict[str, int] = {c: i for i, c in enumerate(ANSWER_COLUMNS)}
N_ANSWERS = len(ANSWER_COLUMNS)
N_QUESTIONS = len(QUESTIONS)


def question_slice(question: Question) -> slice:
    """Positions of a question's answers among the 37 columns."""
    start = COLUMN_INDEX[question.columns[0]]
    return slice(start, start + len(question.answers))


def question(number: int) -> Question:
    for q in QUESTIONS:
        if q.number == number:
            return q
    raise KeyError(f"the Galaxy Zoo tree has no question {number}; it has questions 1..{N_QUESTIONS}")


def _topological_order() -> tuple[Question, ...]:
    """Questions ordered so that every parent answer is final before its children are scaled."""
    done: set[str] = set()
    ordered: list[Question] = []
    pending = list(QUESTIONS)
    while pending:
        for q in pending:
            if q.parent is None or q.parent in done:
                ordered.append(q)
                done.update(q.columns)
                pending.remove(q)
                break
        else:  # pragma: no cover - would mean a cycle in the table above
            raise RuntimeError("the decision tree has a cycle")
    return tuple(ordered)


#: Order in which Dieleman's layer multiplies down the tree.
TOPOLOGICAL_ORDER = _topological_order()


def question_totals(values: np.ndarray) -> np.ndarray:
    """Sum of each question's answers, shape (N, 11)."""
    values = np.asarray(values, dtype=np.float64)
    return np.stack([values[:, question_slice(q)].sum(axis=1) for q in QUESTIONS], axis=1)


def expected_totals(values: np.ndarray) -> np.ndarray:
    """What each question's answers must sum to under the tree: 1 or the parent answer, shape (N, 11)."""
    values = np.asarray(values, dtype=np.float64)
    ones = np.ones(len(values))
    return np.stack([ones if q.parent is None else values[:, COLUMN_INDEX[q.parent]] for q in QUESTIONS], axis=1)


def constraint_violation(values: np.ndarray) -> np.ndarray:
    """Largest absolute deviation from the tree per row (0 for a perfectly valid row), shape (N,)."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    if values.shape[1] != N_ANSWERS:
        raise ValueError(f"expected {N_ANSWERS} vote-fraction columns, got {values.shape[1]}")
    return np.abs(question_totals(values) - expected_totals(values)).max(axis=1)


def satisfies_tree(values: np.ndarray, tolerance: float = DEFAULT_TOLERANCE) -> np.ndarray:
    """True per row where every answer lies in [0, 1] and every question sums as the tree says."""
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    in_range = ((values >= -tolerance) & (values <= 1 + tolerance)).all(axis=1)
    return in_range & (constraint_violation(values) <= tolerance)


def conditional_fractions(values: np.ndarray) -> np.ndarray:
    """Per-question (conditional) fractions from cumulative ones.

    Each answer is divided by its question's total, so every question sums to 1 among the volunteers who
    reached it; a question nobody reached (total 0) gets zeros. Dai & Tong's Table 1 thresholds apply to
    these fractions (Willett et al. 2013 call them "fraction" as opposed to "weighted fraction").
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.zeros_like(values)
    for q in QUESTIONS:
        s = question_slice(q)
        total = values[:, s].sum(axis=1, keepdims=True)
        np.divide(values[:, s], total, out=out[:, s], where=total > 0)
    return out


def cumulative_from_conditional(conditional: np.ndarray) -> np.ndarray:
    """Inverse of :func:`conditional_fractions` for rows where every question sums to 1.

    Multiplies each question by the (already cumulative) parent answer, in tree order.
    """
    conditional = np.asarray(conditional, dtype=np.float64)
    out = conditional.copy()
    for q in TOPOLOGICAL_ORDER:
        if q.parent is not None:
            out[:, question_slice(q)] *= out[:, [COLUMN_INDEX[q.parent]]]
    return out
