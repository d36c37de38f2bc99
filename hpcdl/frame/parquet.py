"""Parquet import: a Parquet file as a frame, with H2O-3's type rules (``docs/frame-format.md``).

Two streaming passes over the file's record batches (``pyarrow.parquet.ParquetFile.iter_batches``,
``BATCH_ROWS`` rows each): pass 1 decides the types that depend on the values (a float
column whose values are all whole numbers is ``int``, as a CSV column; a string column
is ``time`` when most of its values are dates/times, else ``enum``), pass 2 converts and
writes. Integers are ``int``; floats and decimals ``int`` or ``real``; booleans,
strings and dictionary (categorical) columns ``enum`` with the values present as levels;
timestamps and dates ``time`` (ms since the epoch, UTC); times of day ``int`` (ms since
midnight). ``col_types`` forces a type: the column's values are then read as text by
the CSV rules (values that do not fit become NA, with one warning). Nested columns
(lists, structs, maps) and binary columns are refused, naming the column.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .csv import destination_path
from .errors import FrameError, warn_import
from .h5frame import Frame, FrameWriter
from .source import cached_import, check_unchanged, source_attrs, source_identity
from .textrules import ColumnGuess, Strays, encode, normalise_col_types, present, to_float, to_time

PARQUET_MAGIC = b"PAR1"
BATCH_ROWS = 65536
_TIME_UNIT_MS = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}


def is_parquet(path: str) -> bool:
    """Whether the file starts with Parquet's magic bytes."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def import_parquet(path, destination=None, *, col_types=None, frame_dir=None) -> Frame:
    """Import a Parquet file into a frame file (``destination``) or the frame cache (reused while the
    file is unchanged). ``col_types``: dict name (or 0-based index) -> type, or a list, as for CSV."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FrameError(f"{path}: no such file")
    options = {"kind": "parquet", "col_types": col_types}
    identity = source_identity(path, options)

    def write(dest: str) -> Frame:
        return _import(path, dest, identity, col_types)

    if destination is None:
        return cached_import(path, identity, frame_dir, write)
    return write(destination_path(path, destination))


def _open(path: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise FrameError(f"{path}: not a readable Parquet file (corrupt or truncated?): {exc}") from exc


def _batches(path: str, pf: pq.ParquetFile):
    try:
        yield from pf.iter_batches(batch_size=BATCH_ROWS)
    except (pa.ArrowException, OSError) as exc:
        raise FrameError(f"{path}: unreadable Parquet data (corrupt or truncated?): {exc}") from exc


def _kind(path: str, field: pa.Field) -> str:
    """What a column's Parquet type reads as, before its values are seen."""
    t = field.type
    if pa.types.is_dictionary(t):
        return "dict"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "time"
    if pa.types.is_time(t):
        return "time_of_day"
    if pa.types.is_null(t):
        return "null"
    raise FrameError(f"{path}: column {field.name!r}: Parquet type {t} is not supported (nested or binary data)")


def _import(path: str, dest: str, identity: str, col_types) -> Frame:
    pf = _open(path)
    schema = pf.schema_arrow
    names = list(schema.names)
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise FrameError(f"{path}: duplicate column names {dup}")
    if not names:
        raise FrameError(f"{path}: no columns")
    kinds = [_kind(path, schema.field(j)) for j in range(len(names))]
    forced = normalise_col_types(path, names, col_types)
    guesses, nrow = _guess(path, pf, kinds, forced)
    if nrow == 0:
        raise FrameError(f"{path}: no data rows")
    types = [_decide(kinds[j], forced.get(j), guesses[j]) for j in range(len(names))]
    return _convert(path, pf, dest, identity, names, kinds, types)


def _guess(path: str, pf, kinds: list[str], forced: dict[int, str]) -> tuple[list[ColumnGuess], int]:
    """Pass 1: value evidence of the columns whose type depends on their values: whether floats are
    whole numbers, what text holds (numbers, dates/times, other text)."""
    guesses = [ColumnGuess() for _ in kinds]
    nrow = 0
    for batch in _batches(path, pf):
        nrow += batch.num_rows
        for j, kind in enumerate(kinds):
            if kind == "float" and guesses[j].integral:
                v = _numbers(batch.column(j))
                v = v[np.isfinite(v)]
                guesses[j].integral = bool(np.all(v == np.floor(v)))
            elif kind == "text" or (j in forced and kind not in ("int", "float", "time_of_day")):
                guesses[j].add(_as_text(batch.column(j), kind))
    return guesses, nrow


def _numbers(arr: pa.Array) -> np.ndarray:
    values = arr.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    values[~present(arr)] = np.nan
    return values


def _decide(kind: str, forced: str | None, guess: ColumnGuess) -> str:
    if forced is not None:
        return "real" if forced == "int" and not guess.integral else forced
    if kind in ("int", "time_of_day"):
        return "int"
    if kind == "float":
        return "int" if guess.integral else "real"
    if kind == "time":
        return "time"
    if kind == "text":
        return "time" if guess.decide() == "time" else "enum"  # text is never numeric (as H2O-3)
    if kind == "null":
        return "real"
    return "enum"  # bool, dict


def _as_text(arr: pa.Array, kind: str) -> pa.Array:
    """A column's values as strings (the text the CSV rules read); NA stays null."""
    if kind == "dict":
        arr = arr.dictionary_decode()
        kind = _value_kind(arr.type)
    if kind == "bool":
        return pc.if_else(arr, pa.scalar("True"), pa.scalar("False"))
    if kind == "time":
        ms = _ms(arr)
        text = np.datetime_as_string(ms.astype("int64").astype("datetime64[ms]"), unit="ms")
        return pa.array([None if np.isnan(m) else s.replace("T", " ") for m, s in zip(ms, text)], type=pa.string())
    if kind == "null":
        return pa.nulls(len(arr), pa.string())
    return pc.cast(arr, pa.string())


def _value_kind(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "time"
    return "other"


def _ms(arr: pa.Array) -> np.ndarray:
    """Timestamps, dates and times of day as ms (float64, NaN for NA)."""
    t = arr.type
    if pa.types.is_date32(t):
        values, scale = arr.cast(pa.int32()), 86400000.0
    elif pa.types.is_date64(t):
        values, scale = arr.cast(pa.int64()), 1.0
    elif pa.types.is_time32(t):
        values, scale = arr.cast(pa.int32()), _TIME_UNIT_MS[t.unit]
    else:
        values, scale = arr.cast(pa.int64()), _TIME_UNIT_MS[t.unit]
    out = values.to_numpy(zero_copy_only=False).astype(np.float64) * scale
    out[~present(arr)] = np.nan
    return np.round(out) if scale < 1 else out


def _convert(path, pf, dest, identity, names, kinds, types) -> Frame:
    """Pass 2: convert each batch and append it; values a forced type cannot read become NA (one warning)."""
    domains: list[dict[str, int]] = [dict() for _ in names]
    strays = [Strays() for _ in names]
    writer = FrameWriter(dest, names, types, attrs=source_attrs(path, identity), display_name=path)
    offset = 0
    with writer:
        for batch in _batches(path, pf):
            cols = []
            for j, t in enumerate(types):
                values, text, stray = _column(batch.column(j), kinds[j], t, domains[j])
                strays[j].add(text, stray, offset)
                cols.append(values)
            writer.append(cols)
            offset += batch.num_rows
        check_unchanged(path, identity)
    frame = writer.close({names[j]: list(domains[j]) for j, t in enumerate(types) if t == "enum"})
    _warn(path, names, types, strays)
    return frame


def _column(arr: pa.Array, kind: str, t: str, domain: dict[str, int]):
    """(values, the text read (for warnings), the mask of values read as NA) of one batch column:
    numbers and times directly, anything else (or another type forced) as text by the CSV rules."""
    if t in ("int", "real") and kind in ("int", "float", "null"):
        return _numbers(arr), None, None
    if (t in ("int", "real") and kind == "time_of_day") or (t == "time" and kind == "time"):
        return _ms(arr), None, None
    text = _as_text(arr, kind)
    if t == "enum":
        return encode(text, domain), text, None
    if t == "time":
        values = to_time(text)[0]
        return values, text, present(text) & np.isnan(values)
    values, stray = to_float(text)
    return values, text, stray


def _warn(path: str, names: list[str], types: list[str], strays: list[Strays]) -> None:
    bad = [j for j, s in enumerate(strays) if s.count]
    if not bad:
        return
    parts = [
        f"column {names[j]!r} ({types[j]}): {strays[j].count}, first at row {strays[j].first + 1}: {strays[j].text!r}"
        for j in bad
    ]
    total = sum(strays[j].count for j in bad)
    warn_import(f"{path}: {total} value(s) that do not fit their column's type read as NA; " + "; ".join(parts))
