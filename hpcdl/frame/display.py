"""A frame as pandas, as rows of text, and printed as H2O-3 prints it (``describe()``, ``print(frame)``).

pandas types: ``int`` columns are int64 (pandas' nullable ``Int64`` when they hold NA),
``real`` float64, ``enum`` a pandas Categorical with the frame's levels in their order,
``time`` datetime64 (UTC, naive). Only the rows asked for are read.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence

import numpy as np

from .plan import block_rows

DESCRIBE_ROWS = 10


def _pandas():
    try:
        import pandas as pd  # a slow import (0.3-0.7 s here): only for the pandas views
    except ImportError as exc:  # pragma: no cover - pandas is a dependency
        raise ImportError("this needs pandas: pip install pandas") from exc
    return pd


def pandas_column(values: np.ndarray, t: str, domain: Sequence[str] | None):
    """One column's raw values as what pandas holds for its type."""
    pd = _pandas()
    if t == "enum":
        return pd.Categorical.from_codes(values.astype(np.int64), categories=list(domain))
    if t == "time":
        return pd.to_datetime(values, unit="ms")
    values = values.astype(np.float64)
    if t == "int" and not np.isinf(values).any():
        if np.isnan(values).any():
            return pd.array([None if math.isnan(v) else int(v) for v in values], dtype="Int64")
        return values.astype(np.int64)
    return values


def to_pandas(frame, start: int, stop: int, names: Sequence[str]):
    """Rows [start, stop) of the columns ``names`` as a pandas DataFrame indexed by row number."""
    pd = _pandas()
    data = frame.read(names, start, stop) if stop > start else {n: np.zeros(0) for n in names}
    cols = {n: pandas_column(data[n], frame.type(n), frame.domains.get(n)) for n in names}
    return pd.DataFrame(cols, columns=list(names), index=pd.RangeIndex(start, start + len(next(iter(data.values())))))


def _cell(value, t: str, domain: Sequence[str] | None) -> str:
    """A value as H2O-3's text export writes it: NA empty, ints without a fraction, times in ms."""
    if t == "enum":
        return "" if value < 0 else domain[int(value)]
    if math.isnan(value):
        return ""
    if t in ("int", "time") and float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def to_rows(frame, header: bool = True) -> list[list[str]]:
    """Every row as a list of strings (``as_data_frame(use_pandas=False)``), the names first."""
    out = [list(frame.names)] if header else []
    step = block_rows(frame.ncol, frame.chunk_rows)
    with frame.reader() as read:
        for start in range(0, frame.nrow, step):
            data = read(frame.names, start, min(frame.nrow, start + step))
            cols = [[_cell(v, frame.type(n), frame.domains.get(n)) for v in data[n].tolist()] for n in frame.names]
            out.extend([list(r) for r in zip(*cols)])
    return out


def _shown(value, t: str, domain) -> str:
    """A value as H2O-3's printed table shows it."""
    if t == "enum":
        return "" if value < 0 else domain[int(value)]
    if t == "time":
        return (
            ""
            if math.isnan(value)
            else _dt.datetime.fromtimestamp(value / 1000.0, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        )
    return "nan" if math.isnan(value) else repr(float(value))


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(header[j]), *(len(r[j]) for r in rows)) for j in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def _first_rows(frame, n: int) -> list[list[str]]:
    data = frame.read(frame.names, 0, min(n, frame.nrow)) if frame.nrow else {c: [] for c in frame.names}
    k = min(n, frame.nrow)
    return [[str(i)] + [_shown(data[c][i], frame.type(c), frame.domains.get(c)) for c in frame.names] for i in range(k)]


def _zeros(frame) -> dict[str, int]:
    """Exact zeros per numeric column (one streamed pass)."""
    numeric = [n for n in frame.names if frame.type(n) != "enum"]
    counts = dict.fromkeys(numeric, 0)
    step = block_rows(len(numeric), frame.chunk_rows)
    with frame.reader() as read:
        for start in range(0, frame.nrow, step):
            for n, v in read(numeric, start, min(frame.nrow, start + step)).items():
                counts[n] += int(np.count_nonzero(v == 0))
    return counts


def describe_text(frame) -> str:
    """H2O-3's ``describe()``: dimensions, per column type/mins/mean/maxs/sigma/zeros/missing, first rows."""
    zeros = _zeros(frame)
    rows = []
    for label in ("type", "mins", "mean", "maxs", "sigma", "zeros", "missing"):
        row = [label]
        for n in frame.names:
            t, st = frame.type(n), frame.stats[n]
            if label == "type":
                row.append(t)
            elif label == "missing":
                row.append(str(int(st.get("na_count", 0))))
            elif t == "enum":
                row.append("")  # H2O-3 shows no rollups for enums
            elif label == "zeros":
                row.append(str(zeros[n]))
            else:
                key = {"mins": "min", "maxs": "max", "sigma": "sd"}.get(label, label)
                row.append(repr(float(st[key])))
        rows.append(row)
    table = _table([""] + list(frame.names), rows + _first_rows(frame, DESCRIBE_ROWS))
    return f"Rows:{frame.nrow}\nCols:{frame.ncol}\n\n{table}\n\n[{frame.nrow} rows x {frame.ncol} columns]"


def frame_text(frame, rows: int = DESCRIBE_ROWS) -> str:
    """``print(frame)``: the first rows as a table and the dimensions, as H2O-3 prints an H2OFrame."""
    table = _table([""] + list(frame.names), _first_rows(frame, rows)) if frame.ncol else ""
    return f"{table}\n\n[{frame.nrow} rows x {frame.ncol} columns]"
