"""CSV import: H2O-like parse setup (separator, header, column types) and a streaming writer.

Two streaming passes over the file with ``pyarrow.csv.open_csv`` (every column
read as strings, ``chunk_bytes`` per block, quoted fields may span lines), so
memory stays bounded by a few blocks whatever the file size:

1. *guess*: per column, how many values are numbers, dates/times and other
   text; the majority decides the type as in H2O-3 (see :class:`ColumnGuess`
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
import zlib
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from .h5frame import Frame, FrameError, FrameWriter, warn_import
from .source import cached_import, check_unchanged, frame_basename, source_attrs, source_identity
from .textrules import (
    DEFAULT_NA_STRINGS,
    TIME_RE,
    ColumnGuess,
    Strays,
    clean,
    encode,
    is_number,
    na_set,
    normalise_col_types,
    present,
    to_float,
    to_time,
)

SEPARATORS = (",", "\t", ";", "|", " ")
SAMPLE_BYTES = 1 << 20
SAMPLE_ROWS = 1000

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
READ_ERRORS = (OSError, EOFError, zlib.error, pa.ArrowException)


def _compression(path: str) -> str | None:
    with open(path, "rb") as fh:
        magic = fh.read(3)
    if magic[:2] == b"\x1f\x8b":
        return "gzip"
    if magic == b"BZh":
        return "bz2"
    return None


def open_stream(path: str):
    return pa.input_stream(path, compression=_compression(path))


def unreadable(path: str, exc: BaseException) -> FrameError:
    """One line for a file that cannot be read to its end (corrupt or truncated compression)."""
    kind = _compression(path)
    what = f"not a readable {kind} file (corrupt or truncated)" if kind else "unreadable file"
    return _fail(path, f"{what}: {exc}")


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
        with open_stream(path) as stream:
            raw = stream.read(SAMPLE_BYTES + 1)
    except READ_ERRORS as exc:
        raise unreadable(path, exc) from exc
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
        if is_number(s):
            return "num"
        if TIME_RE.match(s):
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
    with open_stream(path) as stream:
        text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")
        reader = _pycsv.reader(text, delimiter=sep, quotechar='"', doublequote=True)
        start = 1
        for rec in reader:
            if rec and not (len(rec) == 1 and rec[0] == "" and sep != " "):
                yield start, rec
            start = reader.line_num + 1


_SLOW_PATH_ERRORS = (_pycsv.Error, *READ_ERRORS)


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
        with open_stream(path) as stream:
            for lineno, line in enumerate(io.BufferedReader(stream), start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    return lineno
    except READ_ERRORS:
        return None
    return None


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
            header = guess_header(rows, na_set(na_strings if not isinstance(na_strings, Mapping) else None))
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
        self.na = [na_set(na_strings, n) for n in names]
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
            stream = open_stream(self.path)
        except READ_ERRORS as exc:
            raise unreadable(self.path, exc) from exc
        try:
            reader = pacsv.open_csv(stream, read_options=ro, parse_options=po, convert_options=co)
            yield from reader
        except pa.ArrowInvalid as exc:
            raise self._parse_error(exc) from exc
        except READ_ERRORS as exc:
            raise unreadable(self.path, exc) from exc
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
        return unreadable(self.path, exc)


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
    forced = normalise_col_types(path, setup.names, col_types)
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


def _guess_types(setup: _Setup, forced: dict[int, str]) -> tuple[list[ColumnGuess], int]:
    """Pass 1: the type evidence of every column (forced columns only need "int" checked for integrality)."""
    guesses = [ColumnGuess() for _ in range(setup.ncol)]
    nrow = 0
    for batch in setup.batches():
        nrow += batch.num_rows
        for j, g in enumerate(guesses):
            if j not in forced or forced[j] == "int":
                g.add(clean(batch.column(j), setup.na[j]))
    return guesses, nrow


def _convert(setup: _Setup, dest: str, types: list[str], identity: str) -> Frame:
    """Pass 2: convert and write; values that do not fit their column's type become NA (one warning)."""
    path, names, ncol = setup.path, setup.names, setup.ncol
    domains: list[dict[str, int]] = [dict() for _ in range(ncol)]
    strays = [Strays() for _ in range(ncol)]
    writer = FrameWriter(dest, names, types, attrs=source_attrs(path, identity), display_name=path)
    offset = 0
    with writer:
        for batch in setup.batches():
            cols = []
            for j, t in enumerate(types):
                arr = clean(batch.column(j), setup.na[j])
                stray = None
                if t in ("real", "int"):
                    values, stray = to_float(arr)
                elif t == "time":
                    values = to_time(arr)[0]
                    stray = present(arr) & np.isnan(values)
                else:
                    values = encode(arr, domains[j])
                strays[j].add(arr, stray, offset)
                cols.append(values)
            writer.append(cols)
            offset += batch.num_rows
        check_unchanged(path, identity)
    frame = writer.close({names[j]: list(domains[j]) for j in range(ncol) if types[j] == "enum"})
    _warn_strays(setup, types, strays)
    return frame


def _warn_strays(setup: _Setup, types: list[str], strays: list[Strays]) -> None:
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
