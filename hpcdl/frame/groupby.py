"""H2O-3's ``GroupBy``: ``fr.group_by(by).count().mean("x").sum().get_frame()``.

The aggregates are computed in memory (the key columns and each aggregated column); the result frame
has the key columns (sorted; an NA key is a group of its own, first) then one column per aggregate, in
the order asked, named as H2O-3 names them: ``nrow``, ``mean_x``, ``sum_x``, ``min_x``, ``max_x``,
``sdev_x``, ``var_x``, ``sumSquares_x``, ``mode_x``, ``median_x``.
"""

from __future__ import annotations

import numpy as np

# aggregate -> (column name prefix, function of a group's values)
_AGGREGATES = {
    "mean": ("mean", np.mean),
    "sum": ("sum", np.sum),
    "min": ("min", np.min),
    "max": ("max", np.max),
    "sd": ("sdev", lambda v: np.std(v, ddof=1) if v.size > 1 else np.nan),
    "var": ("var", lambda v: np.var(v, ddof=1) if v.size > 1 else np.nan),
    "ss": ("sumSquares", lambda v: np.sum(v * v)),
    "median": ("median", np.median),
}


class GroupBy:
    """Aggregates of a frame's columns per group of the ``by`` columns (H2O-3's ``H2OGroupBy``).

    ``na``: "all" (default: an NA in a group makes its aggregate NA, as H2O-3) or "rm" (NAs are
    skipped). H2O-3's "ignore" (NAs skipped but counted in the mean's denominator) is refused."""

    def __init__(self, frame, by) -> None:
        self._frame = frame
        by = [by] if isinstance(by, (str, int)) else list(by)
        self._by = [frame.names[frame._index_of(b)] for b in by]
        keys = np.column_stack([frame._values(b) for b in self._by])
        self._keys, self._groups = np.unique(np.nan_to_num(keys, nan=-np.inf), axis=0, return_inverse=True)
        self._groups = self._groups.ravel()
        self._keys[np.isneginf(self._keys)] = np.nan
        self._aggs: list[tuple] = []
        self._result = None

    def _check_na(self, na: str, what: str) -> bool:
        if na not in ("all", "rm"):
            raise self._frame._fail(f"group_by().{what}(na={na!r}): na must be 'all' or 'rm'")
        return na == "rm"

    def count(self, na: str = "all") -> GroupBy:
        """The rows per group (column ``nrow``)."""
        if na != "all":
            raise self._frame._fail(f"group_by().count(na={na!r}): only na='all' (every row of the group)")
        self._aggs.append(("nrow", np.bincount(self._groups, minlength=len(self._keys)).astype(np.float64), "int"))
        return self

    def _aggregate(self, what: str, col, na: str) -> GroupBy:
        skip = self._check_na(na, what)
        fr = self._frame
        cols = [n for n in fr.names if n not in self._by and fr.type(n) != "enum"] if col is None else col
        cols = [cols] if isinstance(cols, (str, int)) else list(cols)
        prefix, fn = _AGGREGATES[what]
        for c in cols:
            name = fr.names[fr._index_of(c)]
            v = fr._numeric_values(name, f"group_by().{what}()")
            out = np.empty(len(self._keys))
            for g in range(len(self._keys)):
                values = v[self._groups == g]
                if skip:
                    values = values[~np.isnan(values)]
                out[g] = fn(values) if values.size else np.nan
            self._aggs.append((f"{prefix}_{name}", out, "real"))
        return self

    def sum(self, col=None, na: str = "all") -> GroupBy:
        return self._aggregate("sum", col, na)

    def mean(self, col=None, na: str = "all") -> GroupBy:
        return self._aggregate("mean", col, na)

    def min(self, col=None, na: str = "all") -> GroupBy:
        return self._aggregate("min", col, na)

    def max(self, col=None, na: str = "all") -> GroupBy:
        return self._aggregate("max", col, na)

    def sd(self, col=None, na: str = "all") -> GroupBy:
        return self._aggregate("sd", col, na)

    def var(self, col=None, na: str = "all") -> GroupBy:
        return self._aggregate("var", col, na)

    def ss(self, col=None, na: str = "all") -> GroupBy:
        return self._aggregate("ss", col, na)

    def median(self, col=None, na: str = "all") -> GroupBy:
        return self._aggregate("median", col, na)

    def get_frame(self):
        """The groups and their aggregates as a frame."""
        fr = self._frame
        cols = [fr._like(b, b, self._keys[:, j]) for j, b in enumerate(self._by)]
        cols += [(name, t, values, None) for name, values, t in self._aggs]
        return fr._new(cols, f"group_by({self._by})")

    @property
    def frame(self):
        return self.get_frame()
