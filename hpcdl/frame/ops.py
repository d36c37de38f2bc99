"""The H2OFrame surface of a frame: selection, assignment, comparisons, munging, display.

H2O-3's Python frames are lazy expressions on a server; here every frame is a file
(``docs/frame-format.md``) and an operation makes its result at once:

* an operation that gives a new frame (``fr["x"]``, ``fr[mask]``, ``fr["x"] < 0.8``,
  ``asfactor()``, ``split_frame()``, ``cbind()``...) streams the rows it needs in
  blocks (:mod:`hpcdl.frame.plan`) into a new frame file in this process's scratch
  directory (``fsutil.scratch_path``), removed when the returned object is
  garbage-collected;
* an assignment (``fr["y"] = ...``, ``fr[mask] = nan``, ``fr.names = [...]``,
  ``insert_missing_values``) writes the changed frame the same way and points the
  object at the new file; the object's previous scratch file goes at once. The file a
  frame was imported into is never changed, so other frames of it stay as they were
  (``vol = fr["VOL"]; vol[vol == 0] = nan`` changes ``vol``, not ``fr``, as in H2O-3).

This class holds the operations only; the frame file class (:class:`~hpcdl.frame.Frame`)
supplies the storage: ``nrow``, ``_names``, ``_types``, ``domains``, ``stats``,
``display_name``, ``type()``, ``read()``, ``column()``, ``reader()``, ``column_dtype()``,
``chunk_rows`` and ``_write_new()``.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import numbers
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from .. import comm as comm_mod
from ..fsutil import delete_with, scratch_path
from ..surface import refusal
from . import display, plan
from .errors import FrameError
from .munge import MungeOps
from .plan import Col, ListRows, MaskRows, Rows, SliceRows, UniformRows, copy_of
from .pydata import Columns
from .pydata import from_python as _columns_from_python
from .rng import missing_cells, random_seed, uniform_rows

_COMPARE = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _int_div(l, r):
    """H2O-3's ``//``: both sides truncated to integers, quotient truncated toward zero; NA for a zero divisor."""
    li, ri = np.trunc(l), np.trunc(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ri == 0, np.nan, np.trunc(li / ri))


_ARITH = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": _int_div,
    "%": np.fmod,  # Java's remainder (the sign of the dividend), as H2O-3
    "**": np.power,
}
_INT_PRESERVING = ("+", "-", "*", "//", "%")


def _and(l, r):
    """H2O-3's ``&``: 0 if either side is 0, else NA if either is NA, else 1."""
    out = np.where(np.isnan(l) | np.isnan(r), np.nan, 1.0)
    return np.where((l == 0) | (r == 0), 0.0, out)


def _or(l, r):
    """H2O-3's ``|``: 1 if either side is 1, else NA if either is NA, else 0."""
    out = np.where(np.isnan(l) | np.isnan(r), np.nan, 0.0)
    return np.where((l == 1) | (r == 1), 1.0, out)


_LOGIC = {"&": _and, "|": _or}


def _scalar_text(value) -> str:
    """A number as an enum level's text: 1 and 1.0 -> "1", 2.5 -> "2.5"."""
    if isinstance(value, numbers.Number) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (numbers.Number, str, np.generic))


class FrameOps(MungeOps):
    """H2OFrame's methods and operators for a frame file (see the module docstring)."""

    __hash__ = object.__hash__  # frames stay usable as dict keys although == makes a mask frame

    # -- names, types, shape -------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Column names; assigning renames in place (``fr.names = [...]``, H2O-3's setter)."""
        return list(self._names)

    @names.setter
    def names(self, value: Sequence[str]) -> None:
        self.set_names(value)

    columns = names
    col_names = names

    @property
    def types(self) -> dict[str, str]:
        """``{name: type}`` with H2O-3's type names: ``int``, ``real``, ``enum``, ``time``."""
        return dict(zip(self._names, self._types))

    @property
    def nrows(self) -> int:
        return self.nrow

    @property
    def ncols(self) -> int:
        return self.ncol

    @property
    def dim(self) -> list[int]:
        return [self.nrow, self.ncol]

    def _where(self) -> str:
        return self.display_name

    def _fail(self, message: str) -> FrameError:
        return FrameError(f"{self._where()}: {message}")

    def _index_of(self, col) -> int:
        """A column name or 0-based index (negative counts from the end) as an index."""
        if isinstance(col, (bool, np.bool_)):
            raise self._fail(f"column selector {col!r} is a bool, not a name or an index")
        if isinstance(col, (numbers.Integral, np.integer)):
            j = int(col) + (self.ncol if col < 0 else 0)
            if not 0 <= j < self.ncol:
                raise self._fail(f"column index {col} out of range for {self.ncol} columns")
            return j
        if isinstance(col, str):
            return self._col_index(col)
        raise self._fail(f"column selector {col!r}: give a name or an index")

    def _col_indices(self, cols) -> list[int]:
        if isinstance(cols, slice):
            return list(range(self.ncol))[cols]
        if isinstance(cols, (list, tuple, np.ndarray)):
            return [self._index_of(c) for c in cols]
        return [self._index_of(cols)]

    # -- making frames ---------------------------------------------------------------
    @classmethod
    def from_python(
        cls,
        python_obj,
        destination_frame: str | None = None,
        header: int = 0,
        separator: str = ",",
        column_names: Sequence[str] | None = None,
        column_types=None,
        na_strings=None,
        skipped_columns: Sequence[int] | None = None,
        force_col_types: bool = False,
    ):
        """A frame of Python data (``H2OFrame(python_obj)``): a pandas DataFrame, a numpy array, a dict
        of columns, a list of rows (``header=1``: the first holds the names) or a flat list (one column).
        Types follow ``docs/frame-format.md`` ("Frames from Python data"); ``column_types`` forces them."""
        if isinstance(python_obj, FrameOps):
            copy = python_obj._emit([copy_of(python_obj, n) for n in python_obj.names], Rows(python_obj.nrow), "copy")
            if column_names is not None:
                copy.set_names(column_names)
            return copy
        data = _columns_from_python(
            python_obj,
            header=header,
            column_names=column_names,
            column_types=column_types,
            na_strings=na_strings,
            skipped_columns=skipped_columns,
        )
        return cls._from_columns(data, destination_frame or f"H2OFrame({type(python_obj).__name__})")

    @classmethod
    def _from_columns(cls, data: Columns, where: str, sort_levels: bool = True):
        """A new frame (scratch file, removed with the object) of ready columns; ``where`` names it in
        messages. ``sort_levels=False`` keeps each domain's order as given."""
        step = cls.chunk_rows
        columns = ((v[s : s + step] for s in range(0, data.nrow, step)) for v in data.values)
        path = scratch_path("frame")
        return _owned(
            cls._write_new(
                path, data.names, data.types, columns, data.domains, display_name=where, sort_levels=sort_levels
            )
        )

    @classmethod
    def from_pandas(cls, df, column_types=None, **kwargs):
        """A frame of a pandas DataFrame (see :meth:`from_python`)."""
        return cls.from_python(df, column_types=column_types, **kwargs)

    def _emit(self, cols: Sequence[Col], rows: Rows, what: str):
        """A new frame (scratch file, removed with the object) of ``cols`` over ``rows``."""
        path = scratch_path("frame")
        with plan.streams(cols, rows, self.chunk_rows) as columns:
            frame = type(self)._write_new(
                path,
                [c.name for c in cols],
                [c.type for c in cols],
                columns,
                {c.name: c.domain for c in cols if c.type == "enum"},
                dtypes=[c.dtype if c.type in ("int", "real") else "float64" for c in cols],
                sort_levels=False,
                display_name=f"{self._where()} ({what})",
                copies={i: c.copy_of for i, c in enumerate(cols) if c.copy_of and rows.is_all},
            )
        return _owned(frame)

    def _replace(self, cols: Sequence[Col]) -> None:
        """This frame becomes ``cols`` over all its rows (a new scratch file; see the module docstring)."""
        new = self._emit(cols, Rows(self.nrow), "changed")
        display_name = self.display_name
        previous = self.__dict__.get("_scratch")
        new._scratch.detach()  # the file now belongs to this object
        self.__dict__.update(new.__dict__)
        self._display = display_name
        self.source = None
        self._scratch = delete_with(self, self.path)
        if previous is not None:
            previous()  # this object's previous scratch file: nobody reads it any more

    def _copies(self) -> list[Col]:
        return [copy_of(self, n) for n in self._names]

    # -- selection -------------------------------------------------------------------
    def _rows_of(self, rows) -> Rows:
        if isinstance(rows, FrameOps):
            return MaskRows(self.nrow, rows, self._where())
        if isinstance(rows, slice):
            return Rows(self.nrow) if rows == slice(None) else SliceRows(self.nrow, rows)
        if isinstance(rows, (numbers.Integral, np.integer)) and not isinstance(rows, bool):
            return ListRows(self.nrow, [int(rows)])
        if isinstance(rows, (list, tuple, np.ndarray)):
            return ListRows(self.nrow, [int(r) for r in rows])
        raise self._fail(f"row selector {rows!r}: give a row number, a list of them, a slice or a 0/1 mask frame")

    def __getitem__(self, item):
        """H2O-3's selection: ``fr["x"]``, ``fr[0]``, ``fr[["a", "b"]]``, ``fr[2:]`` (columns), ``fr[mask]``
        (rows where a one-column 0/1 frame is 1), ``fr[rows, cols]``; ``fr[i, "x"]`` is one value."""
        if isinstance(item, tuple):
            if len(item) != 2:
                raise self._fail(f"selector {item!r}: give [rows, columns]")
            rows, cols = item
            idx = self._col_indices(cols)
            if isinstance(rows, (numbers.Integral, np.integer)) and isinstance(cols, (str, numbers.Integral)):
                return self._cell(int(rows), idx[0])
            sel = self._rows_of(rows)
        elif isinstance(item, FrameOps):
            sel, idx = self._rows_of(item), list(range(self.ncol))
        else:
            sel, idx = Rows(self.nrow), self._col_indices(item)
        if sel.is_all and idx == list(range(self.ncol)):
            return self
        names = [self._names[j] for j in idx]
        what = f"columns {names}" if sel.is_all else "rows selected" + ("" if len(idx) == self.ncol else f", {names}")
        return self._emit([copy_of(self, n) for n in names], sel, what)

    def _cell(self, row: int, j: int):
        """One value: a float for numbers (NaN for NA), an int for int columns, a level (None for NA)."""
        i = row + (self.nrow if row < 0 else 0)
        if not 0 <= i < self.nrow:
            raise self._fail(f"row {row} out of range for {self.nrow} rows")
        name = self._names[j]
        v = self.column(name, i, i + 1)[0]
        t = self.type(name)
        if t == "enum":
            return None if v < 0 else self.domains[name][int(v)]
        v = float(v)
        return int(v) if t == "int" and v.is_integer() else v

    def __iter__(self) -> Iterator:
        """The columns, one frame each (H2O-3 iterates an H2OFrame by column)."""
        return (self[j] for j in range(self.ncol))

    def __bool__(self) -> bool:
        """Only a one-value frame has a truth value (as in H2O-3); compare and reduce instead."""
        if self.shape != (1, 1):
            raise self._fail(
                f"a {self.nrow} x {self.ncol} frame has no single truth value; "
                "use fr.nrow, (mask).sum() or `is not None`"
            )
        return bool(self[0, 0])

    # -- assignment ------------------------------------------------------------------
    def __setitem__(self, item, value) -> None:
        """H2O-3's assignment, in place: ``fr["y"] = fr["y"].asfactor()``, ``fr["new"] = col``,
        ``fr[mask] = float("nan")``, ``fr[mask, "x"] = 0``, ``fr[rows, cols] = value``."""
        if isinstance(item, tuple):
            if len(item) != 2:
                raise self._fail(f"selector {item!r}: give [rows, columns]")
            rows, cols = self._rows_of(item[0]), item[1]
        elif isinstance(item, FrameOps):
            rows, cols = self._rows_of(item), slice(None)
        else:
            rows, cols = Rows(self.nrow), item
        new_name = cols if isinstance(cols, str) and cols not in self._names else None
        targets = [] if new_name is not None else self._col_indices(cols)
        value = float("nan") if value is None else value
        if isinstance(value, FrameOps):
            if value.nrow != self.nrow:
                raise self._fail(f"cannot assign a frame of {value.nrow} rows to a frame of {self.nrow} rows")
            width = 1 if new_name is not None else len(targets)
            if value.ncol not in (1, width):
                raise self._fail(f"cannot assign {value.ncol} columns to {width}")
        elif not _is_scalar(value):
            raise self._fail(f"cannot assign a {type(value).__name__}; give a frame, a number, a string or None")
        cols_out = self._copies()
        for k, j in enumerate(targets):
            src = _value_col(value, k)
            cols_out[j] = _assigned(self, self._names[j], rows, src)
        if new_name is not None:
            cols_out.append(_assigned(self, None, rows, _value_col(value, 0), new_name))
        self._replace(cols_out)

    # -- operators ---------------------------------------------------------------------
    def _binop(self, other, op: str, reverse: bool = False):
        if not (isinstance(other, FrameOps) or _is_scalar(other)):
            return NotImplemented
        if isinstance(other, FrameOps) and not reverse and other.nrow != self.nrow:
            raise self._fail(f"{op}: frames of {self.nrow} and {other.nrow} rows")
        if isinstance(other, FrameOps) and self.ncol != other.ncol and 1 not in (self.ncol, other.ncol):
            raise self._fail(f"{op}: frames of {self.ncol} and {other.ncol} columns")
        width = max(self.ncol, other.ncol) if isinstance(other, FrameOps) else self.ncol
        cols = []
        for k in range(width):
            mine = (self, self._names[k if self.ncol > 1 else 0])
            theirs = (other, other._names[k if other.ncol > 1 else 0]) if isinstance(other, FrameOps) else other
            left, right = (theirs, mine) if reverse else (mine, theirs)
            cols.append(_binary_col(op, left, right, name=mine[1], where=self._where()))
        return self._emit(cols, Rows(self.nrow), op)

    def __lt__(self, other):
        return self._binop(other, "<")

    def __le__(self, other):
        return self._binop(other, "<=")

    def __gt__(self, other):
        return self._binop(other, ">")

    def __ge__(self, other):
        return self._binop(other, ">=")

    def __eq__(self, other):
        return self._binop(other, "==")

    def __ne__(self, other):
        return self._binop(other, "!=")

    def __and__(self, other):
        return self._binop(other, "&")

    def __or__(self, other):
        return self._binop(other, "|")

    def __rand__(self, other):
        return self._binop(other, "&", reverse=True)

    def __ror__(self, other):
        return self._binop(other, "|", reverse=True)

    def __add__(self, other):
        return self._binop(other, "+")

    def __radd__(self, other):
        return self._binop(other, "+", reverse=True)

    def __sub__(self, other):
        return self._binop(other, "-")

    def __rsub__(self, other):
        return self._binop(other, "-", reverse=True)

    def __mul__(self, other):
        return self._binop(other, "*")

    def __rmul__(self, other):
        return self._binop(other, "*", reverse=True)

    def __truediv__(self, other):
        return self._binop(other, "/")

    def __rtruediv__(self, other):
        return self._binop(other, "/", reverse=True)

    def __floordiv__(self, other):
        return self._binop(other, "//")

    def __rfloordiv__(self, other):
        return self._binop(other, "//", reverse=True)

    def __mod__(self, other):
        return self._binop(other, "%")

    def __rmod__(self, other):
        return self._binop(other, "%", reverse=True)

    def __pow__(self, other):
        return self._binop(other, "**")

    def __rpow__(self, other):
        return self._binop(other, "**", reverse=True)

    def _unary(self, what: str, fn: Callable[[np.ndarray], np.ndarray], out_type: Callable[[str], str]):
        """``fn`` of every (numeric) column; ``out_type`` maps a column's type to the result's."""
        cols = []
        for n in self._names:
            _numeric_only(self, n, what)
            col_fn = lambda start, stop, v: fn(v.astype(np.float64))  # noqa: E731
            cols.append(Col(n, out_type(self.type(n)), col_fn, ((self, n),)))
        return self._emit(cols, Rows(self.nrow), what)

    def __invert__(self):
        """H2O-3's logical negation: 1 where a value is 0, 0 where it is not, NA stays NA."""
        return self._unary("not", lambda v: np.where(np.isnan(v), np.nan, (v == 0).astype(np.float64)), lambda t: "int")

    def __abs__(self):
        return self._unary("abs", np.abs, lambda t: "int" if t == "int" else "real")

    # -- column conversions -------------------------------------------------------------
    def isna(self):
        """1 where a value is NA, else 0; columns named ``isNA(<name>)`` as in H2O-3."""
        cols = [Col(f"isNA({n})", "int", _isna_fn(self.type(n)), ((self, n),)) for n in self._names]
        return self._emit(cols, Rows(self.nrow), "isna()")

    def asfactor(self):
        """Columns as enums: an ``int`` column's levels are its distinct values in numeric order
        (``"-3", "1", "2", "10"``), as H2O-3 gives them; enums stay. ``real`` and ``time`` are refused
        (H2O-3 refuses them too)."""
        cols = []
        for n in self._names:
            t = self.type(n)
            if t == "enum":
                cols.append(copy_of(self, n))
            elif t == "int":
                cols.append(self._int_levels(n))
            else:
                raise self._fail(f"asfactor(): column {n!r} is {t}; only int and enum columns become enums")
        return self._emit(cols, Rows(self.nrow), "asfactor()")

    def _int_levels(self, name: str) -> Col:
        values = set()
        for block in self._column_blocks(name):
            v = block[~np.isnan(block)]
            if not np.all(np.isfinite(v)):
                raise self._fail(f"asfactor(): column {name!r} holds infinite values")
            values.update(np.unique(v).tolist())
        levels = np.array(sorted(values), dtype=np.float64)

        def codes(start, stop, v):
            out = np.searchsorted(levels, v).astype(np.int32)
            out[np.isnan(v)] = -1
            return out

        return Col(name, "enum", codes, ((self, name),), domain=[str(int(x)) for x in levels], dtype="int32")

    def _column_blocks(self, name: str) -> Iterator[np.ndarray]:
        step = plan.block_rows(1, self.chunk_rows)
        with self.reader() as read:
            for start in range(0, self.nrow, step):
                yield read([name], start, min(self.nrow, start + step))[name].astype(np.float64)

    def asnumeric(self):
        """Columns as numbers: an enum whose levels are all integers gives those integers, any other enum
        its level codes 0..k-1 (H2O-3's rule); times give ms since the epoch."""
        cols = []
        for n in self._names:
            t = self.type(n)
            if t != "enum":
                as_float = lambda start, stop, v: v.astype(np.float64)  # noqa: E731
                cols.append(Col(n, "real" if t == "real" else "int", as_float, ((self, n),)))
                continue
            lut = _level_values(self.domains[n], lambda msg, n=n: self._fail(f"asnumeric(): column {n!r}: {msg}"))
            cols.append(Col(n, "int", lambda start, stop, v, lut=lut: lut[v], ((self, n),)))
        return self._emit(cols, Rows(self.nrow), "asnumeric()")

    def levels(self) -> list[list[str]]:
        """Each column's levels (an empty list for a column that is not an enum)."""
        return [list(self.domains[n]) if self.type(n) == "enum" else [] for n in self._names]

    def nlevels(self) -> list[int]:
        return [len(lv) for lv in self.levels()]

    def isfactor(self):
        out = [self.type(n) == "enum" for n in self._names]
        return out[0] if len(out) == 1 else out

    # -- random draws, splits, missing values --------------------------------------------
    def _seed(self, seed, what: str) -> int:
        if seed is not None and seed != -1:
            return int(seed)
        size = comm_mod.world().size
        if size > 1:
            raise self._fail(
                f"{what} without a seed under MPI would draw other rows on each of the {size} ranks; give seed="
            )
        return random_seed()

    def runif(self, seed: int | None = None):
        """One column ``rnd`` of uniform [0, 1) draws, the same per row as H2O-3's ``runif(seed)``."""
        seed = self._seed(seed, "runif()")
        col = Col("rnd", "real", lambda start, stop: uniform_rows(seed, start, stop))
        return self._emit([col], Rows(self.nrow), f"runif(seed={seed})")

    def split_frame(self, ratios: Sequence[float] | None = None, destination_frames=None, seed: int | None = None):
        """H2O-3's split: part ``k`` holds the rows whose ``runif(seed)`` draw is in (b[k-1], b[k]],
        b the running sums of ``ratios`` (default [0.75]); so the parts are the rows H2O-3 gives for
        the same seed, in frame order, and their sizes are only about the ratios."""
        ratios = [0.75] if ratios is None else list(ratios)
        if not ratios:
            raise ValueError("split_frame: ratios may not be empty")
        if destination_frames is not None and len(destination_frames) != len(ratios) + 1:
            raise ValueError("split_frame: give one more destination_frames than ratios")
        bounds, total = [], 0.0
        for r in ratios:
            if r < 0:
                raise ValueError(f"split_frame: ratio {r} is negative")
            total += r
            if total >= 1.0:
                raise ValueError(
                    f"split_frame: ratios {ratios} add up to 1 or more; give the fractions of all parts but the last"
                )
            bounds.append(total)
        seed = self._seed(seed, "split_frame()")
        edges = [None, *bounds, None]
        parts = []
        for k in range(len(bounds) + 1):
            rows = UniformRows(self.nrow, seed, edges[k], edges[k + 1])
            name = destination_frames[k] if destination_frames else f"split_frame part {k + 1} of {len(bounds) + 1}"
            parts.append(self._emit(self._copies(), rows, name))
        return parts

    def insert_missing_values(self, fraction: float = 0.1, seed: int | None = None):
        """Make each value NA with probability ``fraction``, in place, the cells H2O-3 picks for the seed."""
        if not 0 <= fraction <= 1:
            raise ValueError(f"insert_missing_values: fraction {fraction} is not between 0 and 1")
        seed = self._seed(seed, "insert_missing_values()")
        cols = []
        for j, n in enumerate(self._names):
            base = copy_of(self, n)
            na = -1 if base.type == "enum" else np.nan

            def fn(start, stop, v, j=j, na=na):
                out = v.copy()
                out[missing_cells(seed, j, start, stop, fraction)] = na
                return out

            cols.append(Col(n, base.type, fn, base.inputs, base.domain, base.dtype))
        self._replace(cols)
        return self

    # -- combining and dropping -----------------------------------------------------------
    def cbind(self, data):
        """The columns of this frame and of ``data`` (a frame or a list of frames, same rows); a name that
        is taken gets a number (``x`` -> ``x0``), as in H2O-3."""
        frames = data if isinstance(data, (list, tuple)) else [data]
        cols = self._copies()
        taken = set(self._names)
        for fr in frames:
            if not isinstance(fr, FrameOps):
                raise self._fail(f"cbind: {type(fr).__name__} is not a frame")
            if fr.nrow != self.nrow:
                raise self._fail(f"cbind: a frame of {fr.nrow} rows beside {self.nrow} rows")
            for n in fr.names:
                new = n
                k = 0
                while new in taken:
                    new, k = f"{n}{k}", k + 1
                taken.add(new)
                cols.append(copy_of(fr, n, new))
        return self._emit(cols, Rows(self.nrow), "cbind")

    def rbind(self, data):
        """The rows of this frame, then those of ``data`` (a frame or list of frames with the same names);
        int and real columns combine to real, enums to the union of their levels."""
        frames = [self, *(data if isinstance(data, (list, tuple)) else [data])]
        for fr in frames[1:]:
            if not isinstance(fr, FrameOps) or fr.names != self.names:
                got = fr.names if isinstance(fr, FrameOps) else type(fr).__name__
                raise self._fail(f"rbind: columns {got} differ from {self.names}")
        types, domains = [], {}
        for n in self._names:
            kinds = {fr.type(n) for fr in frames}
            if len(kinds) == 1:
                t = kinds.pop()
            elif kinds <= {"int", "real"}:
                t = "real"
            else:
                raise self._fail(f"rbind: column {n!r} is {sorted(kinds)} in different frames")
            types.append(t)
            if t == "enum":
                domains[n] = _union([fr.domains[n] for fr in frames])
        path = scratch_path("frame")
        with _rbind_columns(frames, types, domains) as columns:
            frame = type(self)._write_new(
                path,
                self._names,
                types,
                columns,
                domains,
                sort_levels=False,
                display_name=f"{self._where()} (rbind)",
            )
        return _owned(frame)

    def drop(self, index, axis: int = 1):
        """A new frame without the columns ``index`` (names or indices; ``axis=0``: without those rows)."""
        if axis == 0:
            rows = ListRows(self.nrow, [int(i) for i in (index if isinstance(index, (list, tuple)) else [index])])
            keep = np.setdiff1d(np.arange(self.nrow), rows.idx)
            return self._emit(self._copies(), ListRows(self.nrow, keep.tolist()), "rows dropped")
        gone = set(self._col_indices(index if isinstance(index, (list, tuple)) else [index]))
        names = [n for j, n in enumerate(self._names) if j not in gone]
        if not names:
            raise self._fail("drop: that would drop every column")
        return self._emit([copy_of(self, n) for n in names], Rows(self.nrow), f"dropped {sorted(gone)}")

    def pop(self, i):
        """Remove column ``i`` (name or index) in place and return it as a frame."""
        j = self._index_of(i)
        col = self[j]
        self._replace([c for k, c in enumerate(self._copies()) if k != j])
        return col

    def set_names(self, names: Sequence[str]):
        """Rename all columns, in place (returns this frame, as H2O-3)."""
        names = [str(n) for n in names]
        if len(names) != self.ncol:
            raise self._fail(f"set_names: {len(names)} names for {self.ncol} columns")
        self._replace([copy_of(self, old, new) for old, new in zip(self._names, names)])
        return self

    def set_name(self, col=None, name: str | None = None):
        """Rename one column (name or index; default the first), in place."""
        j = 0 if col is None else self._index_of(col)
        names = self.names
        names[j] = str(name)
        return self.set_names(names)

    def rename(self, columns: Mapping | None = None):
        """Rename columns given as ``{old: new}`` (names or indices), in place."""
        names = self.names
        for old, new in (columns or {}).items():
            names[self._index_of(old)] = str(new)
        return self.set_names(names)

    # -- reductions (from the stored column statistics where they suffice) -------------------
    def _numeric_names(self, what: str) -> list[str]:
        names = [n for n in self._names if self.type(n) != "enum"]
        if not names:
            raise self._fail(f"{what}: no numeric column")
        return names

    def sd(self, na_rm: bool = False) -> list[float]:
        """Per column sample standard deviation (NaN for enums; NaN where a column has NA unless ``na_rm``)."""
        return [self._stat(n, "sd", na_rm) for n in self._names]

    def _stat(self, name: str, key: str, skip_na: bool) -> float:
        st = self.stats[name]
        if self.type(name) == "enum" or (not skip_na and st.get("na_count", 0)):
            return float("nan")
        return float(st[key])

    def min(self) -> float:
        """The smallest value of the numeric columns (NaN if any of them has NA, as H2O-3)."""
        names = self._numeric_names("min")
        if any(self.stats[n].get("na_count", 0) for n in names):
            return float("nan")
        return float(min(self.stats[n]["min"] for n in names))

    def max(self) -> float:
        """The largest value of the numeric columns (NaN if any of them has NA, as H2O-3)."""
        names = self._numeric_names("max")
        if any(self.stats[n].get("na_count", 0) for n in names):
            return float("nan")
        return float(max(self.stats[n]["max"] for n in names))

    def sum(self, skipna: bool = True, axis: int = 0, **kwargs) -> float:
        """The sum of all values of the numeric columns (NA skipped unless ``skipna=False``)."""
        if axis != 0 or kwargs.get("return_frame"):
            raise self._fail("sum: only the sum over the frame")
        total = 0.0
        for n in self._numeric_names("sum"):
            if not skipna and self.stats[n].get("na_count", 0):
                return float("nan")
            for block in self._column_blocks(n):
                total += float(np.nansum(block))
        return total

    def nacnt(self) -> list[int]:
        """NA count per column."""
        return [int(self.stats[n].get("na_count", 0)) for n in self._names]

    # -- looking at it -----------------------------------------------------------------------
    def head(self, rows: int = 10, cols: int = 200):
        """The first ``rows`` rows (and ``cols`` columns) as a pandas DataFrame; int columns stay
        integers (``Int64`` with NA), enums are Categoricals, times datetimes."""
        n = max(0, min(int(rows), self.nrow))
        return display.to_pandas(self, 0, n, self._names[: max(0, int(cols))])

    def tail(self, rows: int = 10, cols: int = 200):
        """The last ``rows`` rows as a pandas DataFrame indexed by their row numbers (as pandas' tail)."""
        n = max(0, min(int(rows), self.nrow))
        return display.to_pandas(self, self.nrow - n, self.nrow, self._names[: max(0, int(cols))])

    def as_data_frame(self, use_pandas: bool = True, header: bool = True):
        """The whole frame as a pandas DataFrame (in memory), or with ``use_pandas=False`` as a list of
        rows of strings (H2O-3's text: NA empty), the names first unless ``header=False``."""
        if use_pandas:
            return display.to_pandas(self, 0, self.nrow, self._names)
        return display.to_rows(self, header)

    def describe(self, chunk_summary: bool = False) -> None:
        """Print the dimensions, per column type, min, mean, max, sd, zeros, NA count, and the first rows
        (H2O-3's layout). Returns None, as H2O-3's does."""
        print(display.describe_text(self))

    def __str__(self) -> str:
        return display.frame_text(self)

    def __getattr__(self, name: str):
        # only for names that are not attributes: an H2O-3 frame call hpcdl lacks gets its reason
        if name.startswith("_"):
            raise AttributeError(name)
        raise refusal("frame", "'Frame' object", name)


# -- helpers building columns -------------------------------------------------------------
def _owned(frame):
    """``frame``'s scratch file is removed when the object goes (or at exit)."""
    frame._scratch = delete_with(frame, frame.path)
    return frame


def _isna_fn(t: str):
    if t == "enum":
        return lambda start, stop, v: (v < 0).astype(np.float64)
    return lambda start, stop, v: np.isnan(v).astype(np.float64)


def _numeric_only(frame, name: str, what: str) -> None:
    if frame.type(name) == "enum":
        raise frame._fail(f"{what}: column {name!r} is an enum; compare its levels with == or !=, or asnumeric() it")


def _level_values(domain: Sequence[str], fail) -> np.ndarray:
    """Lookup table code -> number for ``asnumeric()`` (index -1, NA, maps to NaN)."""

    def as_int(s: str) -> int | None:
        try:
            return int(s.strip())
        except ValueError:
            return None

    if domain and as_int(domain[0]) is not None:
        values = [as_int(s) for s in domain]
        bad = [s for s, v in zip(domain, values) if v is None]
        if bad:
            raise fail(f"levels {bad} are not integers while {domain[0]!r} is (H2O-3 refuses this too)")
        table = np.array(values, dtype=np.float64)
    else:
        table = np.arange(len(domain), dtype=np.float64)
    return np.append(table, np.nan)


def _value_col(value, k: int):
    """The ``k``-th source of an assignment: (frame, name) of a frame's column, or the scalar."""
    if isinstance(value, FrameOps):
        return (value, value.names[k if value.ncol > 1 else 0])
    return value


def _assigned(frame, name: str | None, rows: Rows, src, new_name: str | None = None) -> Col:
    """Column ``name`` of ``frame`` (None: a new column ``new_name``, NA elsewhere) with ``src`` (a
    (frame, column) pair or a scalar) at the rows ``rows`` keeps."""
    base_type = frame.type(name) if name is not None else None
    value_type = src[0].type(src[1]) if isinstance(src, tuple) else _scalar_type(src)
    if rows.is_all and not (value_type is None and name is not None):
        return _whole(src, new_name or name)
    if base_type == "enum" and value_type in ("int", "real") and not isinstance(src, tuple):
        src, value_type = _scalar_text(src), "enum"  # fr[mask, "CAPSULE"] = 1 sets the level "1"
    where = f"{frame.display_name}: column {new_name or name!r}"
    t = _assigned_type(base_type, value_type, where)
    domain = None
    if t == "enum":
        base_levels = list(frame.domains[name]) if name is not None else []
        new_levels = [] if value_type is None else ([src] if isinstance(src, str) else list(src[0].domains[src[1]]))
        domain = _union([base_levels, new_levels], keep_order=True)  # base codes stay valid
    base_in = ((frame, name),) if name is not None else ()
    value_in = (src,) if isinstance(src, tuple) else ()
    value_of = _value_fn(src, value_type, t, domain)
    na = -1 if t == "enum" else np.nan

    def fn(start, stop, *arrays):
        k = stop - start
        if base_in:
            out = arrays[0].astype(np.int32 if t == "enum" else np.float64)  # a copy
        else:
            out = np.full(k, na, dtype=np.int32 if t == "enum" else np.float64)
        value = value_of(k, arrays[len(base_in)] if value_in else None)
        masks = arrays[len(base_in) + len(value_in) :]
        keep = rows.keep(start, stop, {(id(f), c): m for (f, c), m in zip(rows.inputs, masks)})
        out[keep] = value[keep]
        return out

    return Col(new_name or name, t, fn, base_in + value_in + rows.inputs, domain, _dtype(t))


def _assigned_type(base: str | None, value: str | None, where: str) -> str:
    if value is None:
        return base or "real"  # NA fits every type
    if base is None or base == value:
        return value
    if "enum" in (base, value):
        raise FrameError(f"{where}: cannot assign {value} values to a {base} column")
    return "time" if base == "time" else "real"


def _value_fn(src, value_type: str | None, t: str, domain: list[str] | None):
    """fn(k, block or None) -> the assigned values in the column's encoding."""
    if value_type is None:
        na = -1 if t == "enum" else np.nan
        return lambda k, v: np.full(k, na)
    if isinstance(src, str):
        code = domain.index(src)
        return lambda k, v: np.full(k, code, dtype=np.int32)
    if not isinstance(src, tuple):
        return lambda k, v: np.full(k, float(src))
    if t == "enum":
        lut = np.array([domain.index(s) for s in src[0].domains[src[1]]] + [-1], dtype=np.int32)
        return lambda k, v: lut[v]
    return lambda k, v: v.astype(np.float64)


def _dtype(t: str) -> str:
    return "int32" if t == "enum" else "float64"


def _scalar_type(value) -> str | None:
    if isinstance(value, str):
        return "enum"
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return None  # NA
    return "int" if float(value).is_integer() else "real"


def _whole(src, name: str) -> Col:
    """A whole column set to a frame's column or to a constant."""
    if isinstance(src, tuple):
        return copy_of(src[0], src[1], name)
    if isinstance(src, str):
        return Col(name, "enum", lambda start, stop: np.zeros(stop - start, dtype=np.int32), (), [src], "int32")
    t = _scalar_type(src) or "real"
    value = float(src)
    return Col(name, t, lambda start, stop: np.full(stop - start, value), ())


def _union(domains: Sequence[Sequence[str]], keep_order: bool = False) -> list[str]:
    """Levels of several columns: sorted if each list was, else the first list's order then new ones."""
    if not keep_order and all(list(d) == sorted(d) for d in domains):
        return sorted(set().union(*map(set, domains)))
    out: list[str] = []
    seen = set()
    for d in domains:
        for s in d:
            if s not in seen:
                seen.add(s)
                out.append(s)
    return out


@contextlib.contextmanager
def _rbind_columns(frames, types, domains) -> Iterator[Iterator[Iterator[np.ndarray]]]:
    """Each column of the stacked frame: its blocks from the first frame, then from the next..."""
    names = frames[0].names
    with contextlib.ExitStack() as stack:
        per_frame = []
        for fr in frames:
            cols = []
            for n, t in zip(names, types):
                c = copy_of(fr, n)
                if t == "enum":  # codes into the union of the levels
                    lut = np.array([domains[n].index(s) for s in fr.domains[n]] + [-1], dtype=np.int32)
                    c = Col(n, t, lambda start, stop, v, lut=lut: lut[v], c.inputs, domains[n], "int32")
                cols.append(c)
            per_frame.append(list(stack.enter_context(plan.streams(cols, Rows(fr.nrow), fr.chunk_rows))))
        yield (itertools.chain.from_iterable(streams[j] for streams in per_frame) for j in range(len(names)))


def _binary_col(op: str, left, right, *, name: str, where: str) -> Col:
    """Column ``name`` of ``left <op> right``; each side is (frame, column) or a scalar."""
    sides = [s for s in (left, right) if isinstance(s, tuple)]
    kinds = [s[0].type(s[1]) if isinstance(s, tuple) else None for s in (left, right)]
    if "enum" in kinds:
        return _enum_compare(op, left, right, kinds, name, where)
    for s in (left, right):
        if isinstance(s, str):
            raise FrameError(f"{where}: {op} with the text {s!r} needs an enum column")
    if op in _COMPARE or op in _LOGIC:
        out_type = "int"
        fn = _LOGIC.get(op) or (lambda l, r, f=_COMPARE[op]: f(l, r).astype(np.float64))
    else:
        fn = _ARITH[op]
        ints = all(k in ("int", None) for k in kinds) and all(
            float(s).is_integer() for s in (left, right) if not isinstance(s, tuple) and s is not None
        )
        out_type = "int" if ints and op in _INT_PRESERVING else "real"
    lval = _side(left)
    rval = _side(right)

    def compute(start, stop, *arrays):
        it = iter(arrays)
        l = lval(stop - start, it)
        r = rval(stop - start, it)
        with np.errstate(all="ignore"):
            return np.asarray(fn(l, r), dtype=np.float64)

    return Col(name, out_type, compute, tuple(sides))


def _side(side):
    if isinstance(side, tuple):
        return lambda k, it: next(it).astype(np.float64)
    value = float("nan") if side is None else float(side)
    return lambda k, it: np.full(k, value)


def _enum_compare(op: str, left, right, kinds, name: str, where: str) -> Col:
    """``==``/``!=`` of enum columns with a level (a string, or a number's text) or another enum column,
    compared by level text; NA equals nothing (``!=`` is 1), as in H2O-3."""
    if op not in ("==", "!="):
        col = left[1] if kinds[0] == "enum" else right[1]
        raise FrameError(f"{where}: {op} on the enum column {col!r}; enums compare only with == and !=")
    sides = [s for s in (left, right) if isinstance(s, tuple)]
    if len(sides) == 2 and kinds.count("enum") != 2:
        raise FrameError(f"{where}: {op} between an enum and a {[k for k in kinds if k != 'enum'][0]} column")

    def texts(frame, col):
        dom = np.array(list(frame.domains[col]) + [None], dtype=object)
        return lambda v: dom[v]

    if len(sides) == 2:
        lt, rt = texts(*left), texts(*right)

        def eq(k, lv, rv):
            a, b = lt(lv), rt(rv)
            return (a == b) & (lv >= 0) & (rv >= 0)
    else:
        frame, col = sides[0]
        scalar = right if sides[0] is left else left
        target = None if scalar is None else (scalar if isinstance(scalar, str) else _scalar_text(scalar))
        dom = list(frame.domains[col])
        code = dom.index(target) if target in dom else None

        def eq(k, v):
            return np.zeros(k, dtype=bool) if code is None else v == code

    def compute(start, stop, *arrays):
        same = eq(stop - start, *arrays)
        return (same if op == "==" else ~same).astype(np.float64)

    return Col(name, "int", compute, tuple(sides))
