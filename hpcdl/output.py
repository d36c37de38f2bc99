"""Writing result tables (predictions, anomaly scores, deep features) as CSV, atomically; --json output.

The output name ``-`` (:data:`hpcdl.fsutil.STDOUT`) writes the table to standard output.
"""

from __future__ import annotations

import csv
import json
import sys
import time

import numpy as np

from .fsutil import STDOUT, atomic_path

ERROR_COLUMN = "Reconstruction.MSE"  # an autoencoder's reconstruction error per row (H2O's name)
TOP_ROWS = 30  # rows printed when no threshold is given (and at most this many flagged rows)


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
    from .store import plain_json  # store loads h5py; the CLI imports this module at start-up

    print(json.dumps(plain_json(obj), indent=2), flush=True)


# -- an autoencoder's reconstruction errors (hpcdl anomaly, hpcdl train with a test frame) --
def write_anomaly_csv(path: str, model, frame) -> np.ndarray:
    """Write ``Reconstruction.MSE`` per row of ``frame`` to ``path`` (atomically); returns the errors."""
    errors = model.anomaly(frame).column(ERROR_COLUMN)
    write_columns_csv(path, {ERROR_COLUMN: errors})
    return errors


def format_error_table(errors: np.ndarray, threshold: float | None = None, limit: int = TOP_ROWS) -> str:
    """Rows sorted by decreasing error (1-based row numbers); only rows above ``threshold`` if given."""
    errors = np.asarray(errors, dtype=np.float64)
    order = np.argsort(-errors, kind="stable")
    if threshold is not None:
        order = order[errors[order] > threshold]
        head = f"{len(order)} of {len(errors)} row(s) above threshold {threshold:.6g}"
    else:
        head = f"largest reconstruction errors ({min(limit, len(order))} of {len(errors)} rows)"
    lines = [head]
    if len(order):
        lines.append(f"{'rank':>5}  {'row':>8}  {ERROR_COLUMN:>18}")
        for k, i in enumerate(order[:limit]):
            lines.append(f"{k + 1:>5}  {i + 1:>8}  {errors[i]:>18.8g}")
        if len(order) > limit:
            lines.append(f"  ... {len(order) - limit} more row(s)")
    return "\n".join(lines)


def progress_printer(total_epochs: float, t0: float):
    """A training hook's progress line per scoring event (the CLI's and the estimators' `verbose`)."""

    def show(row: dict, model) -> None:
        epochs = row.get("epochs", 0.0)
        elapsed = time.time() - t0
        # the run's own time (its scoring-history "duration"): frame import and kernel compiling left out
        training = float(row.get("duration", elapsed))
        eta = training / epochs * (total_epochs - epochs) if epochs > 0 else float("nan")
        parts = [
            f"epochs {epochs:8.3f}/{total_epochs:g}",
            f"iter {row.get('iterations', 0):4d}",
            f"{row.get('training_speed', 0):10,.0f} samples/s",
        ]
        for key, label in (
            ("training_classification_error", "train err"),
            ("training_rmse", "train rmse"),
            ("validation_classification_error", "valid err"),
            ("validation_rmse", "valid rmse"),
        ):
            if key in row:
                parts.append(f"{label} {row[key]:.4f}")
        parts.append(f"elapsed {elapsed:6.1f}s ETA {eta:6.1f}s")
        print("  ".join(parts), flush=True)

    return show
