"""CSV import: H2O-like parse setup (separator, header, column types) and a streaming writer.

Two streaming passes over the file with ``pyarrow.csv.open_csv`` (every column
read as strings, ``chunk_bytes`` per block, quoted fields may span lines), so
memory stays bounded by a few blocks whatever the file size:

1. *guess*: per column, how many values are numbers, dates/times and other
   text; the majority decides the type as in H2O-3 (see :class:`_ColumnGuess`
   and ``docs/frame-format.md``);
2. *convert*: each block is converted column by column (numbers -> float64,
   times -> ms since the epoch UTC, enums -> codes into a growing provisional
   domain; a value that does not fit its column's type becomes NA and is
   reported in one warning) and appended to a
   :class:`~hpcdl.frame.h5frame.FrameWriter`, which sorts the domains and moves
   the file into place atomically.

Text that is not UTF-8 is read as Windows-1252 (Latin-1 with the printable
0x80-0x9F range), with one warning naming the first such line. Every bad input
ends in one :class:`FrameError` naming the file and, where known, the line
(1-based, counting the header line) and the column.
"""

from __future__ import annotations

import codecs
import csv as _pycsv
import io
import os
import re
import zlib
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .h5frame import Frame, FrameError, FrameWriter, warn_import
from .source import cached_import, check_unchanged, frame_basename, source_attrs, source_identity

DEFAULT_NA_STRINGS = ("", "NA", "N/A", "?", "NaN", "nan", "null")
SEPARATORS = (",", "\t", ";", "|", " ")
SAMPLE_BYTES = 1 << 20
SAMPLE_ROWS = 1000

# What counts as a number (pyarrow's string -> float64 cast accepts all of these)
NUMBER_PATTERN = r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])$"
_NUMBER_RE = re.compile(NUMBER_PATTERN)

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

# -- text encoding ----------------------------------------------------------------
# Windows-1252 as browsers decode it (WHATWG): cp1252, with the five bytes cp1252 leaves
# undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) read as the Latin-1 characters of the same
# value, so that every byte decodes and Latin-1 text keeps its letters (0xFC -> "ü").
FALLBACK_ENCODING = "hpcdl-windows-1252"
_FALLBACK_TABLE = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))
_FALLBACK_ENCODE = codecs.charmap_build(_FALLBACK_TABLE)


class _FallbackDecoder(codecs.IncrementalDecoder):
    def decode(self, data, final=False):
        return codecs.charmap_decode(data, self.errors, _FALLBACK_TABLE)[0]


class _FallbackEncoder(codecs.IncrementalEncoder):
    def encode(self, text, final=False):
        return codecs.charmap_encode(text, self.errors, _FALLBACK_ENCODE)[0]


def _find_fallback_codec(name: str):
    # pyarrow decodes non-UTF-8 input through Python's codec registry, by name
    if name.replace("_", "-") == FALLBACK_ENCODING:
        return codecs.CodecInfo(
            name=FALLBACK_ENCODING,
            encode=lambda text, errors="strict": codecs.charmap_encode(text, errors, _FALLBACK_ENCODE),
            decode=lambda data, errors="strict": codecs.charmap_decode(data, errors, _FALLBACK_TABLE),
            incrementalencoder=_FallbackEncoder,
            incrementaldecoder=_FallbackDecoder,
        )
    return None


codecs.register(_find_fallback_codec)


# -- small helpers ------------------------------------------------------------
def _fail(path: str, msg: str, line: int | None = None, column: str | None = None) -> FrameError:
    parts = [path]
    if line is not None:
        parts.append(f"line {line}")
    if column is not None:
        parts.append(f"column {column!r}")
    return FrameError(": ".join(parts) + ": " + msg)


# what a broken compressed stream raises, depending on where it breaks
_READ_ERRORS = (OSError, EOFError, zlib.error, pa.ArrowException)


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


def _unreadable(path: str, exc: BaseException) -> FrameError:
    """One line for a file that cannot be read to its end (corrupt or truncated compression)."""
    kind = _compression(path)
    what = f"not a readable {kind} file (corrupt or truncated)" if kind else "unreadable file"
    return _fail(path, f"{what}: {exc}")


def _is_number(s: str) -> bool:
    return _NUMBER_RE.match(s) is not None


def destination_path(path: str, destination: str | os.PathLike) -> str:
    """``destination`` as a file name; an existing directory -> ``<basename>.h5`` in it."""
    destination = os.fspath(destination)
    if os.path.isdir(destination) or destination.endswith(os.sep):
        return os.path.join(destination, frame_basename(path) + ".h5")
    return destination


# -- parse setup (separator, header) -------------------------------------------
def _read_sample(path: str) -> tuple[str, bool, str, int | None]:
    """The first decoded text of the file, whether it is the whole file, its encoding and,
    when that is the fallback, the first line that is not UTF-8."""
    try:
        with _open_stream(path) as stream:
            raw = stream.read(SAMPLE_BYTES + 1)
    except _READ_ERRORS as exc:
        raise _unreadable(path, exc) from exc
    whole = len(raw) <= SAMPLE_BYTES
    raw = raw[:SAMPLE_BYTES]
    encoding, bad_line = "utf-8", None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not whole and exc.reason == "unexpected end of data":  # a character cut by the sample's end
            text = raw[: exc.start].decode("utf-8", errors="replace")
        else:
            encoding, bad_line = FALLBACK_ENCODING, raw.count(b"\n", 0, exc.start) + 1
            text = raw.decode(FALLBACK_ENCODING)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not whole:  # drop the last, possibly cut line
        cut = text.rfind("\n")
        text = text[: cut + 1] if cut >= 0 else text
    return text, whole, encoding, bad_line


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


# -- error location (slow paths, Python's csv module) ------------------------------------
def _records(path: str, sep: str, encoding: str):
    """(first physical line, fields) of each non-blank record, as pyarrow splits them."""
    with _open_stream(path) as stream:
        text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")
        reader = _pycsv.reader(text, delimiter=sep, quotechar='"', doublequote=True)
        start = 1
        for rec in reader:
            if rec and not (len(rec) == 1 and rec[0] == "" and sep != " "):
                yield start, rec
            start = reader.line_num + 1


_SLOW_PATH_ERRORS = (_pycsv.Error, *_READ_ERRORS)


def _locate_bad_row(path: str, sep: str, encoding: str, ncol: int, skip: int):
    """After pyarrow refused the file: (line, column index, what) of the first record with a wrong field count."""
    try:
        for k, (line, rec) in enumerate(_records(path, sep, encoding)):
            if k < skip or len(rec) == ncol:
                continue
            multi = [j for j, f in enumerate(rec) if "\n" in f or "\r" in f]
            if multi:
                return (
                    line,
                    multi[0],
                    f"quoted field runs past the end of the line and leaves {len(rec)} fields, expected {ncol} "
                    "(unbalanced quote?)",
                )
            return line, None, f"expected {ncol} fields, found {len(rec)}"
    except _SLOW_PATH_ERRORS as exc:
        return None, None, f"{exc}"
    return None, None, None


def _record_lines(path: str, sep: str, encoding: str, skip: int, wanted: set[int]) -> dict[int, int]:
    """Physical first line of the data records numbered ``wanted`` (0-based, after ``skip`` header records)."""
    out: dict[int, int] = {}
    if not wanted:
        return out
    last = max(wanted)
    try:
        for k, (line, _) in enumerate(_records(path, sep, encoding)):
            if k - skip in wanted:
                out[k - skip] = line
            if k - skip >= last:
                break
    except _SLOW_PATH_ERRORS:
        pass
    return out


def _locate_bad_utf8(path: str) -> int | None:
    """The first line that is not valid UTF-8."""
    try:
        with _open_stream(path) as stream:
            for lineno, line in enumerate(io.BufferedReader(stream), start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    return lineno
    except _READ_ERRORS:
        return None
    return None


# -- value conversion -------------------------------------------------------------
def _clean(arr: pa.Array, na: frozenset) -> pa.Array:
    """Trim ASCII whitespace and turn NA spellings into nulls."""
    arr = pc.ascii_trim_whitespace(arr)
    is_na = pc.is_in(arr, value_set=pa.array(sorted(na), type=pa.string()))
    return pc.if_else(is_na, pa.scalar(None, pa.string()), arr)


def _present(arr: pa.Array) -> np.ndarray:
    return pc.is_valid(arr).to_numpy(zero_copy_only=False)


def _to_float(arr: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
    """float64 values (NaN = NA) and the mask of present values that are not numbers (None: there are none)."""
    try:
        out = pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        is_num = pc.fill_null(pc.match_substring_regex(arr, NUMBER_PATTERN), False)
        out = pc.cast(pc.if_else(is_num, arr, pa.scalar(None, pa.string())), pa.float64())
        stray = _present(arr) & ~is_num.to_numpy(zero_copy_only=False)
        return out.to_numpy(zero_copy_only=False).astype(np.float64, copy=False), stray
    return out.to_numpy(zero_copy_only=False).astype(np.float64, copy=False), None


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
    """Pass-1 counts for one column: numbers, dates/times and other text (NA not counted).

    As H2O-3 decides, the majority wins: numbers when there are at least as many
    numbers as dates/times and as other text, else dates/times when they outnumber
    the text, else enum. The values of a numeric or time column that do not fit
    become NA (``_Strays`` reports them).
    """

    __slots__ = ("numbers", "times", "texts", "integral")

    def __init__(self) -> None:
        self.numbers = self.times = self.texts = 0
        self.integral = True  # over the numbers

    def add(self, arr: pa.Array) -> None:
        n_present = len(arr) - arr.null_count
        if n_present == 0:
            return
        vals, stray = _to_float(arr)
        n_other = 0 if stray is None else int(stray.sum())
        self.numbers += n_present - n_other
        if self.integral:
            v = vals[np.isfinite(vals)]
            self.integral = bool(np.all(v == np.floor(v)))
        if n_other:
            ms, _ = _to_time(arr.filter(pa.array(stray)))
            n_times = int(np.isfinite(ms).sum())
            self.times += n_times
            self.texts += n_other - n_times

    def decide(self) -> str:
        if self.numbers + self.times + self.texts == 0:
            return "real"  # all NA: a real column of NaN (summary flags it)
        if self.numbers >= self.times and self.numbers >= self.texts:
            return "int" if self.integral else "real"
        return "time" if self.times > self.texts else "enum"


class _Strays:
    """Values of one column read as NA because they do not fit its type: count, first record, its text."""

    __slots__ = ("count", "first", "text")

    def __init__(self) -> None:
        self.count = 0
        self.first: int | None = None
        self.text: str | None = None

    def add(self, arr: pa.Array, stray: np.ndarray | None, offset: int) -> None:
        n = 0 if stray is None else int(stray.sum())
        if n and self.first is None:
            k = int(np.argmax(stray))
            self.first, self.text = offset + k, arr[k].as_py()
        self.count += n


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
class _NotUtf8(FrameError):
    """Pass 1 met bytes that are not UTF-8 beyond the sample: start again with the fallback encoding."""


class _Setup:
    def __init__(self, path, header, sep, na_strings, chunk_bytes):
        self.path = path
        text, whole, self.encoding, bad_line = _read_sample(path)
        if bad_line is not None:
            self._warn_encoding(bad_line)
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

    def _warn_encoding(self, line: int | None) -> None:
        where = f"line {line}" if line is not None else "somewhere"
        warn_import(f"{self.path}: not UTF-8 text (first at {where}); read as Windows-1252/Latin-1")

    def fall_back_to_windows_1252(self) -> None:
        self.encoding = FALLBACK_ENCODING
        self._warn_encoding(_locate_bad_utf8(self.path))

    def batches(self):
        """Record batches of strings; ragged rows and broken files raise FrameError."""
        ro = pacsv.ReadOptions(
            column_names=self._fields,
            skip_rows=self.skip_lines,  # physical lines (a quoted header field may span lines)
            block_size=max(self.chunk_bytes, 1 << 10),
            use_threads=True,
            encoding="utf8" if self.encoding == "utf-8" else self.encoding,
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
        except _READ_ERRORS as exc:
            raise _unreadable(self.path, exc) from exc
        try:
            reader = pacsv.open_csv(stream, read_options=ro, parse_options=po, convert_options=co)
            yield from reader
        except pa.ArrowInvalid as exc:
            raise self._parse_error(exc) from exc
        except _READ_ERRORS as exc:
            raise _unreadable(self.path, exc) from exc
        finally:
            stream.close()

    def _parse_error(self, exc: pa.ArrowInvalid) -> Exception:
        msg = str(exc)
        if "CSV parse error" in msg or "Expected" in msg:
            line, col, what = _locate_bad_row(self.path, self.sep, self.encoding, self.ncol, 1 if self.header else 0)
            if what is not None:
                name = self.names[col] if col is not None and col < self.ncol else None
                return _fail(self.path, what, line, name)
        if "straddling" in msg or "straddles" in msg:
            return _fail(self.path, f"a row is longer than chunk_bytes={self.chunk_bytes}; raise chunk_bytes")
        if ("UTF8" in msg or "utf8" in msg.lower()) and self.encoding == "utf-8":
            return _NotUtf8(f"{self.path}: not UTF-8 text")
        return _unreadable(self.path, exc)


def import_csv(
    path,
    destination=None,
    *,
    header=None,
    sep=None,
    col_types=None,
    na_strings=None,
    chunk_bytes: int = 64 << 20,
    frame_dir=None,
) -> Frame:
    """Import a CSV/TSV file (optionally gzip/bz2 compressed) into an HDF5 frame.

    ``header``: None guesses (H2O-like), True/False forces. ``sep``: None guesses
    among ``, TAB ; | space``. ``col_types``: dict name (or 0-based index) -> type,
    or a list with one type (or None) per column; types ``numeric``/``real``,
    ``int``, ``enum``/``categorical``/``factor``/``string``, ``time``.
    ``na_strings``: extra NA spellings (list) added to the defaults, or a dict
    name -> list replacing the defaults for that column (the empty field is
    always NA). ``destination``: the frame file or a directory; default: the
    frame cache ``frame_dir`` (``$HPCDL_FRAME_DIR`` or ``~/.cache/hpcdl/frames``),
    under a name given by the file's identity, reused while the file is unchanged
    (docs/frame-format.md).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FrameError(f"{path}: no such file")
    if os.path.isdir(path):
        raise FrameError(f"{path}: is a directory, not a CSV file")
    options = {"kind": "csv", "header": header, "sep": sep, "col_types": col_types, "na_strings": na_strings}
    identity = source_identity(path, options)

    def write(dest: str) -> Frame:
        return _import(path, dest, identity, header, sep, col_types, na_strings, chunk_bytes)

    if destination is None:
        return cached_import(path, identity, frame_dir, write)
    return write(destination_path(path, destination))


def _import(path, dest, identity, header, sep, col_types, na_strings, chunk_bytes) -> Frame:
    setup = _Setup(path, header, sep, na_strings, chunk_bytes)
    forced = _normalise_col_types(path, setup.names, col_types)
    try:
        guesses, nrow = _guess_types(setup, forced)
    except _NotUtf8:
        setup.fall_back_to_windows_1252()
        guesses, nrow = _guess_types(setup, forced)
    if nrow == 0:
        raise _fail(path, "header only, no data rows" if setup.header else "no data rows")
    types = []
    for j in range(setup.ncol):
        t = forced.get(j) or guesses[j].decide()
        if t == "int" and j in forced and not guesses[j].integral:
            t = "real"  # forced numeric with non-integral values: H2O's numeric
        types.append(t)
    return _convert(setup, dest, types, identity)


def _guess_types(setup: _Setup, forced: dict[int, str]) -> tuple[list[_ColumnGuess], int]:
    """Pass 1: the type evidence of every column (forced columns only need "int" checked for integrality)."""
    guesses = [_ColumnGuess() for _ in range(setup.ncol)]
    nrow = 0
    for batch in setup.batches():
        nrow += batch.num_rows
        for j, g in enumerate(guesses):
            if j not in forced or forced[j] == "int":
                g.add(_clean(batch.column(j), setup.na[j]))
    return guesses, nrow


def _convert(setup: _Setup, dest: str, types: list[str], identity: str) -> Frame:
    """Pass 2: convert and write; values that do not fit their column's type become NA (one warning)."""
    path, names, ncol = setup.path, setup.names, setup.ncol
    domains: list[dict[str, int]] = [dict() for _ in range(ncol)]
    strays = [_Strays() for _ in range(ncol)]
    writer = FrameWriter(dest, names, types, attrs=source_attrs(path, identity), display_name=path)
    offset = 0
    with writer:
        for batch in setup.batches():
            cols = []
            for j, t in enumerate(types):
                arr = _clean(batch.column(j), setup.na[j])
                stray = None
                if t in ("real", "int"):
                    values, stray = _to_float(arr)
                elif t == "time":
                    values = _to_time(arr)[0]
                    stray = _present(arr) & np.isnan(values)
                else:
                    values = _encode(arr, domains[j])
                strays[j].add(arr, stray, offset)
                cols.append(values)
            writer.append(cols)
            offset += batch.num_rows
        check_unchanged(path, identity)
    frame = writer.close({names[j]: list(domains[j]) for j in range(ncol) if types[j] == "enum"})
    _warn_strays(setup, types, strays)
    return frame


def _warn_strays(setup: _Setup, types: list[str], strays: list[_Strays]) -> None:
    """One warning for the whole file: per column, how many values became NA, and the first one's line."""
    bad = [j for j, s in enumerate(strays) if s.count]
    if not bad:
        return
    lines = _record_lines(
        setup.path, setup.sep, setup.encoding, 1 if setup.header else 0, {strays[j].first for j in bad}
    )
    parts = []
    for j in bad:
        s = strays[j]
        line = lines.get(s.first)
        where = f"line {line}" if line is not None else f"data row {s.first + 1}"
        parts.append(f"column {setup.names[j]!r} ({types[j]}): {s.count}, first at {where}: {s.text!r}")
    total = sum(strays[j].count for j in bad)
    warn_import(f"{setup.path}: {total} value(s) that do not fit their column's type read as NA; " + "; ".join(parts))


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
