"""Reading and validating ``labels.csv`` in the Kaggle format (``GalaxyID`` + the 37 ``ClassX.Y`` columns).

Every source ends in this format, so this is the one gate labels pass before training. A bad file fails here
with the file, the row (by GalaxyID) and the column named, instead of silently training on garbage.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from galzoo import tree
from galzoo.errors import DataError

ID_COLUMN = "GalaxyID"
#: How far a row may stray from the tree; real Kaggle labels are rounded, ours are exact to 1e-9.
TREE_TOLERANCE = tree.DEFAULT_TOLERANCE
_MAX_LISTED = 10


def read_labels(path: Path | str, tolerance: float = TREE_TOLERANCE) -> pd.DataFrame:
    """Read ``labels.csv`` into a frame indexed by GalaxyID with the 37 columns as float64, validated."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: labels file not found")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file: {exc}") from exc
    validate_labels(frame, source=str(path), tolerance=tolerance)
    return frame.set_index(ID_COLUMN)[list(tree.ANSWER_COLUMNS)].astype(np.float64)


def validate_labels(frame: pd.DataFrame, source: str, tolerance: float = TREE_TOLERANCE) -> None:
    """Raise DataError naming ``source``, the rows and the columns that break the Kaggle format or the tree."""
    missing = [c for c in (ID_COLUMN, *tree.ANSWER_COLUMNS) if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}; expected {ID_COLUMN} and the 37 "
                        f"Galaxy Zoo columns Class1.1 ... Class11.6")
    if frame.empty:
        raise DataError(f"{source}: no rows (an empty dataset cannot be trained on)")
    ids = frame[ID_COLUMN]
    if ids.isna().any():
        raise DataError(f"{source}: empty {ID_COLUMN} on line(s) {_lines(ids.isna())}")
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise DataError(f"{source}: duplicate {ID_COLUMN}(s): {_listed(duplicated.astype(str))}")
    values = frame[list(tree.ANSWER_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    bad = values.isna()
    if bad.any().any():
        row, col = _first(bad)
        raise DataError(f"{source}: {ID_COLUMN} {ids.iloc[row]}: column {col} is empty or not a number "
                        f"({bad.values.sum()} such cells in all)")
    array = values.to_numpy(np.float64)
    outside = (array < -tolerance) | (array > 1 + tolerance)
    if outside.any():
        row, col = _first(pd.DataFrame(outside, columns=values.columns))
        raise DataError(f"{source}: {ID_COLUMN} {ids.iloc[row]}: {col} = {array[row, values.columns.get_loc(col)]} "
                        f"is outside [0, 1] ({outside.sum()} such values in all)")
    deviation = np.abs(tree.question_totals(array) - tree.expected_totals(array))
    broken = deviation.max(axis=1) > tolerance
    if broken.any():
        row = int(np.flatnonzero(broken)[0])
        q = tree.QUESTIONS[int(deviation[row].argmax())]
        target = "1" if q.parent is None else q.parent
        raise DataError(f"{source}: {ID_COLUMN} {ids.iloc[row]}: the answers of question {q.number} sum to "
                        f"{tree.question_totals(array[row:row + 1])[0, q.number - 1]:.6f} but the tree requires "
                        f"them to sum to {target} ({tree.expected_totals(array[row:row + 1])[0, q.number - 1]:.6f})"
                        f", beyond the tolerance {tolerance}; {int(broken.sum())} row(s) break the tree")


def _first(mask: pd.DataFrame) -> tuple[int, str]:
    rows, cols = np.nonzero(mask.to_numpy())
    return int(rows[0]), str(mask.columns[cols[0]])


def _lines(mask: pd.Series) -> str:
    return _listed((np.flatnonzero(mask.to_numpy()) + 2).astype(str))  # +2: header line, 1-based


def _listed(items) -> str:
    items = list(items)
    more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return ", ".join(items[:_MAX_LISTED]) + more
