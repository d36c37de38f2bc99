"""Python data as frame columns, with H2O-3's type rules: what ``H2OFrame(python_obj)`` reads.

Typed data keeps its dtype's meaning: a pandas/numpy column of integers is ``int``,
of floats ``real``, of datetimes ``time`` (ms since the epoch, UTC), and pandas
categoricals, booleans, strings and other objects are ``enum``. Python lists and
dicts carry no dtype: their values are read as text by the CSV rules
(:mod:`hpcdl.frame.textrules`), as H2O-3 reads them (it writes them to a CSV file and
parses it). ``None``, NaN, NaT and ``pd.NA`` are NA everywhere. Enum levels are the
distinct values present, as strings (the frame writer sorts them).
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from .errors import warn_import
from .textrules import (
    H2O_TYPE_NAMES,
    ColumnGuess,
    clean,
    encode,
    na_set,
    normalise_col_types,
    present,
    to_float,
    to_time,
)


@dataclass
class Columns:
    """Columns ready for the frame writer: float64 values (NaN = NA) or int32 codes into ``domains``."""

    names: list[str]
    types: list[str]
    values: list[np.ndarray]
    domains: dict[str, list[str]] = field(default_factory=dict)

    @property
    def nrow(self) -> int:
        return len(self.values[0]) if self.values else 0


def _pandas():
    try:
        import pandas as pd  # a slow import (0.3-0.7 s here): only when the data is pandas
    except ImportError:  # pragma: no cover - pandas is a dependency
        return None
    return pd


def from_python(
    obj,
    *,
    header: int = 0,
    column_names: Sequence[str] | None = None,
    column_types=None,
    na_strings=None,
    skipped_columns: Sequence[int] | None = None,
) -> Columns:
    """``obj`` (pandas DataFrame or Series, numpy array, dict of columns, list of rows or a flat list
    as one column) as typed columns. ``header=1``: the first row of a list of rows holds the names.
    ``column_types``: list (one per column) or dict name -> type, H2O-3's names. ``na_strings``:
    extra NA spellings for text (list, or dict column -> list). ``skipped_columns``: 0-based indices."""
    names, raw = _split(obj, header)
    if not raw:
        raise ValueError("H2OFrame: no columns in the data")
    if column_names is not None:
        column_names = [str(n) for n in column_names]
        if len(column_names) != len(raw):
            raise ValueError(f"H2OFrame: column_names has {len(column_names)} names for {len(raw)} columns")
        names = column_names
    forced = _forced_types(names, column_types)
    keep = _kept(len(raw), skipped_columns)
    names, raw, forced = [names[j] for j in keep], [raw[j] for j in keep], [forced[j] for j in keep]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"H2OFrame: duplicate column names {duplicates}")
    lengths = {len(col) for col in raw}
    if len(lengths) > 1:
        raise ValueError(f"H2OFrame: columns have different lengths {sorted(lengths)}")
    out = Columns(names=list(names), types=[], values=[])
    for name, col, want in zip(names, raw, forced):
        t, values, domain = _convert(name, col, want, na_set(na_strings, name))
        out.types.append(t)
        out.values.append(values)
        if domain is not None:
            out.domains[name] = domain
    return out


# -- splitting the object into named raw columns --------------------------------------
def _split(obj, header: int) -> tuple[list[str], list]:
    """Names and raw columns: numpy arrays / pandas Series (typed) or Python lists (text)."""
    pd = _pandas()
    if pd is not None and isinstance(obj, pd.DataFrame):
        return [str(c) for c in obj.columns], [obj.iloc[:, j] for j in range(obj.shape[1])]
    if pd is not None and isinstance(obj, pd.Series):
        return [str(obj.name) if obj.name is not None else "C1"], [obj]
    if isinstance(obj, np.ndarray):
        if obj.ndim == 1:
            return ["C1"], [obj]
        if obj.ndim != 2:
            raise ValueError(f"H2OFrame: expected a 1-D or 2-D array, got shape {obj.shape}")
        return [f"C{j + 1}" for j in range(obj.shape[1])], [obj[:, j] for j in range(obj.shape[1])]
    if isinstance(obj, Mapping):
        return _split_dict(obj)
    if isinstance(obj, (list, tuple)):
        return _split_rows(list(obj), header)
    raise TypeError(
        f"H2OFrame: cannot make a frame of a {type(obj).__name__} "
        "(give a pandas DataFrame, a numpy array, a dict of columns or a list of rows)"
    )


def _split_dict(obj: Mapping) -> tuple[list[str], list]:
    names, cols = [], []
    for key, value in obj.items():
        names.append(str(key))
        if isinstance(value, np.ndarray) or (_pandas() is not None and isinstance(value, _pandas().Series)):
            cols.append(value)
        elif isinstance(value, (list, tuple)):
            if any(isinstance(v, (list, tuple)) for v in value):
                raise ValueError(f"H2OFrame: column {key!r}: values must be flat (not lists)")
            cols.append(list(value))
        else:
            cols.append([value])  # a scalar is a one-row column (as H2O-3)
    longest = max((len(c) for c in cols), default=0)
    # shorter columns are padded with NA, as H2O-3 does (zip_longest)
    cols = [c if len(c) == longest else list(c) + [None] * (longest - len(c)) for c in cols]
    return names, cols


def _split_rows(rows: list, header: int) -> tuple[list[str], list]:
    if rows and all(isinstance(r, (list, tuple)) for r in rows):
        if any(isinstance(v, (list, tuple)) for r in rows for v in r):
            raise ValueError("H2OFrame: rows must be flat lists")
        ncol = max(len(r) for r in rows)
        if header == 1:
            names = [str(v) for v in rows[0]] + [f"C{j + 1}" for j in range(len(rows[0]), ncol)]
            rows = rows[1:]
        else:
            names = [f"C{j + 1}" for j in range(ncol)]
        cols = [list(c) for c in itertools.zip_longest(*rows, fillvalue=None)] if rows else [[] for _ in names]
        return names, cols
    if any(isinstance(r, (list, tuple)) for r in rows):
        raise ValueError("H2OFrame: a mixture of rows (lists) and single values")
    return ["C1"], [rows]  # a flat list is one column, as in H2O-3


def _forced_types(names: list[str], column_types) -> list[str | None]:
    forced = normalise_col_types("H2OFrame", names, column_types, param="column_types", aliases=H2O_TYPE_NAMES)
    return [forced.get(j) for j in range(len(names))]


def _kept(ncol: int, skipped) -> list[int]:
    skipped = set(skipped or ())
    bad = sorted(j for j in skipped if not (isinstance(j, (int, np.integer)) and 0 <= j < ncol))
    if bad:
        raise ValueError(f"H2OFrame: skipped_columns {bad} are not column indices 0..{ncol - 1}")
    if len(skipped) == ncol:
        raise ValueError("H2OFrame: skipped_columns skips every column")
    return [j for j in range(ncol) if j not in skipped]


# -- one column -----------------------------------------------------------------------
def _convert(name: str, col, want: str | None, na: frozenset) -> tuple[str, np.ndarray, list[str] | None]:
    """(type, values, domain or None) of one raw column; ``want`` forces the type."""
    natural, values = _typed(col)
    if natural is not None and (want is None or want == natural or {want, natural} == {"int", "real"}):
        if natural == "enum":
            return _levels(values)
        t = natural if want is None else want
        if t == "int" and not _integral(values):
            t = "real"  # a forced int that is not whole stays real, as in the CSV importer
        return t, values, None
    return _from_text(name, _text_array(col if natural is None else _as_objects(natural, values)), want, na)


def _typed(col) -> tuple[str | None, object]:
    """(natural type, values) of a dtype'd column; (None, None) for Python lists (read as text)."""
    if isinstance(col, list):
        return None, None
    pd = _pandas()
    if pd is not None and isinstance(col, pd.Series):
        dtype = col.dtype
        if isinstance(dtype, pd.CategoricalDtype) or dtype.kind in "bOSU" or pd.api.types.is_string_dtype(dtype):
            return "enum", _object_values(col.to_numpy(dtype=object))
        if isinstance(dtype, pd.DatetimeTZDtype):
            return "time", _ms(col.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy())
        if dtype.kind == "M":
            return "time", _ms(col.to_numpy())
        if pd.api.types.is_bool_dtype(dtype):
            return "enum", _object_values(col.to_numpy(dtype=object))
        if dtype.kind in "iuf":
            kind = "int" if dtype.kind in "iu" else "real"
            return kind, col.to_numpy(dtype=np.float64, na_value=np.nan)
        raise ValueError(f"H2OFrame: column {col.name!r}: unsupported dtype {dtype}")
    arr = np.asarray(col)
    if arr.dtype.kind in "iu":
        return "int", arr.astype(np.float64)
    if arr.dtype.kind == "f":
        return "real", arr.astype(np.float64)
    if arr.dtype.kind == "M":
        return "time", _ms(arr)
    if arr.dtype.kind in "bOSU":
        return "enum", _object_values(arr.astype(object))
    raise ValueError(f"H2OFrame: unsupported dtype {arr.dtype}")


def _is_na(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    pd = _pandas()
    return pd is not None and (v is pd.NA or v is pd.NaT)


def _object_values(arr: np.ndarray) -> list:
    return [None if _is_na(v) else v for v in arr]


def _ms(arr: np.ndarray) -> np.ndarray:
    """datetime64 -> ms since the epoch (float64, NaN for NaT)."""
    ms = arr.astype("datetime64[ms]").astype(np.int64).astype(np.float64)
    ms[np.isnat(arr)] = np.nan
    return ms


def _integral(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return bool(np.all(v == np.floor(v)))


def _text(v) -> str | None:
    """A value as the text H2O-3 would write for it (Python's str; datetimes in ISO form)."""
    if _is_na(v):
        return None
    if isinstance(v, (_dt.datetime, np.datetime64)) or type(v).__name__ == "Timestamp":
        return str(np.datetime64(v, "ms")).replace("T", " ")
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(v)


def _as_objects(natural: str, values) -> list:
    """A typed column's values as Python objects, to be read as text of another type."""
    if natural == "enum":
        return values
    present_values = [None if math.isnan(v) else v for v in values.tolist()]
    if natural == "int":
        return [None if v is None else int(v) for v in present_values]
    if natural == "time":
        return [None if v is None else np.datetime64(int(v), "ms") for v in present_values]
    return present_values


def _text_array(values: list) -> pa.Array:
    return pa.array([_text(v) for v in values], type=pa.string())


def _levels(values: list) -> tuple[str, np.ndarray, list[str]]:
    """An enum column of Python values: levels are their texts."""
    arr = _text_array(values)
    domain: dict[str, int] = {}
    codes = encode(arr, domain)
    return "enum", codes, list(domain)


def _from_text(name: str, arr: pa.Array, want: str | None, na: frozenset) -> tuple[str, np.ndarray, list[str] | None]:
    """Text values by the CSV rules: the majority decides the type unless ``want`` forces it."""
    arr = clean(arr, na)
    guess = ColumnGuess()
    guess.add(arr)
    t = want or guess.decide()
    if t == "int" and not guess.integral:
        t = "real"
    if t == "enum":
        domain: dict[str, int] = {}
        codes = encode(arr, domain)
        return t, codes, list(domain)
    if t == "time":
        values = to_time(arr)[0]
        strays = present(arr) & np.isnan(values)
    else:
        values, strays = to_float(arr)
    n_bad = 0 if strays is None else int(strays.sum())
    if n_bad:
        first = arr[int(np.argmax(strays))].as_py()
        warn_import(f"H2OFrame: column {name!r} ({t}): {n_bad} value(s) that are not {t} read as NA, first {first!r}")
    return t, values, None
