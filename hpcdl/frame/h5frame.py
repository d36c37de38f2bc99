"""The HDF5 frame: one file per frame, one dataset per column.

Layout (documented for other tools in ``docs/frame-format.md``)::

    /                      attrs: format="hpcdl-frame", version=1, nrow, ncol,
                                  names (JSON list), types (JSON list),
                                  frame_id (a uuid, new for every file written),
                                  source, source_identity (imported files only)
    /columns/0, /1, ...    one 1-D dataset per column, in frame order
        real, int, time:   float64 (float32 allowed), NA = NaN
        enum:              int32 codes, NA = -1; attr domain (sorted level strings)
        every column:      attrs name, type, na_count, and for numbers
                           min, max, mean, sd (sample sd, n-1) over non-NA values;
                           for enums counts (int64 per level)

Reading a contiguous row range touches only the HDF5 chunks of that range; so does reading
rows in a regular block pattern (a rank's shard: ``Frame.blocks``, one hyperslab per column).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import h5py
import numpy as np

from ..fsutil import H5Output, atomic_path
from .errors import FrameError, FrameImportWarning, warn_import  # noqa: F401 - importable from here too
from .ops import FrameOps
from .summary import frame_summary

FORMAT = "hpcdl-frame"
VERSION = 1
TYPES = ("real", "int", "enum", "time")
NUMERIC_TYPES = ("real", "int", "time")
CHUNK_ROWS = 65536
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _is_enum(t: str) -> bool:
    return t == "enum"


def block_stats(values: np.ndarray) -> tuple:
    """(NA count, n, mean, M2, min, max) of one block's non-NA values, for :meth:`FrameWriter.append`'s
    ``stats``: an importer computes them in its worker threads, beside the writes."""
    values = np.asarray(values, dtype=np.float64)
    nan = np.isnan(values)
    na = int(np.count_nonzero(nan))
    finite = values[~nan] if na else values
    if finite.size == 0:
        return na, 0, 0.0, 0.0, np.inf, -np.inf
    with np.errstate(invalid="ignore", over="ignore"):  # ±inf values (x / 0): mean ±inf, sd NaN
        mean_b = float(finite.mean())
        m2_b = float(((finite - mean_b) ** 2).sum())
    return na, finite.size, mean_b, m2_b, float(finite.min()), float(finite.max())


class _RunningStats:
    """Mergeable count/mean/M2/min/max over non-NA values (Chan et al.)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min = np.inf
        self.max = -np.inf
        self.na = 0

    def add(self, values: np.ndarray) -> None:
        self.merge(block_stats(values))

    def merge(self, part: tuple) -> None:
        """Fold in one block's :func:`block_stats`."""
        na, n_b, mean_b, m2_b, lo, hi = part
        self.na += na
        if n_b == 0:
            return
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * self.n * n_b / n
        self.n = n
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)

    def attrs(self) -> dict:
        if self.n == 0:
            return {"na_count": self.na, "min": np.nan, "max": np.nan, "mean": np.nan, "sd": np.nan}
        sd = float(np.sqrt(self.m2 / (self.n - 1))) if self.n > 1 else 0.0
        return {"na_count": self.na, "min": self.min, "max": self.max, "mean": self.mean, "sd": sd}


class FrameWriter:
    """Stream column chunks into a new frame file, atomically.

    Enum columns are appended as int codes into a provisional domain (any
    order, it may grow between chunks); :meth:`close` receives the final
    provisional domains, sorts them and remaps the stored codes, so that
    imported domains are sorted as H2O keeps them. ``sort_levels=False`` keeps
    the domains in the order given (frames derived from a frame keep its levels'
    order, e.g. the numeric order ``asfactor()`` gives, as H2O-3 does).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        names: Sequence[str],
        types: Sequence[str],
        float_dtype: Sequence[str] | None = None,
        compression: str | None = "gzip",
        attrs: Mapping[str, str] | None = None,
        display_name: str | None = None,
        sort_levels: bool = True,
    ) -> None:
        names = [str(n) for n in names]
        types = list(types)
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise FrameError(f"{path}: duplicate column names {dup}")
        for n, t in zip(names, types):
            if t not in TYPES:
                raise FrameError(f"{path}: column {n!r}: unknown type {t!r} (expected one of {TYPES})")
        self.path = os.fspath(path)
        self.names, self.types = names, types
        self.attrs = dict(attrs or {})  # extra root attributes (an imported frame's source)
        self.display_name = display_name
        self.sort_levels = sort_levels
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._out: H5Output | None = None
        self._closed = False
        try:
            self._out = H5Output(self._tmp)  # a full disk is an error, not a crash (fsutil.H5Output)
        except BaseException as exc:
            raise self._discard(exc)  # noqa: B904 - _discard chains the cause
        self._file = self._out.file
        self._cols = self._file.create_group("columns")
        self._stats = [_RunningStats() for _ in names]
        self._copied: set[int] = set()  # columns copied whole from another frame (their attrs come along)
        self.nrow = 0
        self._dtypes = float_dtype or ["float64"] * len(names)
        self._opts = {"compression": compression, "compression_opts": 1} if compression == "gzip" else {}
        self._opts["shuffle"] = compression is not None
        self._ds: dict[int, h5py.Dataset] = {}  # by column: h5py's lookup by name costs more than a small write
        for i in range(len(names)):
            self._create(i)

    def _create(self, i: int) -> None:
        t = self.types[i]
        dt = np.int32 if _is_enum(t) else np.dtype(self._dtypes[i])
        ds = self._ds[i] = self._cols.create_dataset(
            str(i), shape=(0,), maxshape=(None,), dtype=dt, chunks=(CHUNK_ROWS,), **self._opts
        )
        ds.attrs["name"] = self.names[i]
        ds.attrs["type"] = t

    def retype(self, i: int, t: str, keep: bool) -> None:
        """Column ``i`` becomes type ``t``: with ``keep`` its stored values stay (int <-> real),
        else it starts again empty (a CSV column whose type the whole file decided otherwise
        than its first lines: the importer writes it again)."""
        self.types[i] = t
        if keep:
            self._ds[i].attrs["type"] = t
            return
        del self._cols[str(i)]
        self._stats[i] = _RunningStats()
        self._create(i)

    def append(self, columns: Sequence[np.ndarray], stats: Sequence[tuple | None] | None = None) -> None:
        """Append one chunk: a sequence of equal-length arrays in column order; ``stats``: each
        numeric column's :func:`block_stats` when the caller has them (None: computed here)."""
        lengths = {len(c) for c in columns}
        if len(columns) != len(self.names) or len(lengths) > 1:
            raise FrameError(f"{self.path}: chunk has {len(columns)} columns of lengths {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        if n == 0:
            return
        for i, col in enumerate(columns):
            ds = self._ds[i]
            ds.resize((self.nrow + n,))
            if _is_enum(self.types[i]):
                ds[self.nrow :] = np.asarray(col, dtype=np.int32)
            else:
                arr = np.asarray(col, dtype=ds.dtype)
                ds[self.nrow :] = arr
                part = stats[i] if stats is not None and stats[i] is not None and arr.dtype == np.float64 else None
                self._stats[i].merge(part or block_stats(arr))
        self.nrow += n
        self._out.check()  # stop at the first failed write, not after parsing the rest of the input

    def append_column(self, i: int, values: np.ndarray, stats: tuple | None = None) -> None:
        """Append rows to column ``i`` alone: a frame derived from another is written a column at a
        time (each HDF5 chunk read and written once). Every column must reach the same length by
        :meth:`close`; do not mix with :meth:`append`. ``stats``: as in :meth:`append`."""
        ds = self._ds[i]
        start, n = ds.shape[0], len(values)
        if n == 0:
            return
        ds.resize((start + n,))
        arr = np.asarray(values, dtype=np.int32 if _is_enum(self.types[i]) else ds.dtype)
        ds[start:] = arr
        if not _is_enum(self.types[i]):
            self._stats[i].merge(stats if stats is not None and arr.dtype == np.float64 else block_stats(arr))
        self._out.check()

    def copy_column(self, i: int, frame: Frame, name: str) -> None:
        """Column ``i`` is column ``name`` of ``frame`` as stored: HDF5 copies its chunks without
        decompressing them, with its statistics (a frame derived with all the rows of another)."""
        with frame._open() as f:
            src = f["columns"][str(frame._index[name])]
            if src.attrs["type"] != self.types[i]:
                raise FrameError(f"{self.path}: column {self.names[i]!r} is {self.types[i]}, not {src.attrs['type']}")
            del self._cols[str(i)]
            self._cols.copy(src, str(i))
        self._ds[i] = self._cols[str(i)]
        self._ds[i].attrs["name"] = self.names[i]
        self._copied.add(i)
        self._out.check()

    def close(self, domains: dict[str, Sequence[str]] | None = None) -> Frame:
        """Finish the file (sort enum domains, write stats) and move it into place."""
        domains = domains or {}
        try:
            lengths = {self._cols[str(i)].shape[0] for i in range(len(self.names))}
            if len(lengths) > 1:
                raise FrameError(f"{self.path}: columns of different lengths {sorted(lengths)}")
            self.nrow = lengths.pop() if lengths else 0
            for i, (name, t) in enumerate(zip(self.names, self.types)):
                ds = self._cols[str(i)]
                if _is_enum(t):
                    dom = [str(d) for d in domains.get(name, [])]
                    order = sorted(range(len(dom)), key=lambda k: dom[k]) if self.sort_levels else list(range(len(dom)))
                    same_order = order == list(range(len(dom)))
                    remap = np.full(len(dom) + 1, -1, dtype=np.int32)  # last slot maps -1 (NA) to -1
                    remap[np.asarray(order, dtype=np.int64)] = np.arange(len(dom), dtype=np.int32)
                    counts = np.zeros(len(dom), dtype=np.int64)
                    na = 0
                    for start in range(0, self.nrow, CHUNK_ROWS):
                        codes = ds[start : start + CHUNK_ROWS]
                        if codes.size and (codes.max() >= len(dom) or codes.min() < -1):
                            raise FrameError(f"{self.path}: column {name!r}: code outside its domain")
                        if not same_order:
                            codes = remap[codes]  # -1 indexes the last slot, which holds -1
                            ds[start : start + codes.size] = codes
                        valid = codes[codes >= 0]
                        counts += np.bincount(valid, minlength=len(dom))
                        na += int((codes < 0).sum())
                    ds.attrs["domain"] = json.dumps([dom[k] for k in order])
                    ds.attrs["counts"] = counts
                    ds.attrs["na_count"] = na
                elif i not in self._copied:
                    for key, value in self._stats[i].attrs().items():
                        ds.attrs[key] = value
            root = self._file.attrs
            root["format"] = FORMAT
            root["version"] = VERSION
            root["nrow"] = self.nrow
            root["ncol"] = len(self.names)
            root["names"] = json.dumps(self.names)
            root["types"] = json.dumps(self.types)
            frame_id = root["frame_id"] = uuid.uuid4().hex  # readers check it on every open (Frame._open)
            for key, value in self.attrs.items():
                root[key] = value
            self._out.close()  # raises the first failed write (no space, ...)
        except BaseException as exc:
            raise self._discard(exc)  # noqa: B904 - _discard chains the cause
        self._closed = True
        ctx, self._ctx = self._ctx, None
        ctx.__exit__(None, None, None)  # fsync + rename; on failure the file is removed (WriteError)
        return Frame(self.path, frame_id=frame_id, display_name=self.display_name)

    def abort(self, exc: BaseException | None = None) -> None:
        """Drop the partial file (nothing appears under the final name)."""
        if not self._closed:
            self._discard(exc or RuntimeError("aborted"))

    def _discard(self, exc: BaseException) -> BaseException:
        """Close and remove the temporary file after ``exc``; returns the exception to raise:
        ``exc``, or the :class:`~hpcdl.fsutil.WriteError` (naming this frame's file) it becomes."""
        self._closed = True
        if self._out is not None:
            try:
                self._out.close()
            except Exception:  # noqa: BLE001 - the first failure (exc) is the one to report
                pass
        ctx, self._ctx = self._ctx, None
        try:
            if ctx is not None:
                ctx.__exit__(type(exc), exc, exc.__traceback__)
        except BaseException as raised:  # atomic_path re-raises exc or its WriteError
            return raised
        return exc

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, et, ev, tb) -> None:
        if et is not None and not self._closed:
            err = self._discard(ev)
            if err is not ev:
                raise err  # a failed write, as a WriteError naming the frame file


class Frame(FrameOps):
    """A frame on disk, named like H2OFrame: names, types, nrow, ncol, summary(), head().

    The object remembers the file's ``frame_id`` and checks it whenever it reopens the
    file, so a file replaced under it (another import) is an error, never other rows.
    ``frame_id``: the id the file must have (e.g. the one another rank wrote).
    ``display_name``: how messages about the data name it (default: the imported
    source if the file records one, else the frame's path).
    """

    def __init__(
        self, path: str | os.PathLike, frame_id: str | None = None, display_name: str | os.PathLike | None = None
    ) -> None:
        self.path = os.fspath(path)
        self._display = os.fspath(display_name) if display_name is not None else None
        self.source: str | None = None
        if not os.path.exists(self.path):
            raise FrameError(f"{self.path}: no such frame file")
        try:
            with h5py.File(self.path, "r") as f:
                self._read_header(f, frame_id)
        except FrameError:
            raise
        except (OSError, KeyError, ValueError) as exc:
            raise FrameError(f"{self.path}: unreadable frame file ({exc})") from exc
        self._index = {n: i for i, n in enumerate(self.names)}

    def _read_header(self, f: h5py.File, frame_id: str | None) -> None:
        if f.attrs.get("format") != FORMAT:
            raise FrameError(f"{self.path}: not an hpcdl frame (missing format attribute)")
        version = int(f.attrs["version"])
        if version > VERSION:
            raise FrameError(
                f"{self.path}: frame format version {version} is newer than this hpcdl understands ({VERSION}); "
                "upgrade hpcdl"
            )
        self.frame_id = _str_attr(f, "frame_id")
        # files written without an id (other tools): the inode stands in for it
        self._inode = os.stat(self.path).st_ino if self.frame_id is None else None
        if frame_id is not None and self.frame_id != frame_id:
            raise self._replaced()
        self.source = _str_attr(f, "source")
        self.source_identity = _str_attr(f, "source_identity")
        self.nrow = int(f.attrs["nrow"])
        self._names = list(json.loads(f.attrs["names"]))
        self._types = list(json.loads(f.attrs["types"]))
        self.domains: dict[str, list[str]] = {}
        self.stats: dict[str, dict] = {}
        for i, name in enumerate(self._names):
            attrs = f["columns"][str(i)].attrs
            st = {k: attrs[k] for k in attrs if k not in ("name", "type", "domain")}
            if "domain" in attrs:
                self.domains[name] = list(json.loads(attrs["domain"]))
            self.stats[name] = {
                k: (v.tolist() if isinstance(v, np.ndarray) else (v.item() if isinstance(v, np.generic) else v))
                for k, v in st.items()
            }

    def _replaced(self) -> FrameError:
        origin = f" (imported from {self.display_name})" if self.display_name != self.path else ""
        return FrameError(
            f"frame file {self.path}{origin} was replaced since it was opened (by another import?); re-open it"
        )

    @contextlib.contextmanager
    def _open(self) -> Iterator[h5py.File]:
        """The file, checked to be the one this object opened."""
        try:
            f = h5py.File(self.path, "r")
        except FileNotFoundError:
            raise FrameError(f"frame file {self.path} was removed since it was opened; re-import it") from None
        with f:
            if self.frame_id is not None:
                same = _str_attr(f, "frame_id") == self.frame_id
            else:
                same = os.stat(self.path).st_ino == self._inode
            if not same:
                raise self._replaced()
            yield f

    @property
    def display_name(self) -> str:
        """The user's name for this data: the file they imported (or opened), never a cache path."""
        return self._display or self.source or self.path

    # -- H2OFrame-like members --------------------------------------------
    @property
    def ncol(self) -> int:
        return len(self.names)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.nrow, self.ncol)

    def type(self, name: str) -> str:
        return self._types[self._col_index(name)]

    def _col_index(self, name: str | int) -> int:
        if isinstance(name, (int, np.integer)):
            if not 0 <= name < self.ncol:
                raise FrameError(f"{self.display_name}: column index {name} out of range 0..{self.ncol - 1}")
            return int(name)
        try:
            return self._index[name]
        except KeyError:
            raise FrameError(f"{self.display_name}: no column {name!r} (columns: {self.names})") from None

    def column(self, name: str | int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """One column's raw values for rows [start, stop): float (NaN = NA) or int32 codes (-1 = NA)."""
        i = self._col_index(name)
        stop = self.nrow if stop is None else min(stop, self.nrow)
        with self._open() as f:
            return f["columns"][str(i)][start:stop]

    def read(
        self, names: Iterable[str | int] | None = None, start: int = 0, stop: int | None = None
    ) -> dict[str, np.ndarray]:
        """Several columns for one contiguous row range (a rank's shard), in one file open."""
        names = self.names if names is None else [self.names[self._col_index(n)] for n in names]
        stop = self.nrow if stop is None else min(stop, self.nrow)
        out = {}
        with self._open() as f:
            cols = f["columns"]
            for n in names:
                out[n] = cols[str(self._index[n])][start:stop]
        return out

    def as_numpy(self, names: Iterable[str] | None = None) -> np.ndarray:
        """All rows as a float64 matrix (enum columns as codes, NA as NaN)."""
        data = self.read(names)
        cols = []
        for n, v in data.items():
            v = v.astype(np.float64)
            if self._types[self._index[n]] == "enum":
                v[v < 0] = np.nan
            cols.append(v)
        return np.column_stack(cols) if cols else np.empty((self.nrow, 0))

    # -- what the H2OFrame operations (ops.FrameOps) read and write with ---------------
    chunk_rows = CHUNK_ROWS

    @contextlib.contextmanager
    def reader(self) -> Iterator[Callable[[Sequence[str], int, int], dict[str, np.ndarray]]]:
        """``read(names, start, stop)`` on the file held open (checked once), so that reading a
        long run of small blocks decompresses each HDF5 chunk once (h5py's chunk cache)."""
        with self._open() as f:
            cols = f["columns"]

            def read(names: Sequence[str], start: int, stop: int) -> dict[str, np.ndarray]:
                return {n: cols[str(self._index[n])][start:stop] for n in names}

            yield read

    def blocks(self, first: int, block: int, step: int) -> FrameBlocks:
        """Rows in a regular block pattern (a rank's shard), read like a frame: :class:`FrameBlocks`."""
        return FrameBlocks(self, first, block, step)

    def column_dtype(self, name: str) -> str:
        """The stored dtype of a numeric column ("float64" or "float32"; enums: "int32")."""
        with self._open() as f:
            return str(f["columns"][str(self._col_index(name))].dtype)

    @classmethod
    def _write_new(
        cls,
        path: str,
        names: Sequence[str],
        types: Sequence[str],
        columns: Iterable[Iterable[np.ndarray]],
        domains: Mapping[str, Sequence[str]],
        *,
        dtypes: Sequence[str] | None = None,
        sort_levels: bool = True,
        display_name: str | None = None,
        copies: Mapping[int, tuple[Frame, str]] | None = None,
    ) -> Frame:
        """A new frame file at ``path``, written a column at a time: ``columns`` gives, for each
        column in order, its values as a sequence of blocks; a column in ``copies`` (index ->
        (frame, name)) is that frame's column copied as stored, and its blocks are not read."""
        copies = copies or {}
        writer = FrameWriter(
            path, names, types, float_dtype=dtypes, display_name=display_name, sort_levels=sort_levels, compression=None
        )
        with writer:
            for i, blocks in enumerate(columns):
                if i in copies:
                    writer.copy_column(i, *copies[i])
                    continue
                for block in blocks:
                    writer.append_column(i, block)
        return writer.close(dict(domains))

    def summary(self, return_data: bool = True) -> dict:
        """Per column: type, min, quartiles, mean, max, NA count, most frequent levels."""
        return frame_summary(self)

    def __repr__(self) -> str:
        return f"Frame({self.path!r}, nrow={self.nrow}, ncol={self.ncol})"

    def __len__(self) -> int:
        return self.nrow


class FrameBlocks:
    """Some rows of a frame in a regular block pattern, read like a frame of those rows in order:
    blocks of ``block`` rows from frame row ``first`` on, one every ``step`` rows, the last cut
    at the frame's end (a rank's shard, ``rows.shard``). Each column read is at most three HDF5
    hyperslab selections into one array: only the blocks' rows are read, never the whole column."""

    def __init__(self, frame: Frame, first: int, block: int, step: int) -> None:
        if block < 1 or step < block or first < 0:
            raise ValueError(f"row blocks need 1 <= block <= step and first >= 0 (got {first}, {block}, {step})")
        self.frame, self.first, self.block, self.step = frame, int(first), int(block), int(step)
        n_blocks = 0 if first >= frame.nrow else -(-(frame.nrow - first) // step)
        last = first + (n_blocks - 1) * step
        self.nrow = 0 if n_blocks == 0 else (n_blocks - 1) * block + min(block, frame.nrow - last)
        self.names, self.domains, self.display_name = frame.names, frame.domains, frame.display_name

    def type(self, name: str) -> str:
        return self.frame.type(name)

    def column(self, name: str | int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """One column's raw values for rows [start, stop) of these rows."""
        return self.read([name], start, stop)[self.names[self.frame._col_index(name)]]

    def read(
        self, names: Iterable[str | int] | None = None, start: int = 0, stop: int | None = None
    ) -> dict[str, np.ndarray]:
        """Several columns for rows [start, stop) of these rows, in one file open."""
        frame = self.frame
        names = frame.names if names is None else [frame.names[frame._col_index(n)] for n in names]
        stop = self.nrow if stop is None else min(stop, self.nrow)
        start = max(0, min(start, stop))
        out = {}
        with frame._open() as f:
            cols = f["columns"]
            for n in names:
                ds = cols[str(frame._index[n])]
                out[n] = np.empty(stop - start, dtype=ds.dtype)
                for source, dest in self._selections(start, stop):
                    ds.read_direct(out[n], source, dest)
        return out

    def _selections(self, start: int, stop: int) -> list[tuple[object, slice]]:
        """(frame selection, output slice) pairs covering positions [start, stop): the first block's
        part, the whole blocks between (one regular hyperslab), the last block's part."""
        if stop <= start:
            return []
        b, step, first = self.block, self.step, self.first
        j0, j1 = start // b, (stop - 1) // b  # the blocks of the first and the last position
        if j0 == j1:
            a = first + j0 * step + start % b
            return [(np.s_[a : a + stop - start], np.s_[0 : stop - start])]
        head = b - start % b
        tail = stop - j1 * b
        picks = [(np.s_[first + j0 * step + start % b : first + j0 * step + b], np.s_[0:head])]
        if j1 - j0 > 1:
            middle = h5py.MultiBlockSlice(start=first + (j0 + 1) * step, count=j1 - j0 - 1, stride=step, block=b)
            picks.append((middle, np.s_[head : head + (j1 - j0 - 1) * b]))
        a = first + j1 * step
        picks.append((np.s_[a : a + tail], np.s_[stop - start - tail : stop - start]))
        return picks


def _str_attr(f: h5py.File, key: str) -> str | None:
    value = f.attrs.get(key)
    return value if isinstance(value, str) else None


def get_frame(path: str | os.PathLike) -> Frame:
    """Open an existing hpcdl frame file; FrameError (naming the file) if it is not one."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FrameError(f"{path}: no such frame file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head != HDF5_SIGNATURE:
        raise FrameError(f"{path}: not an hpcdl frame (not an HDF5 file); import it first with import_file")
    return Frame(path, display_name=path)


def shard_range(nrow: int, rank: int, size: int) -> tuple[int, int]:
    """Contiguous rows [start, stop) of ``rank`` out of ``size``; sizes differ by at most one."""
    base, extra = divmod(nrow, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def frame_from_numpy(
    data, path: str | os.PathLike, names: Sequence[str] | None = None, domains: dict[str, Sequence[str]] | None = None
) -> Frame:
    """Write numpy data (2-D array, dict of columns, or a pandas DataFrame) as a frame.

    Float/int arrays become real/int columns; string/object arrays and pandas
    Categoricals become enum columns; datetime64 becomes time (ms since epoch).
    ``domains`` marks integer-code columns as enums with the given levels.
    """
    domains = dict(domains or {})
    columns: dict[str, np.ndarray] = {}
    try:
        import pandas as pd  # a slow import (0.3-0.7 s here): only when a pandas frame is read
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        for n in data.columns:
            s = data[n]
            if isinstance(s.dtype, pd.CategoricalDtype):
                domains[str(n)] = [str(c) for c in s.cat.categories]
                columns[str(n)] = s.cat.codes.to_numpy().astype(np.int32)
            elif np.issubdtype(s.dtype, np.datetime64):
                columns[str(n)] = s.to_numpy()
            else:
                columns[str(n)] = s.to_numpy()
    elif isinstance(data, dict):
        columns = {str(k): np.asarray(v) for k, v in data.items()}
    else:
        arr = np.asarray(data)
        if arr.ndim != 2:
            raise FrameError(f"{path}: expected a 2-D array, got shape {arr.shape}")
        names = list(names) if names is not None else [f"C{i + 1}" for i in range(arr.shape[1])]
        columns = {n: arr[:, i] for i, n in enumerate(names)}
    if names is not None and list(names) != list(columns):
        columns = {n: columns[k] for n, k in zip(names, list(columns))}
    if not columns:
        raise FrameError(f"{path}: no columns")
    names = list(columns)
    types, values, doms = [], [], {}
    for n in names:
        v = columns[n]
        if n in domains:
            types.append("enum")
            values.append(np.asarray(v, dtype=np.int32))
            doms[n] = [str(d) for d in domains[n]]
        elif v.dtype.kind in "OUS":
            strs = np.array(
                [None if (x is None or (isinstance(x, float) and np.isnan(x))) else str(x) for x in v], dtype=object
            )
            present = sorted({s for s in strs if s is not None})
            index = {s: i for i, s in enumerate(present)}
            types.append("enum")
            values.append(np.array([index[s] if s is not None else -1 for s in strs], dtype=np.int32))
            doms[n] = present
        elif v.dtype.kind == "M":
            ms = v.astype("datetime64[ms]").astype(np.int64).astype(np.float64)
            ms[np.isnat(v)] = np.nan
            types.append("time")
            values.append(ms)
        elif v.dtype.kind in "iub":
            types.append("int")
            values.append(v.astype(np.float64))
        elif v.dtype.kind == "f":
            types.append("real")
            values.append(v.astype(np.float64))
        else:
            raise FrameError(f"{path}: column {n!r}: unsupported dtype {v.dtype}")
    writer = FrameWriter(path, names, types)
    with writer:
        writer.append(values)
    return writer.close(doms)
