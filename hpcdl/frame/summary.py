"""Column summaries like R's ``summary()`` of an H2OFrame / H2O's ``describe()``.

One column is read at a time, so memory is bounded by one column; quartiles are
exact (numpy's default linear interpolation, R's type 7). Works on any Frame
(``hpcdl/frame/h5frame.py``, whose ``Frame.summary()`` calls this).
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

TOP_LEVELS = 7


def _numeric_summary(v: np.ndarray) -> dict:
    v = np.asarray(v, dtype=np.float64)
    na = int(np.isnan(v).sum())
    x = v[~np.isnan(v)]
    out = {"na_count": na, "count": int(x.size)}
    if x.size == 0:
        out.update(min=None, q1=None, median=None, mean=None, q3=None, max=None, sd=None)
        return out
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    out.update(
        min=float(x.min()),
        q1=float(q1),
        median=float(med),
        mean=float(x.mean()),
        q3=float(q3),
        max=float(x.max()),
        sd=float(x.std(ddof=1)) if x.size > 1 else 0.0,
    )
    return out


def frame_summary(frame) -> dict:
    """Of a :class:`~hpcdl.frame.Frame`, per column: type, min, 1st quartile, median, mean, 3rd quartile, max, sd, NA count;
    enums also the ``TOP_LEVELS`` most frequent levels with counts and the cardinality.

    Returns ``{"path", "nrow", "ncol", "columns": [ {...}, ... ]}``. Columns that
    are all NA get ``"bad": "all values missing"``; constant columns ``"constant": True``.
    """
    cols = []
    for name, t in frame.types.items():
        if t == "enum":
            dom = frame.domains.get(name, [])
            codes = frame.column(name)
            counts = np.bincount(codes[codes >= 0], minlength=len(dom)).astype(np.int64)
            na = int((codes < 0).sum())
            order = sorted(range(len(dom)), key=lambda k: (-counts[k], k))
            top = [[dom[k], int(counts[k])] for k in order[:TOP_LEVELS]]
            entry = {
                "name": name,
                "type": t,
                "na_count": na,
                "count": int(counts.sum()),
                "cardinality": len(dom),
                "levels": top,
                "other_count": int(counts.sum() - sum(c for _, c in top)),
            }
            present = int((counts > 0).sum())
        else:
            entry = {"name": name, "type": t, **_numeric_summary(frame.column(name))}
            present = 0 if entry["min"] is None else (1 if entry["min"] == entry["max"] else 2)
        if entry["count"] == 0:
            entry["bad"] = "all values missing"
        elif present == 1:
            entry["constant"] = True
        cols.append(entry)
    return {"path": frame.path, "nrow": frame.nrow, "ncol": frame.ncol, "columns": cols}


def _num(x, t: str) -> str:
    if x is None:
        return "NA"
    if t == "time":
        try:
            return _dt.datetime.fromtimestamp(x / 1000.0, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        except (OverflowError, OSError, ValueError):
            return f"{x:.6g}"
    if t == "int" and float(x).is_integer():
        return str(int(x))
    return f"{x:.6g}"


def format_summary(summary: dict) -> str:
    """A readable table: one line per column (R's summary figures), enum levels as ``level:count``."""
    head = ["column", "type", "NAs", "min", "1st Qu.", "median", "mean", "3rd Qu.", "max", "sd"]
    rows = []
    notes = []
    for c in summary["columns"]:
        t = c["type"]
        if t == "enum":
            levels = " ".join(f"{lvl}:{n}" for lvl, n in c["levels"])
            if c.get("other_count"):
                levels += f" (other):{c['other_count']}"
            rows.append([c["name"], t, str(c["na_count"]), f"{c['cardinality']} levels: {levels}"])
        else:
            sd = "NA" if c["sd"] is None else (f"{c['sd'] / 1000.0:.6g}s" if t == "time" else f"{c['sd']:.6g}")
            mean = _num(c["mean"], "time" if t == "time" else "real")
            rows.append(
                [
                    c["name"],
                    t,
                    str(c["na_count"]),
                    _num(c["min"], t),
                    _num(c["q1"], t),
                    _num(c["median"], t),
                    mean,
                    _num(c["q3"], t),
                    _num(c["max"], t),
                    sd,
                ]
            )
        if c.get("bad"):
            notes.append(f"column {c['name']!r}: {c['bad']}")
        elif c.get("constant"):
            notes.append(f"column {c['name']!r}: constant")
    widths = [len(h) for h in head]
    for r in rows:
        if len(r) == len(head):
            widths = [max(w, len(x)) for w, x in zip(widths, r)]
        else:
            widths[:3] = [max(w, len(x)) for w, x in zip(widths[:3], r[:3])]

    def line(r):
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])] + [x.rjust(w) for x, w in zip(r[2:], widths[2:])]
        if len(r) != len(head):
            cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2]), r[3]]
        return "  ".join(cells).rstrip()

    out = [f"{summary['path']}: {summary['nrow']} rows x {summary['ncol']} columns", line(head)]
    out += [line(r) for r in rows]
    out += notes
    return "\n".join(out)
