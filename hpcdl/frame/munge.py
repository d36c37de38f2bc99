"""H2O-3's frame statistics and reshaping: median, quantile, var, cor, table, unique, group_by, sort,
merge, ifelse, impute, scale, na_omit, ascharacter, hist, the math functions, mean(return_frame=True).

Mixed into :class:`~hpcdl.frame.ops.FrameOps`. The element-wise math functions stream by blocks as
every other column operation does; the statistics and reshapes (sorting, grouping, joining, counting)
read the columns they use into memory, one column at a time where they can: the frames H2O-3 scripts
munge this way are small, and a frame that does not fit in memory is for the trainer, not for these.
Results are new scratch frames (removed with the object), as in ``ops``; ``impute`` changes the frame
in place, as H2O-3's does. Names, shapes and types of the results are H2O-3 3.46's (measured: see
tests/test_frame_munge.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..fsutil import delete_with, scratch_path
from .groupby import GroupBy
from .plan import Col, Rows, copy_of

DEFAULT_PROBS = (0.01, 0.1, 0.25, 0.333, 0.5, 0.667, 0.75, 0.9, 0.99)  # H2O-3's quantile() default
# combine_method -> numpy's quantile method (H2O-3's "interpolate" is R's type 7, numpy's "linear")
QUANTILE_METHODS = {"interpolate": "linear", "average": "midpoint", "low": "lower", "high": "higher"}


def _math(name: str, fn, int_result: bool = False, keep_names: bool = False):
    """H2O-3's unary math function ``name``: columns named ``name(col)`` as H2O-3 names them (round and
    signif keep the column's name, as H2O-3's do); floor, ceiling, trunc and sign give int columns."""

    def method(self):
        cols = []
        for n in self._names:
            if self.type(n) == "enum":
                raise self._fail(f"{name}(): column {n!r} is an enum; only numeric columns")
            t = "int" if int_result else "real"
            cols.append(
                Col(
                    n if keep_names else f"{name}({n})",
                    t,
                    lambda start, stop, v: fn(v.astype(np.float64)),
                    ((self, n),),
                )
            )
        return self._emit(cols, Rows(self.nrow), f"{name}()")

    method.__name__ = name
    method.__doc__ = f"{name} of every value, as H2O-3's ``{name}()`` (NA stays NA)."
    return method


def _round_half_even(v: np.ndarray, digits: int = 0) -> np.ndarray:
    return np.round(v, digits)


def _signif(v: np.ndarray, digits: int = 6) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(v == 0, 0, np.floor(np.log10(np.abs(v))))
        scale = 10.0 ** (digits - 1 - mag)
        return np.where(np.isfinite(v) & (v != 0), np.round(v * scale) / scale, v)


class MungeOps:
    """The statistics, reshapes and math functions of H2O-3's H2OFrame (see the module docstring)."""

    # -- helpers ------------------------------------------------------------------------
    def _values(self, name: str) -> np.ndarray:
        """A column as float64: numbers, enum codes; NA as NaN."""
        v = self.column(name).astype(np.float64)
        if self.type(name) == "enum":
            v[v < 0] = np.nan
        return v

    def _numeric_values(self, name: str, what: str) -> np.ndarray:
        if self.type(name) == "enum":
            raise self._fail(f"{what}: column {name!r} is an enum; only numeric columns")
        return self._values(name)

    def _new(self, columns: Sequence[tuple], what: str):
        """A scratch frame of ``(name, type, float64 values or enum codes, levels)`` columns."""
        names = [c[0] for c in columns]
        types = [c[1] for c in columns]
        blocks = [[np.asarray(c[2], dtype=np.int32 if c[1] == "enum" else np.float64)] for c in columns]
        domains = {c[0]: list(c[3]) for c in columns if c[1] == "enum"}
        frame = type(self)._write_new(
            scratch_path("frame"),
            names,
            types,
            blocks,
            domains,
            sort_levels=False,
            display_name=f"{self._where()} ({what})",
        )
        frame._scratch = delete_with(frame, frame.path)
        return frame

    def _like(self, name: str, new_name: str, values: np.ndarray) -> tuple:
        """A result column with the type and levels of column ``name`` (values: floats, codes for enums)."""
        t = self.type(name)
        if t == "enum":
            codes = np.where(np.isnan(values), -1, values).astype(np.int32)
            return (new_name, "enum", codes, self.domains[name])
        return (new_name, t, values, None)

    # -- statistics -----------------------------------------------------------------------
    def median(self, na_rm: bool = False) -> list[float]:
        """Per column median (NaN for enums, and where a column has NA unless ``na_rm``), as H2O-3."""
        out = []
        for n in self._names:
            v = self._values(n)
            if self.type(n) == "enum" or (not na_rm and np.isnan(v).any()):
                out.append(math.nan)
            else:
                v = v[~np.isnan(v)]
                out.append(float(np.median(v)) if v.size else math.nan)
        return out

    def quantile(self, prob: Sequence[float] | None = None, combine_method: str = "interpolate", weights_column=None):
        """A frame ``Probs``, ``<col>Quantiles``...: each column's quantiles at ``prob`` (NA skipped; enums NaN).
        ``combine_method``: ``interpolate`` (R's type 7, H2O-3's default), ``average``, ``low``, ``high``."""
        if weights_column is not None:
            raise self._fail("quantile(weights_column=...): weighted quantiles are not supported")
        method = QUANTILE_METHODS.get(str(combine_method).lower())
        if method is None:
            raise self._fail(f"quantile(): combine_method must be one of {list(QUANTILE_METHODS)}")
        probs = np.asarray(DEFAULT_PROBS if prob is None else list(prob), dtype=np.float64)
        if probs.size == 0 or np.any((probs < 0) | (probs > 1)):
            raise self._fail(f"quantile(): prob must be values between 0 and 1, got {list(probs)}")
        cols = [("Probs", "real", probs, None)]
        for n in self._names:
            v = self._values(n)
            v = v[~np.isnan(v)]
            q = (
                np.full(probs.size, np.nan)
                if self.type(n) == "enum" or not v.size
                else np.quantile(v, probs, method=method)
            )
            cols.append((f"{n}Quantiles", "real", q, None))
        return self._new(cols, "quantile()")

    def _pairwise(self, y, na_rm: bool, use: str | None, what: str):
        """(x matrix, y matrix, x names, y names) over the rows ``use`` keeps (R's ``use``)."""
        other = self if y is None else y
        if other.nrow != self.nrow:
            raise self._fail(f"{what}: y has {other.nrow} rows, this frame {self.nrow}")
        use = use or ("complete.obs" if na_rm else "everything")
        if use not in ("everything", "all.obs", "complete.obs"):
            raise self._fail(f"{what}: use must be 'everything', 'all.obs' or 'complete.obs', got {use!r}")
        X = np.column_stack([self._numeric_values(n, what) for n in self._names])
        Y = np.column_stack([other._numeric_values(n, what) for n in other.names])
        missing = np.isnan(X).any(axis=1) | np.isnan(Y).any(axis=1)
        if use == "all.obs" and missing.any():
            raise self._fail(f"{what}: use='all.obs' but {int(missing.sum())} row(s) have NA")
        if use == "complete.obs":
            X, Y = X[~missing], Y[~missing]
        return X, Y, list(self._names), list(other.names)

    def _matrix_result(self, M: np.ndarray, names: list[str], what: str):
        if M.shape == (1, 1):
            return float(M[0, 0])
        return self._new([(n, "real", M[:, j], None) for j, n in enumerate(names)], what)

    def var(self, y=None, na_rm: bool = False, use: str | None = None):
        """Sample variance (n - 1) of a column as a number; of several, their covariance matrix as a frame
        (one row and column per column). ``na_rm`` (or ``use="complete.obs"``) keeps the rows with no NA."""
        X, Y, xn, yn = self._pairwise(y, na_rm, use, "var()")
        n = X.shape[0]
        if n < 2:
            M = np.full((X.shape[1], Y.shape[1]), np.nan)
        else:
            M = (X - X.mean(axis=0)).T @ (Y - Y.mean(axis=0)) / (n - 1)
        return self._matrix_result(M, yn, "var()")

    def cor(self, y=None, na_rm: bool = False, use: str | None = None, method: str = "Pearson"):
        """Pearson correlation of a column with another as a number; of several, a frame (a column per
        column of ``y``, default this frame). ``na_rm`` / ``use`` as in :meth:`var`."""
        if str(method).lower() != "pearson":
            raise self._fail(f"cor(method={method!r}): only Pearson correlation is supported")
        X, Y, xn, yn = self._pairwise(y, na_rm, use, "cor()")
        with np.errstate(divide="ignore", invalid="ignore"):
            xs = (X - X.mean(axis=0)) / X.std(axis=0)
            ys = (Y - Y.mean(axis=0)) / Y.std(axis=0)
            M = xs.T @ ys / X.shape[0] if X.shape[0] else np.full((X.shape[1], Y.shape[1]), np.nan)
        return self._matrix_result(M, yn, "cor()")

    def mean(self, skipna: bool = True, axis: int = 0, **kwargs):
        """Per column mean as a list (NaN for enums), or with ``return_frame=True`` H2O-3's one-row frame
        (an enum's mean is then the mean of its level codes, as H2O-3 gives it). ``na_rm`` = ``skipna``."""
        if axis != 0:
            raise self._fail("mean(axis=1): row means are not supported; only column means (axis=0)")
        skipna = kwargs.get("na_rm", skipna)
        if not kwargs.get("return_frame"):
            return [self._stat(n, "mean", skipna) for n in self._names]
        cols = []
        for n in self._names:
            v = self._values(n)
            m = np.nanmean(v) if skipna and (~np.isnan(v)).any() else (np.mean(v) if v.size else np.nan)
            cols.append((n, "real", np.array([m]), None))
        return self._new(cols, "mean()")

    # -- counting, distinct values, histograms ---------------------------------------------------
    def table(self, data2=None, dense: bool = True):
        """Counts of each value (one column: ``<col>``, ``Count``) or of each pair of values present
        (two columns: ``<a>``, ``<b>``, ``Counts``), sorted by value; rows with NA are left out."""
        if not dense:
            raise self._fail("table(dense=False): only the dense table (the pairs present) is supported")
        frame = self if data2 is None else self.cbind(data2)
        if frame.ncol not in (1, 2):
            raise self._fail(f"table(): give one or two columns, not {frame.ncol}")
        names = frame.names
        V = np.column_stack([frame._values(n) for n in names])
        V = V[~np.isnan(V).any(axis=1)]
        keys, counts = np.unique(V, axis=0, return_counts=True) if V.size else (np.empty((0, len(names))), np.empty(0))
        cols = [frame._like(n, n, keys[:, j]) for j, n in enumerate(names)]
        cols.append(("Count" if len(names) == 1 else "Counts", "int", counts.astype(np.float64), None))
        return self._new(cols, "table()")

    def unique(self, include_nas: bool = False):
        """The distinct values of a one-column frame, sorted, as column ``C1`` of the column's type (NA too
        with ``include_nas``)."""
        if self.ncol != 1:
            raise self._fail(f"unique(): give one column, not {self.ncol}")
        n = self._names[0]
        v = self._values(n)
        u = np.unique(v[~np.isnan(v)])
        if include_nas and np.isnan(v).any():
            u = np.append(u, np.nan)
        return self._new([self._like(n, "C1", u)], "unique()")

    def hist(self, breaks="sturges", plot: bool = True, **kwargs):
        """H2O-3's ``hist(plot=False)``: a frame ``breaks``, ``counts``, ``mids_true``, ``mids``, ``density``
        of a numeric column (first row: the lowest break, NA counts). ``breaks``: a number of bins, a
        list of break points, or "sturges"; bins are numpy's. Drawing (``plot=True``) is not supported."""
        if plot:
            raise self._fail("hist(plot=True): hpcdl draws no plots here; call hist(plot=False) for the table")
        if self.ncol != 1:
            raise self._fail(f"hist(): give one column, not {self.ncol}")
        v = self._numeric_values(self._names[0], "hist()")
        v = v[~np.isnan(v)]
        if isinstance(breaks, str):
            if breaks.lower() != "sturges":
                raise self._fail(f"hist(breaks={breaks!r}): give 'sturges', a number of bins or a list of breaks")
            breaks = int(math.ceil(math.log2(max(v.size, 1)) + 1))
        counts, edges = np.histogram(v, bins=breaks)
        mids = (edges[1:] + edges[:-1]) / 2
        true_mids = [
            float(np.mean(v[(v >= lo) & (v <= hi)])) if c else math.nan for lo, hi, c in zip(edges, edges[1:], counts)
        ]
        density = counts / (np.diff(edges) * max(counts.sum(), 1))
        nan = np.array([np.nan])
        return self._new(
            [
                ("breaks", "real", edges, None),
                ("counts", "real", np.r_[nan, counts], None),
                ("mids_true", "real", np.r_[nan, true_mids], None),
                ("mids", "real", np.r_[nan, mids], None),
                ("density", "real", np.r_[nan, density], None),
            ],
            "hist()",
        )

    # -- reshaping --------------------------------------------------------------------------------
    def _take(self, order: np.ndarray, what: str):
        """This frame's rows in ``order`` (row numbers), as a new frame."""
        return self._new([self._like(n, n, self._values(n)[order]) for n in self._names], what)

    def sort(self, by, ascending=True):
        """Rows sorted by the columns ``by`` (names or indices; enums by level), stable; NAs first, as
        H2O-3 puts them. ``ascending``: one bool, or one per column."""
        by = [by] if isinstance(by, (str, int)) else list(by)
        idx = [self._index_of(b) for b in by]
        asc = [ascending] * len(idx) if isinstance(ascending, bool) else list(ascending)
        if len(asc) != len(idx):
            raise self._fail(f"sort(): {len(idx)} columns but {len(asc)} ascending values")
        order = np.arange(self.nrow)
        for j, up in reversed(list(zip(idx, asc))):  # last key first: stable sorts compose
            v = self._values(self._names[j])[order]
            key = np.where(np.isnan(v), -np.inf, v if up else -v)
            order = order[np.argsort(key, kind="stable")]
        return self._take(order, "sort()")

    def na_omit(self):
        """The rows with no NA in any column."""
        keep = np.ones(self.nrow, dtype=bool)
        for n in self._names:
            keep &= ~np.isnan(self._values(n))
        return self._take(np.nonzero(keep)[0], "na_omit()")

    def merge(self, other, all_x: bool = False, all_y: bool = False, by_x=None, by_y=None, method: str = "auto"):
        """H2O-3's join on the columns both frames have (or ``by_x``/``by_y``): the key columns, then this
        frame's other columns, then ``other``'s; rows sorted by key; ``all_x``/``all_y``: left/right/outer."""
        df, keys = self._merge_frames(other, by_x, by_y)
        how = {(False, False): "inner", (True, False): "left", (False, True): "right", (True, True): "outer"}
        left, right = df
        out = left.merge(right, how=how[(bool(all_x), bool(all_y))], left_on=keys[0], right_on=keys[1], sort=True)
        first = list(keys[0])  # H2O-3's column order: the keys, then this frame's others, then other's
        out = out[first + [c for c in out.columns if c not in first]]
        return type(self).from_python(out.reset_index(drop=True), destination_frame=f"{self._where()} (merge())")

    def _merge_frames(self, other, by_x, by_y):
        if by_x is None and by_y is None:
            common = [n for n in self._names if n in other.names]
            if not common:
                raise self._fail("merge(): the frames have no column name in common; give by_x and by_y")
            by_x = by_y = common
        by_x = [self._names[self._index_of(b)] for b in ([by_x] if isinstance(by_x, (str, int)) else by_x)]
        by_y = [other.names[other._index_of(b)] for b in ([by_y] if isinstance(by_y, (str, int)) else by_y)]
        for a, b in zip(by_x, by_y):
            if (self.type(a) == "enum") != (other.type(b) == "enum"):
                raise self._fail(f"merge(): key columns {a!r} and {b!r} are not of the same type (enum and number)")
        return (self.as_data_frame(), other.as_data_frame()), (by_x, by_y)

    def ifelse(self, yes, no):
        """Per row of a one-column 0/1 frame: ``yes`` where it is nonzero, ``no`` where it is 0, NA where
        NA. ``yes``/``no``: numbers, texts (an enum result) or one-column frames; the result is ``C1``."""
        if self.ncol != 1:
            raise self._fail(f"ifelse(): the test must be one column, not {self.ncol}")
        test = self._values(self._names[0])
        sides = [self._branch(s, "yes" if k == 0 else "no") for k, s in enumerate((yes, no))]
        texts = [s for s in sides if isinstance(s, list)]
        if texts:
            levels = sorted({t for s in texts for t in s if t is not None})
            sides = [
                np.array([np.nan if t is None else levels.index(t) for t in s], dtype=np.float64)
                if isinstance(s, list)
                else s
                for s in sides
            ]
        out = np.where(np.isnan(test), np.nan, np.where(test != 0, sides[0], sides[1]))
        if texts:
            return self._new([("C1", "enum", np.where(np.isnan(out), -1, out), levels)], "ifelse()")
        whole = all(np.all(np.isnan(s) | (s == np.round(s))) for s in sides)
        return self._new([("C1", "int" if whole else "real", out, None)], "ifelse()")

    def _branch(self, side, what: str):
        """A branch of ifelse as n floats, or n texts (list) for an enum/text branch."""
        if isinstance(side, MungeOps):
            if side.ncol != 1 or side.nrow != self.nrow:
                raise self._fail(f"ifelse(): {what} must be one column of {self.nrow} rows")
            name = side.names[0]
            if side.type(name) == "enum":
                codes = side.column(name)
                return [None if c < 0 else side.domains[name][c] for c in codes]
            return side._values(name)
        if isinstance(side, str):
            return [side] * self.nrow
        if side is None:
            return np.full(self.nrow, np.nan)
        return np.full(self.nrow, float(side))

    # -- changing values -----------------------------------------------------------------------------
    def impute(
        self,
        column=-1,
        method: str = "mean",
        combine_method: str = "interpolate",
        by=None,
        group_by_frame=None,
        values=None,
    ):
        """Fill the NAs of ``column`` (-1: every column) in place with its mean, median or mode (enums: mode
        only), per group of ``by`` columns if given; returns the value per column (NaN where not imputed),
        as H2O-3's. ``values``: one fill value per column instead."""
        if group_by_frame is not None:
            raise self._fail("impute(group_by_frame=...): not supported; use by=[columns]")
        method = str(method).lower()
        if method not in ("mean", "median", "mode"):
            raise self._fail(f"impute(): method must be 'mean', 'median' or 'mode', got {method!r}")
        targets = list(range(self.ncol)) if column in (-1, None) else [self._index_of(column)]
        by_cols = (
            [] if by is None else [self._names[self._index_of(b)] for b in ([by] if isinstance(by, (str, int)) else by)]
        )
        filled, report = {}, [math.nan] * self.ncol
        for j in targets:
            name = self._names[j]
            if name in by_cols:
                continue
            if values is not None:
                v, fill = self._values(name), values[j]
                v[np.isnan(v)] = np.nan if fill is None else float(fill)
                filled[name], report[j] = v, fill
                continue
            filled[name], report[j] = self._impute_column(name, method, combine_method, by_cols)
        if filled:
            cols = [self._filled(n, filled[n]) if n in filled else None for n in self._names]
            self._replace_values(cols)
        return report

    def _filled(self, name: str, values: np.ndarray) -> tuple:
        """An imputed column: an int column with a fill that is not whole becomes real, as in H2O-3."""
        col = self._like(name, name, values)
        if col[1] == "int" and not np.all(np.isnan(values) | (values == np.round(values))):
            return (name, "real", values, None)
        return col

    def _impute_column(self, name: str, method: str, combine_method: str, by_cols: list[str]):
        v = self._values(name)
        if self.type(name) == "enum" and method != "mode":
            raise self._fail(f"impute(): column {name!r} is an enum; use method='mode'")
        groups = np.zeros(self.nrow, dtype=np.int64)
        if by_cols:
            keys = np.column_stack([self._values(b) for b in by_cols])
            _, groups = np.unique(np.nan_to_num(keys, nan=-np.inf), axis=0, return_inverse=True)
            groups = groups.ravel()
        fill = None
        for g in np.unique(groups):
            rows = groups == g
            present = v[rows & ~np.isnan(v)]
            if not present.size:
                continue
            if method == "mean":
                fill = float(present.mean())
            elif method == "median":
                fill = float(np.quantile(present, 0.5, method=QUANTILE_METHODS.get(combine_method, "linear")))
            else:
                vals, counts = np.unique(present, return_counts=True)
                fill = float(vals[np.argmax(counts)])
            v[rows & np.isnan(v)] = fill
        return v, (fill if not by_cols and fill is not None else math.nan)

    def _replace_values(self, cols: list) -> None:
        """This frame becomes its columns with ``cols[j]`` (a result column tuple) where not None."""
        plan_cols = []
        for n, c in zip(self._names, cols):
            if c is None:
                plan_cols.append(copy_of(self, n))
            else:
                values = np.asarray(c[2], dtype=np.int32 if c[1] == "enum" else np.float64)
                fn = lambda start, stop, _v, values=values: values[start:stop]  # noqa: E731
                plan_cols.append(
                    Col(
                        n,
                        c[1],
                        fn,
                        ((self, n),),
                        domain=list(c[3]) if c[3] is not None else None,
                        dtype="int32" if c[1] == "enum" else "float64",
                    )
                )
        self._replace(plan_cols)

    def scale(self, center=True, scale=True, inplace: bool = False):
        """Each column minus its mean (``center``), divided by its sample standard deviation (``scale``);
        lists give the values per column. A new frame unless ``inplace``; NA stays NA."""
        cols = []
        for j, n in enumerate(self._names):
            v = self._numeric_values(n, "scale()")
            c = _per_column(center, j, np.nanmean(v) if (~np.isnan(v)).any() else np.nan, 0.0)
            s = _per_column(scale, j, np.nanstd(v, ddof=1) if (~np.isnan(v)).sum() > 1 else np.nan, 1.0)
            cols.append((n, "real", (v - c) / s, None))
        if inplace:
            self._replace_values(cols)
            return self
        return self._new(cols, "scale()")

    def ascharacter(self):
        """H2O-3 makes string columns; hpcdl frames have no string type (training reads numbers and enums
        only), so each column becomes an enum whose levels are its values as text."""
        cols = []
        for n in self._names:
            if self.type(n) == "enum":
                cols.append(self._like(n, n, self._values(n)))
                continue
            v = self._values(n)
            texts = [None if np.isnan(x) else (str(int(x)) if self.type(n) == "int" else repr(float(x))) for x in v]
            levels = sorted({t for t in texts if t is not None})
            index = {t: i for i, t in enumerate(levels)}
            cols.append((n, "enum", np.array([-1 if t is None else index[t] for t in texts]), levels))
        return self._new(cols, "ascharacter()")

    def group_by(self, by):
        """H2O-3's ``GroupBy``: ``fr.group_by("g").count().mean("x").get_frame()``."""
        return GroupBy(self, by)

    # -- math (streamed) ----------------------------------------------------------------------------
    log = _math("log", np.log)
    log10 = _math("log10", np.log10)
    log2 = _math("log2", np.log2)
    log1p = _math("log1p", np.log1p)
    exp = _math("exp", np.exp)
    expm1 = _math("expm1", np.expm1)
    sqrt = _math("sqrt", np.sqrt)
    floor = _math("floor", np.floor, int_result=True)
    ceil = _math("ceiling", np.ceil, int_result=True)
    trunc = _math("trunc", np.trunc, int_result=True)
    sign = _math("sign", np.sign, int_result=True)
    sin = _math("sin", np.sin)
    cos = _math("cos", np.cos)
    tan = _math("tan", np.tan)
    asin = _math("asin", np.arcsin)
    acos = _math("acos", np.arccos)
    atan = _math("atan", np.arctan)
    sinh = _math("sinh", np.sinh)
    cosh = _math("cosh", np.cosh)
    tanh = _math("tanh", np.tanh)
    asinh = _math("asinh", np.arcsinh)
    acosh = _math("acosh", np.arccosh)
    atanh = _math("atanh", np.arctanh)
    gamma = _math("gamma", lambda v: _special("gamma", v))
    lgamma = _math("lgamma", lambda v: _special("gammaln", v))
    digamma = _math("digamma", lambda v: _special("digamma", v))
    trigamma = _math("trigamma", lambda v: _special("polygamma", 1, v))

    def round(self, digits: int = 0):
        """Values rounded to ``digits`` decimals (halves to even, as H2O-3's)."""
        return _math("round", lambda v: _round_half_even(v, int(digits)), keep_names=True)(self)

    def signif(self, digits: int = 6):
        """Values rounded to ``digits`` significant digits."""
        return _math("signif", lambda v: _signif(v, int(digits)), keep_names=True)(self)


def _special(name: str, *args) -> np.ndarray:
    import scipy.special  # ~0.2 s, and only a few frame functions need it

    return getattr(scipy.special, name)(*args)


def _per_column(option, j: int, computed: float, neutral: float) -> float:
    """scale()'s ``center``/``scale`` for column ``j``: True (computed), False (no change) or a list."""
    if option is True:
        return computed
    if option is False:
        return neutral
    return float(list(option)[j])
