"""Writing result tables (predictions, anomaly scores, deep features) as CSV, atomically; --json output.

The output name ``-`` (:data:`hpcdl.fsutil.STDOUT`) writes the table to standard output.
"""

from __future__ import annotations

import csv
import json
import sys

import numpy as np

from .fsutil import STDOUT, atomic_path


def _decoded(columns) -> dict:
    """A Frame's columns with enum codes as level strings (NA as empty), or the dict itself."""
    if not hasattr(columns, "read"):
        return columns
    frame = columns
    cols = {}
    for name, values in frame.read().items():
        dom = frame.domains.get(name)
        cols[name] = [dom[c] if c >= 0 else "" for c in values] if dom is not None else values
    return cols


def _write_rows(fh, columns: dict) -> None:
    names = list(columns)
    n = len(next(iter(columns.values()))) if names else 0
    w = csv.writer(fh)
    w.writerow(names)
    for i in range(n):
        w.writerow(_cell(columns[c][i]) for c in names)


def write_columns_csv(path: str, columns) -> str:
    """Write a Frame or a dict of equal-length arrays as CSV (enum columns as level strings).

    ``path`` ``-`` writes to standard output; anything else is written atomically.
    Callers check the path first with :func:`hpcdl.fsutil.check_output`.
    """
    columns = _decoded(columns)
    if path == STDOUT:
        _write_rows(sys.stdout, columns)
        sys.stdout.flush()
        return path
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            _write_rows(fh, columns)
    return path


def say(out: str, text: str) -> None:
    """A command's report line: on stdout, or on stderr when the table itself goes to stdout (``--out -``)."""
    print(text, file=sys.stderr if out == STDOUT else sys.stdout, flush=True)


def _cell(v):
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else repr(float(v))
    if isinstance(v, np.integer):
        return int(v)
    return v


def print_json(obj) -> None:
    """A command's --json result on stdout: numpy values and NaN made plain JSON (store.plain_json)."""
    from .store import plain_json

    print(json.dumps(plain_json(obj), indent=2), flush=True)
