"""Classification data from a CSV file: a header row, numeric feature columns and one label
column (any values: numbers or strings). Every problem is a ValueError that names the file,
and where it applies the data row (1-based, header excluded) and the column.
"""
import csv
from pathlib import Path

import numpy as np

__all__ = ["load_csv"]

MISSING = ("", "na", "n/a", "nan", "null", "none", "?")
"""Cells read as missing values (case-insensitive; "?" is the UCI repository's marker)."""


def _error(path, rows, column, bad, what):
    """ValueError for the first flagged cell of ``column`` (``bad``: flags per data row)."""
    first = int(np.flatnonzero(bad)[0])
    shown = "" if what == "missing value" else f" {rows[first]!r}"
    return ValueError(f"{path}: {what}{shown} in data row {first + 1}, column {column!r} "
                      f"({int(np.count_nonzero(bad))} such cell(s) in that column)")


def _read_rows(path):
    """(header, data rows) as stripped strings; blank lines skipped; ragged rows refused."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a CSV file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            lines = [[cell.strip() for cell in row] for row in csv.reader(f)]
    except (UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{path}: not a readable CSV text file ({err})") from None
    lines = [row for row in lines if row not in ([], [""])]  # blank lines
    if not lines:
        raise ValueError(f"{path}: the file is empty (a header row and data rows are needed)")
    header, data = lines[0], lines[1:]
    if len(set(header)) != len(header) or "" in header:
        raise ValueError(f"{path}: the header row needs distinct, non-empty column names; got {header}")
    if not data:
        raise ValueError(f"{path}: no data rows below the header")
    for r, row in enumerate(data):
        if len(row) != len(header):
            raise ValueError(f"{path}: data row {r + 1} has {len(row)} cells, the header has {len(header)}")
    return header, data


def _number(cell):
    try:
        return float(cell)
    except ValueError:
        return None


def load_csv(path, label=None):
    """Read ``path``: returns ``(X, y, feature_names, label_name)`` with ``X`` float64
    (n, d), ``y`` the label column's values (n,) (int64 if all are whole numbers, else
    strings), and the header's names.

    ``label``: the label column's name (default: the last column). Every other column must
    be numeric and finite; cells in `MISSING` count as missing. Refused, with a message
    naming the data row and column: a missing or unreadable file, an empty file, no data
    rows, rows of another length than the header, a missing label column, missing values,
    non-numeric or non-finite feature cells, fewer than 2 classes.
    """
    header, data = _read_rows(path)
    label = header[-1] if label is None else str(label)
    if label not in header:
        raise ValueError(f"{path}: no label column {label!r}; the columns are {header}")
    features = [c for c in header if c != label]
    if not features:
        raise ValueError(f"{path}: only the label column {label!r}; feature columns are needed")

    columns = {name: [row[j] for row in data] for j, name in enumerate(header)}
    for name, cells in columns.items():
        missing = np.array([c.lower() in MISSING for c in cells])
        if missing.any():
            raise _error(path, cells, name, missing, "missing value")
    X = np.empty((len(data), len(features)), np.float64)
    for j, name in enumerate(features):
        values = [_number(c) for c in columns[name]]
        bad = np.array([v is None for v in values])
        if bad.any():
            raise _error(path, columns[name], name, bad, "non-numeric cell")
        X[:, j] = values
        bad = ~np.isfinite(X[:, j])
        if bad.any():
            raise _error(path, columns[name], name, bad, "non-finite cell")

    cells = columns[label]
    numbers = [_number(c) for c in cells]
    if all(v is not None and np.isfinite(v) and v == round(v) for v in numbers):
        y = np.array(numbers).astype(np.int64)
    else:
        y = np.array(cells)
    classes = np.unique(y)
    if classes.size < 2:
        raise ValueError(f"{path}: the label column {label!r} has only one class ({str(classes[0])!r}); "
                         "a classifier needs at least 2")
    return X, y, features, label
