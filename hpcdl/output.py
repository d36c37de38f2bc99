"""Writing result tables (predictions, anomaly scores) as CSV, atomically; --json output."""

from __future__ import annotations

import csv
import json

import numpy as np

from .fsutil import atomic_path


def write_columns_csv(path: str, columns) -> str:
    """Write a Frame or a dict of equal-length arrays as CSV (enum columns as level strings)."""
    if hasattr(columns, "read"):  # a Frame
        frame = columns
        data = frame.read()
        cols = {}
        for name, values in data.items():
            dom = frame.domains.get(name)
            cols[name] = [dom[c] if c >= 0 else "" for c in values] if dom is not None else values
        columns = cols
    names = list(columns)
    n = len(next(iter(columns.values()))) if names else 0
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(names)
            for i in range(n):
                w.writerow(_cell(columns[c][i]) for c in names)
    return path


def _cell(v):
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else repr(float(v))
    if isinstance(v, np.integer):
        return int(v)
    return v


def print_json(obj) -> None:
    """A command's --json result on stdout: numpy values and NaN made plain JSON (store._to_jsonable)."""
    from .store import _to_jsonable

    print(json.dumps(_to_jsonable(obj), indent=2), flush=True)
