"""CSV import: H2O-like parse setup (separator, header, column types) and a streaming writer.

Two streaming passes over the file with ``pyarrow.csv.open_csv`` (every column
read as strings, ``chunk_bytes`` per block), so memory stays bounded by a few
blocks whatever the file size:

1. *guess*: per column, whether every non-NA value is a number (and whether
   all are integral) or an ISO-like date/time; the column type follows
   (see :func:`_decide_type` and ``docs/frame-format.md``);
2. *convert*: each block is converted column by column (numbers -> float64,
   times -> ms since the epoch UTC, enums -> codes into a growing provisional
   domain) and appended to a :class:`~hpcdl.frame.h5frame.FrameWriter`,
   which sorts the domains and moves the file into place atomically.

Every bad input ends in one :class:`FrameError` naming the file and, where
known, the line (1-based, counting the header line) and the column.
"""

from __future__ import annotations

import csv as _pycsv
import io
import os
import re
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .h5frame import Frame, FrameError, FrameWriter

DEFAULT_NA_STRINGS = ("", "NA", "N/A", "?", "NaN", "nan", "null")
SEPARATORS = (",", "\t", ";", "|", " ")
SAMPLE_BYTES = 1 << 20
SAMPLE_ROWS = 1000

# ISO-like date with optional time: 2007-11-6, 2007/11/06, 2007-11-06 10:00, 2007-11-06T10:00:00.250Z
TIME_PATTERN = (
    r"^(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})"
    r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d{1,9})?)?)?Z?$"
)
_TIME_RE = re.compile(TIME_PATTERN)

TYPE_ALIASES = {
    "numeric": "real",
    "real": "real",
    "float": "real",
    "double": "real",
    "number": "real",
    "int": "int",
    "integer": "int",
    "enum": "enum",
    "categorical": "enum",
    "factor": "enum",
    "string": "enum",
    "str": "enum",
    "time": "time",
    "date": "time",
}


# -- small helpers ------------------------------------------------------------
def _fail(path: str, msg: str, line: int | None = None, column: str | None = None) -> FrameError:
    parts = [path]
    if line is not None:
        parts.append(f"line {line}")
    if column is not None:
        parts.append(f"column {column!r}")
    return FrameError(": ".join(parts) + ": " + msg)


def _compression(path: str) -> str | None:
    with open(path, "rb") as fh:
        magic = fh.read(3)
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic == b"BZh":
        return "bz2"
    return None


def _open_stream(path: str):
    return pa.input_stream(path, compression=_compression(path))


def _open_binary(path: str):
    """A Python binary file object over the decompressed bytes (slow error paths only)."""
    kind = _compression(path)
    if kind == "gzip":
        import gzip

        return gzip.open(path, "rb")
    if kind == "bz2":
        import bz2

        return bz2.open(path, "rb")
    return open(path, "rb")


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def default_frame_dir() -> str:
    return os.environ.get("HPCDL_FRAME_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "hpcdl", "frames")


def frame_basename(path: str) -> str:
    base = os.path.basename(os.fspath(path))
    for ext in (".gz", ".bz2", ".csv", ".tsv", ".txt", ".data"):
        if base.lower().endswith(ext) and len(base) > len(ext):
            base = base[: -len(ext)]
    return base


def destination_path(path: str, destination: str | os.PathLike | None) -> str:
    """``destination`` as a file name; None or an existing directory -> ``<basename>.h5`` in it."""
    if destination is None:
        return os.path.join(default_frame_dir(), frame_basename(path) + ".h5")
    destination = os.fspath(destination)
    if os.path.isdir(destination) or destination.endswith(os.sep):
        return os.path.join(destination, frame_basename(path) + ".h5")
    return destination


# -- parse setup (separator, header) -------------------------------------------
def _read_sample(path: str) -> tuple[str, bool]:
    """The first decoded text of the file and whether it is the whole file."""
    try:
        with _open_stream(path) as stream:
            raw = stream.read(SAMPLE_BYTES + 1)
    except (OSError, pa.ArrowException, EOFError) as exc:
        kind = _compression(path)
        what = f"not a readable {kind} file" if kind else "unreadable file"
        raise _fail(path, f"{what} ({exc})") from exc
    whole = len(raw) <= SAMPLE_BYTES
    raw = raw[:SAMPLE_BYTES]
    text = raw.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    if not whole:  # drop the last, possibly cut line
        cut = text.rfind("\n")
        text = text[: cut + 1] if cut >= 0 else text
    return text, whole


def _sample_records(text: str, sep: str, limit: int = SAMPLE_ROWS) -> list[list[str]]:
    rows = []
    reader = _pycsv.reader(io.StringIO(text), delimiter=sep, quotechar='"', doublequote=True)
    try:
        for rec in reader:
            if not rec or (len(rec) == 1 and rec[0] == "" and sep != " "):
                continue  # blank line (pyarrow ignores them too)
            rows.append(rec)
            if len(rows) >= limit:
                break
    except _pycsv.Error:
        pass
    return rows


def _header_lines(text: str, sep: str) -> int:
    """Physical lines up to the end of the first record (leading blank lines included)."""
    reader = _pycsv.reader(io.StringIO(text), delimiter=sep, quotechar='"', doublequote=True)
    for rec in reader:
        if rec and not (len(rec) == 1 and rec[0] == "" and sep != " "):
            return reader.line_num
    return 1


def guess_separator(text: str) -> str:
    """The candidate giving the same number (> 1) of fields on every sampled line, most fields first.

    Ties go to the earlier candidate in ``, TAB ; | space``; no consistent candidate -> ``,``.
    """
    best, best_n = ",", 1
    for sep in SEPARATORS:
        rows = _sample_records(text, sep, 50)
        counts = {len(r) for r in rows}
        if len(counts) == 1:
            n = counts.pop()
            if n > best_n:
                best, best_n = sep, n
    return best


def _na_set(na_strings, name: str | None = None) -> frozenset:
    base = set(DEFAULT_NA_STRINGS)
    if na_strings is None:
        return frozenset(base)
    if isinstance(na_strings, Mapping):
        if name is not None and name in na_strings:
            v = na_strings[name]
            return frozenset({""} | ({v} if isinstance(v, str) else set(v)))
        return frozenset(base)
    if isinstance(na_strings, str):
        return frozenset(base | {na_strings})
    return frozenset(base | {str(s) for s in na_strings})


def guess_header(rows: list[list[str]], na: frozenset = frozenset(DEFAULT_NA_STRINGS)) -> bool:
    """H2O-like header rule on sampled records (see docs/frame-format.md).

    The first row is a header when
      (a) one of its fields is a non-NA, non-numeric string (not a date/time)
          while the column below holds only numbers (or only dates/times), or
      (b) all its fields are non-NA, non-numeric, distinct strings, none of
          which occurs again in its column below, or
      (c) it is the only row and all its fields are non-numeric strings.
    """
    if not rows:
        return False
    first, data = rows[0], rows[1:]

    def kind(s: str) -> str:
        s = s.strip()
        if s in na:
            return "na"
        if _is_number(s):
            return "num"
        if _TIME_RE.match(s):
            return "time"
        return "str"

    first_kinds = [kind(s) for s in first]
    if not data:
        return all(k == "str" for k in first_kinds)
    for j, k in enumerate(first_kinds):
        if k != "str":
            continue
        below = {kind(r[j]) for r in data if j < len(r)} - {"na"}
        if below in ({"num"}, {"time"}):
            return True
    if all(k == "str" for k in first_kinds) and len({s.strip() for s in first}) == len(first):
        for j, s in enumerate(first):
            if any(j < len(r) and r[j].strip() == s.strip() for r in data):
                return False
        return True
    return False


# -- error location --------------------------------------------------------------
def _locate_bad_row(path: str, sep: str, ncol: int, skip: int) -> tuple[int | None, int | None, str | None]:
    """Slow path after pyarrow refused the file: the first physical line with a wrong field count."""
    try:
        with _open_stream(path) as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
            reader = _pycsv.reader(text, delimiter=sep, quotechar='"', doublequote=True)
            seen = 0
            start = 1
            for rec in reader:
                end = reader.line_num
                if rec and not (len(rec) == 1 and rec[0] == "" and sep != " "):
                    seen += 1
                    if seen > skip:
                        multi = [k for k, f in enumerate(rec) if "\n" in f or "\r" in f]
                        if end > start and multi and len(rec) != ncol:
                            return start, multi[0], "quoted field runs past the end of the line (unbalanced quote?)"
                        if len(rec) != ncol:
                            return start, None, f"expected {ncol} fields, found {len(rec)}"
                start = end + 1
    except (_pycsv.Error, OSError, pa.ArrowException, EOFError) as exc:
        return None, None, f"{exc}"
    return None, None, None


def _locate_bad_utf8(path: str) -> int | None:
    try:
        with _open_binary(path) as fh:
            for lineno, line in enumerate(fh, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    return lineno
    except (OSError, EOFError):
        return None
    return None


def _locate_multiline(path: str, sep: str) -> int | None:
    """The first line where a quoted field does not close on the same line."""
    try:
        with _open_stream(path) as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
            reader = _pycsv.reader(text, delimiter=sep, quotechar='"', doublequote=True)
            start = 1
            for rec in reader:
                if any("\n" in f for f in rec):
                    return start
                start = reader.line_num + 1
    except (_pycsv.Error, OSError, pa.ArrowException, EOFError):
        return None
    return None


# -- value conversion -------------------------------------------------------------
def _clean(arr: pa.Array, na: frozenset) -> pa.Array:
    """Trim ASCII whitespace and turn NA spellings into nulls."""
    arr = pc.ascii_trim_whitespace(arr)
    is_na = pc.is_in(arr, value_set=pa.array(sorted(na), type=pa.string()))
    return pc.if_else(is_na, pa.scalar(None, pa.string()), arr)


def _to_float(arr: pa.Array, lenient: bool) -> np.ndarray | None:
    """float64 values (NaN = NA); None if a value is not a number (lenient: it becomes NA)."""
    try:
        out = pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if not lenient:
            return None
        vals = np.full(len(arr), np.nan)
        for i, s in enumerate(arr.to_pylist()):
            if s is not None:
                try:
                    vals[i] = float(s)
                except ValueError:
                    pass
        return vals
    return out.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm), vectorised."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _to_time(arr: pa.Array) -> tuple[np.ndarray, bool]:
    """ms since epoch UTC (NaN = NA) and whether every non-NA value was a valid date/time."""
    n = len(arr)
    out = np.full(n, np.nan)
    ok = pc.fill_null(pc.match_substring_regex(arr, TIME_PATTERN), False).to_numpy(zero_copy_only=False)
    present = ~pc.is_null(arr).to_numpy(zero_copy_only=False)
    all_ok = bool(np.all(ok[present]))
    if not ok.any():
        return out, all_ok
    parts = pc.extract_regex(pc.filter(arr, pa.array(ok)), TIME_PATTERN)

    def field(name: str, default: str = "0") -> np.ndarray:
        f = parts.field(name)
        f = pc.if_else(pc.equal(f, ""), pa.scalar(default), f)
        return pc.cast(f, pa.int64()).to_numpy(zero_copy_only=False)

    y, mo, d = field("y"), field("m"), field("d")
    hh, mm, ss = field("H"), field("M"), field("S")
    frac = parts.field("f")
    frac = pc.if_else(pc.equal(frac, ""), pa.scalar("0"), pc.utf8_replace_slice(frac, 0, 1, "0."))
    fr = pc.cast(frac, pa.float64()).to_numpy(zero_copy_only=False)
    valid = (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= 31) & (hh <= 23) & (mm <= 59) & (ss <= 60)
    days = _days_from_civil(y, mo, d)
    ms = days.astype(np.float64) * 86400000.0 + (hh * 3600 + mm * 60 + ss) * 1000.0 + np.round(fr * 1000.0)
    ms[~valid] = np.nan
    out[ok] = ms
    return out, all_ok and bool(valid.all())


class _ColumnGuess:
    """Pass-1 evidence about one column."""

    __slots__ = ("numeric", "integral", "time", "present")

    def __init__(self) -> None:
        self.numeric = True
        self.integral = True
        self.time = True
        self.present = 0

    def add(self, arr: pa.Array) -> None:
        n_present = len(arr) - arr.null_count
        if n_present == 0:
            return
        self.present += n_present
        if self.numeric:
            vals = _to_float(arr, lenient=False)
            if vals is None:
                self.numeric = False
            elif self.integral:
                v = vals[np.isfinite(vals)]
                self.integral = bool(np.all(v == np.floor(v)))
        if not self.numeric and self.time:
            _, self.time = _to_time(arr)

    def decide(self) -> str:
        if self.present == 0:
            return "real"  # all NA: a real column of NaN (summary flags it)
        if self.numeric:
            return "int" if self.integral else "real"
        if self.time:
            return "time"
        return "enum"


def _normalise_col_types(path: str, names: list[str], col_types) -> dict[int, str]:
    if col_types is None:
        return {}
    out: dict[int, str] = {}

    def canon(t, where) -> str:
        key = str(t).strip().lower()
        if key not in TYPE_ALIASES:
            raise _fail(path, f"col_types: unknown type {t!r} for column {where!r} (use one of {sorted(TYPE_ALIASES)})")
        return TYPE_ALIASES[key]

    if isinstance(col_types, Mapping):
        for k, t in col_types.items():
            if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
                if not 0 <= k < len(names):
                    raise _fail(path, f"col_types: column index {k} out of range 0..{len(names) - 1}")
                j = int(k)
            elif k in names:
                j = names.index(k)
            else:
                raise _fail(path, f"col_types: no column {k!r} (columns: {names})")
            if t is not None:
                out[j] = canon(t, names[j])
        return out
    col_types = list(col_types)
    if len(col_types) != len(names):
        raise _fail(path, f"col_types lists {len(col_types)} types for {len(names)} columns")
    for j, t in enumerate(col_types):
        if t is not None:
            out[j] = canon(t, names[j])
    return out


# -- the importer --------------------------------------------------------------------
class _Setup:
    def __init__(self, path, header, sep, na_strings, chunk_bytes):
        self.path = path
        text, whole = _read_sample(path)
        if not text.strip():
            raise _fail(path, "empty file (no header and no data)")
        if sep is None:
            sep = guess_separator(text)
        elif sep in ("\\t", "tab", "TAB"):
            sep = "\t"
        if len(sep) != 1:
            raise _fail(path, f"separator must be a single character, got {sep!r}")
        self.sep = sep
        rows = _sample_records(text, sep)
        if not rows:
            raise _fail(path, "empty file (no header and no data)")
        first = rows[0]
        if header is None:
            header = guess_header(rows, _na_set(na_strings if not isinstance(na_strings, Mapping) else None))
        self.header = bool(header)
        self.ncol = len(first)
        if self.header:
            names = [s.strip() for s in first]
            names = [n if n else f"C{j + 1}" for j, n in enumerate(names)]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise _fail(path, f"line 1: duplicate column names {dup}")
            if whole and len(rows) == 1:
                raise _fail(path, "header only, no data rows")
        else:
            names = [f"C{j + 1}" for j in range(self.ncol)]
        self.names = names
        self.skip_lines = _header_lines(text, sep) if self.header else 0
        self.na = [_na_set(na_strings, n) for n in names]
        self.chunk_bytes = int(chunk_bytes)
        self._fields = [f"f{j}" for j in range(self.ncol)]

    def batches(self):
        """Record batches of strings; ragged rows and broken files raise FrameError."""
        ro = pacsv.ReadOptions(
            column_names=self._fields,
            skip_rows=self.skip_lines,
            block_size=max(self.chunk_bytes, 1 << 10),
            use_threads=True,
        )
        po = pacsv.ParseOptions(
            delimiter=self.sep, quote_char='"', double_quote=True, newlines_in_values=True, ignore_empty_lines=True
        )
        co = pacsv.ConvertOptions(
            column_types={f: pa.string() for f in self._fields},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        try:
            stream = _open_stream(self.path)
        except (OSError, pa.ArrowException) as exc:
            raise _fail(self.path, f"unreadable file ({exc})") from exc
        try:
            reader = pacsv.open_csv(stream, read_options=ro, parse_options=po, convert_options=co)
            yield from reader
        except pa.ArrowInvalid as exc:
            msg = str(exc)
            if "CSV parse error" in msg or "Expected" in msg:
                line, col, what = _locate_bad_row(self.path, self.sep, self.ncol, 1 if self.header else 0)
                if what is not None:
                    name = self.names[col] if col is not None and col < self.ncol else None
                    raise _fail(self.path, what, line, name) from exc
            if "straddling" in msg or "straddles" in msg:
                raise _fail(
                    self.path, f"a row is longer than chunk_bytes={self.chunk_bytes}; raise chunk_bytes"
                ) from exc
            if "UTF8" in msg or "utf8" in msg.lower():
                m = re.search(r"column #(\d+)", msg)
                col = self.names[int(m.group(1))] if m and int(m.group(1)) < self.ncol else None
                raise _fail(
                    self.path,
                    "not UTF-8 text (convert the file to UTF-8, e.g. with iconv)",
                    _locate_bad_utf8(self.path),
                    col,
                ) from exc
            raise self._io_error(exc) from exc
        except (OSError, EOFError, pa.ArrowException) as exc:
            raise self._io_error(exc) from exc
        finally:
            stream.close()

    def _io_error(self, exc) -> FrameError:
        kind = _compression(self.path)
        if kind:
            return _fail(self.path, f"not a readable {kind} file ({exc})")
        return _fail(self.path, f"cannot parse ({exc})")


def import_csv(
    path, destination=None, *, header=None, sep=None, col_types=None, na_strings=None, chunk_bytes: int = 64 << 20
) -> Frame:
    """Import a CSV/TSV file (optionally gzip/bz2 compressed) into an HDF5 frame.

    ``header``: None guesses (H2O-like), True/False forces. ``sep``: None guesses
    among ``, TAB ; | space``. ``col_types``: dict name (or 0-based index) -> type,
    or a list with one type (or None) per column; types ``numeric``/``real``,
    ``int``, ``enum``/``categorical``/``factor``/``string``, ``time``.
    ``na_strings``: extra NA spellings (list) added to the defaults, or a dict
    name -> list replacing the defaults for that column (the empty field is
    always NA). ``destination``: the frame file or a directory; default
    ``<basename>.h5`` in ``$HPCDL_FRAME_DIR`` or ``~/.cache/hpcdl/frames``.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FrameError(f"{path}: no such file")
    if os.path.isdir(path):
        raise FrameError(f"{path}: is a directory, not a CSV file")
    setup = _Setup(path, header, sep, na_strings, chunk_bytes)
    names, ncol = setup.names, setup.ncol
    forced = _normalise_col_types(path, names, col_types)

    # pass 1: guess types (forced columns only need "int" checked for integrality)
    guesses = [_ColumnGuess() for _ in range(ncol)]
    nrow = 0
    for batch in setup.batches():
        nrow += batch.num_rows
        for j in range(ncol):
            g = guesses[j]
            if (j not in forced or forced[j] == "int") and (g.numeric or g.time):
                g.add(_clean(batch.column(j), setup.na[j]))
            if not g.numeric or forced.get(j) in ("enum", "time"):
                # like H2O, a quoted field may not span lines: it is almost always an unbalanced quote
                if pc.any(pc.match_substring(batch.column(j), "\n")).as_py():
                    raise _fail(
                        path,
                        "quoted field runs past the end of the line (unbalanced quote?)",
                        _locate_multiline(path, setup.sep),
                        names[j],
                    )
    if nrow == 0:
        raise _fail(path, "header only, no data rows" if setup.header else "no data rows")
    types = []
    for j in range(ncol):
        t = forced.get(j) or guesses[j].decide()
        if t == "int" and j in forced and not (guesses[j].numeric and guesses[j].integral):
            t = "real"  # forced numeric with non-integral values: H2O's numeric
        types.append(t)

    # pass 2: convert and write
    dest = destination_path(path, destination)
    domains: list[dict[str, int]] = [dict() for _ in range(ncol)]
    writer = FrameWriter(dest, names, types)
    with writer:
        for batch in setup.batches():
            cols = []
            for j in range(ncol):
                arr = _clean(batch.column(j), setup.na[j])
                t = types[j]
                if t in ("real", "int"):
                    cols.append(_to_float(arr, lenient=True))
                elif t == "time":
                    cols.append(_to_time(arr)[0])
                else:
                    cols.append(_encode(arr, domains[j]))
            writer.append(cols)
    return writer.close({names[j]: list(domains[j]) for j in range(ncol) if types[j] == "enum"})


def _encode(arr: pa.Array, domain: dict[str, int]) -> np.ndarray:
    """int32 codes into the growing provisional ``domain`` (level -> code), -1 for NA."""
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    levels = enc.dictionary.to_pylist()
    lut = np.empty(len(levels) + 1, dtype=np.int32)
    for k, s in enumerate(levels):
        code = domain.get(s)
        if code is None:
            code = domain[s] = len(domain)
        lut[k] = code
    lut[-1] = -1
    idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
    return lut[idx]
