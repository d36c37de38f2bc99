"""CSV import: H2O-like parse setup (separator, header, column types) and a streaming writer.

One streaming pass over the file with ``pyarrow.csv.open_csv`` (every column
read as strings, NA spellings as nulls, blocks of ``BLOCK_BYTES`` or more, at most
``chunk_bytes``; quoted fields may span lines), parsed by a second thread one block
ahead of the conversion, so memory stays bounded by Arrow's read-ahead whatever the
file size. Each column is converted in the storage its first records suggest
(:class:`~hpcdl.frame.textrules.BlockColumn`) while the whole file's type evidence
is counted; the majority then decides as in H2O-3 (see :class:`ColumnGuess` and
``docs/frame-format.md``), and a column whose type differs from its plan is
converted again in a second pass (that column only). A value that does not fit
its column's type becomes NA and is reported in one warning. The
:class:`~hpcdl.frame.h5frame.FrameWriter` sorts the domains and moves the file
into place atomically.

Text that is not UTF-8 is read as Windows-1252 (Latin-1 with the printable
0x80-0x9F range), with one warning naming the first such line. Every bad input
ends in one :class:`FrameError` naming the file and, where known, the line
(1-based, counting the header line) and the column.
"""

from __future__ import annotations

import codecs
import contextlib
import csv as _pycsv
import io
import os
import queue
import threading
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from .h5frame import Frame, FrameError, FrameWriter, block_stats, warn_import
from .source import cached_import, check_unchanged, frame_basename, source_attrs, source_identity
from .textrules import (
    DEFAULT_NA_STRINGS,
    KIND_OF_TYPE,
    PLAN_TYPE,
    TIME_RE,
    BlockColumn,
    ColumnGuess,
    Strays,
    clean,
    is_number,
    na_set,
    normalise_col_types,
)

SEPARATORS = (",", "\t", ";", "|", " ")
SAMPLE_BYTES = 1 << 20
SAMPLE_ROWS = 1000
BLOCK_BYTES = 2 << 20
WORKERS = 2  # threads converting a block's columns, beside the reader's and the writing one

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


class _BlockTooSmall(FrameError):
    """A record longer than the block the sample suggested: start again with blocks of ``chunk_bytes``."""


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
        self.fast_na = frozenset.intersection(*self.na)  # the reader turns these into nulls (every column's)
        self.sample = rows[1:] if self.header else rows
        self.chunk_bytes = int(chunk_bytes)
        # Arrow's reader reads up to 32 blocks ahead of its parser: small blocks bound the memory
        longest = max((len(line) for line in text.splitlines()), default=0)
        self.block_bytes = min(self.chunk_bytes, max(BLOCK_BYTES, 64 * longest))
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
            block_size=max(self.block_bytes, 1 << 10),
            use_threads=True,
            encoding="utf8" if self.encoding == "utf-8" else self.encoding,
        )
        po = pacsv.ParseOptions(
            delimiter=self.sep, quote_char='"', double_quote=True, newlines_in_values=True, ignore_empty_lines=True
        )
        co = pacsv.ConvertOptions(
            column_types={f: pa.string() for f in self._fields},
            null_values=sorted(self.fast_na),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
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
            if self.block_bytes < self.chunk_bytes:
                return _BlockTooSmall(msg)
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
    while True:  # each retry changes the setup once (encoding, block size), so this ends
        try:
            return _one_pass(setup, dest, forced, identity)
        except _NotUtf8:
            setup.fall_back_to_windows_1252()
        except _BlockTooSmall:
            setup.block_bytes = setup.chunk_bytes


def _plan(setup: _Setup, forced: dict[int, str]) -> list[BlockColumn]:
    """Each column's storage for the pass: its forced type, else the majority of the sampled records."""
    cols = []
    for j in range(setup.ncol):
        t = forced.get(j)
        if t is None:
            guess = ColumnGuess()
            guess.add(clean(pa.array([r[j] if j < len(r) else "" for r in setup.sample], pa.string()), setup.na[j]))
            t = guess.decide()
        cols.append(BlockColumn(setup.na[j], KIND_OF_TYPE[t], setup.fast_na))
    return cols


def _one_pass(setup: _Setup, dest: str, forced: dict[int, str], identity: str) -> Frame:
    """Read, type and write the file in one pass; convert again only the columns (if any) whose
    whole-file majority differs from the plan; values that do not fit become NA (one warning)."""
    path, names = setup.path, setup.names
    cols = _plan(setup, forced)
    writer = FrameWriter(
        dest,
        names,
        [PLAN_TYPE[c.kind] for c in cols],
        compression=None,
        attrs=source_attrs(path, identity),
        display_name=path,
    )
    with writer:
        nrow = _write_blocks(setup, cols, range(setup.ncol), writer.append)
        if nrow == 0:
            raise _fail(path, "header only, no data rows" if setup.header else "no data rows")
        types = []
        for j, c in enumerate(cols):
            t = forced.get(j) or c.guess.decide()
            if t == "int" and j in forced and not c.guess.integral:
                t = "real"  # forced numeric with non-integral values: H2O's numeric
            types.append(t)
        again = [j for j, c in enumerate(cols) if KIND_OF_TYPE[types[j]] != c.kind]
        for j in range(setup.ncol):
            writer.retype(j, types[j], keep=j not in again)
            if j in again:
                cols[j].restart(KIND_OF_TYPE[types[j]])
        if again:
            _write_blocks(
                setup,
                cols,
                again,
                lambda values, stats: [writer.append_column(j, v, st) for j, v, st in zip(again, values, stats)],
            )
        check_unchanged(path, identity)
    frame = writer.close({names[j]: list(cols[j].domain) for j in range(setup.ncol) if types[j] == "enum"})
    _warn_strays(setup, types, [c.strays for c in cols])
    return frame


def _write_blocks(setup: _Setup, cols: list[BlockColumn], which, write) -> int:
    """Convert the columns ``which`` of every block and ``write(values, stats)`` them; returns the
    number of records. Three things run at once: Arrow parses block b+1 (the reader's thread),
    ``WORKERS`` threads convert block b's columns (Arrow's casts release the GIL) and this thread
    writes block b-1. A column's blocks are converted in order, one at a time (its evidence,
    domain and strays accumulate)."""
    offset, pending = 0, None
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="hpcdl-csv-convert") as pool:
        for batch in _prefetched(setup.batches()):
            futures = [pool.submit(_convert, cols[j], batch.column(j), offset) for j in which]
            if pending is not None:
                write(*pending)
            done = [f.result() for f in futures]
            pending = [v for v, _ in done], [st for _, st in done]
            offset += batch.num_rows
        if pending is not None:
            write(*pending)
    return offset


def _convert(col: BlockColumn, arr, offset: int) -> tuple:
    """One column of one block: its values and, for numbers, their statistics (in the worker)."""
    values = col.convert(arr, offset)
    return values, block_stats(values) if values.dtype == np.float64 else None


def _prefetched(batches):
    """``batches`` produced by a thread one block ahead: Arrow parses the next block (without the
    GIL) while this thread converts and writes the last one; the reader's errors come through."""
    q: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        with contextlib.closing(batches):
            try:
                for b in batches:
                    if not put((None, b)):
                        return
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
                put((exc, None))
                return
        put((None, None))

    thread = threading.Thread(target=produce, name="hpcdl-csv-reader", daemon=True)
    thread.start()
    try:
        while True:
            exc, batch = q.get()
            if exc is not None:
                raise exc
            if batch is None:
                return
            yield batch
    finally:
        stop.set()
        thread.join()


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
