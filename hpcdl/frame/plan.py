"""How a frame operation streams: output columns as functions of input blocks, rows as selections.

An operation is a list of :class:`Col` (each computes its values for a block of input
rows from the blocks of the input columns it names) and a :class:`Rows` (which of
those rows go out). :func:`streams` reads every input frame through one open file per
frame (``frame.reader()``), a column at a time in blocks of whole HDF5 chunks, and gives
the output column by column as a frame writer takes it, so an operation's memory is
bounded by a block of one column whatever the frame's size. Nothing here writes files
(``ops`` does, through the frame class).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import FrameError
from .rng import uniform_rows

BLOCK_BYTES = 32 << 20  # input bytes per streamed block (8 per value)
MIN_BLOCK_ROWS = 1024


@dataclass
class Col:
    """One output column: ``fn(start, stop, *input_blocks)`` gives its values for input rows [start, stop)."""

    name: str
    type: str
    fn: Callable[..., np.ndarray]
    inputs: tuple = ()  # ((frame, column name), ...)
    domain: list[str] | None = None
    dtype: str = "float64"
    copy_of: tuple | None = None  # (frame, column) when the values are that column's as they are


def copy_of(frame, name: str, new_name: str | None = None) -> Col:
    """A column of ``frame`` as it is (type, levels in their order, stored dtype)."""
    t = frame.type(name)
    return Col(
        name=new_name or name,
        type=t,
        fn=lambda start, stop, v: v,
        inputs=((frame, name),),
        domain=list(frame.domains[name]) if t == "enum" else None,
        dtype="int32" if t == "enum" else frame.column_dtype(name),
        copy_of=(frame, name),
    )


class Rows:
    """Which input rows an operation keeps: all of them, a slice, sorted row numbers or a 0/1 mask."""

    def __init__(self, nrow: int) -> None:
        self.nrow = nrow
        self.first, self.last = 0, nrow  # the span that holds every kept row
        self.inputs: tuple = ()

    def keep(self, start: int, stop: int, data: dict) -> np.ndarray | None:
        """Boolean mask over input rows [start, stop) (None: all of them)."""
        return None

    @property
    def is_all(self) -> bool:
        return type(self) is Rows


class SliceRows(Rows):
    def __init__(self, nrow: int, sl: slice) -> None:
        super().__init__(nrow)
        self.start, self.stop, self.step = sl.indices(nrow)
        if self.step <= 0:
            raise FrameError(f"row slice {sl}: a negative step would reorder rows (frames keep their row order)")
        self.first, self.last = self.start, max(self.start, self.stop)

    @property
    def count(self) -> int:
        return len(range(self.start, self.stop, self.step))

    def keep(self, start: int, stop: int, data: dict) -> np.ndarray:
        idx = np.arange(start, stop)
        return (idx >= self.start) & (idx < self.stop) & ((idx - self.start) % self.step == 0)


class ListRows(Rows):
    """Row numbers, strictly increasing (as H2O-3 requires: frames are not reordered)."""

    def __init__(self, nrow: int, rows: Sequence[int]) -> None:
        super().__init__(nrow)
        idx = np.asarray([r + nrow if r < 0 else r for r in rows], dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= nrow):
            raise FrameError(f"row numbers {list(rows)} outside 0..{nrow - 1}")
        if np.any(np.diff(idx) <= 0):
            raise FrameError("row numbers must be increasing (frames keep their row order); sort them first")
        self.idx = idx
        self.first, self.last = (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, 0)

    def keep(self, start: int, stop: int, data: dict) -> np.ndarray:
        out = np.zeros(stop - start, dtype=bool)
        lo, hi = np.searchsorted(self.idx, [start, stop])
        out[self.idx[lo:hi] - start] = True
        return out


class MaskRows(Rows):
    """Rows where a one-column 0/1 frame (a comparison) is 1; NA rows are not kept (as in H2O-3)."""

    def __init__(self, nrow: int, mask, where: str) -> None:
        super().__init__(nrow)
        if mask.ncol != 1:
            raise FrameError(f"{where}: a row mask has one column (a comparison), this one has {mask.ncol}")
        if mask.nrow != nrow:
            raise FrameError(f"{where}: the row mask has {mask.nrow} rows, the frame {nrow}")
        name = mask.names[0]
        st = mask.stats[name]
        binary = mask.type(name) in ("int", "real") and (
            st.get("na_count", 0) == nrow or (st["min"] in (0.0, 1.0) and st["max"] in (0.0, 1.0))
        )
        if not binary:
            raise FrameError(
                f"{where}: a row mask must hold only 0, 1 and NA (a comparison such as fr['x'] < 0.8); "
                f"column {name!r} is {mask.type(name)} from {st.get('min')} to {st.get('max')}"
            )
        self.inputs = ((mask, name),)

    def keep(self, start: int, stop: int, data: dict) -> np.ndarray:
        frame, name = self.inputs[0]
        return data[(id(frame), name)] == 1


class UniformRows(Rows):
    """Rows whose H2O-3 ``runif(seed)`` draw is in (low, high] (``split_frame``'s parts)."""

    def __init__(self, nrow: int, seed: int, low: float | None, high: float | None) -> None:
        super().__init__(nrow)
        self.seed, self.low, self.high = seed, low, high

    def keep(self, start: int, stop: int, data: dict) -> np.ndarray:
        u = uniform_rows(self.seed, start, stop)
        out = np.ones(stop - start, dtype=bool)
        if self.low is not None:
            out &= u > self.low
        if self.high is not None:
            out &= u <= self.high
        return out


def block_rows(ncols: int, chunk_rows: int) -> int:
    """Rows per block for reading ``ncols`` columns together: ``BLOCK_BYTES`` at most, a divisor of
    the file chunk (whole HDF5 chunks). Operations read one column at a time; display and SVMLight
    rows read several."""
    rows = chunk_rows
    while rows > MIN_BLOCK_ROWS and rows * 8 * max(1, ncols) > BLOCK_BYTES:
        rows //= 2
    return rows


class _Keeps:
    """The kept-row mask of each block, computed once (the mask column read once) and kept as bits."""

    def __init__(self, rows: Rows, reader) -> None:
        self.rows, self.reader, self.cache = rows, reader, {}

    def get(self, start: int, stop: int) -> np.ndarray | None:
        if self.rows.is_all:
            return None
        packed = self.cache.get(start)
        if packed is not None:
            return np.unpackbits(packed, count=stop - start).astype(bool)
        data = {(id(f), n): self.reader(f)([n], start, stop)[n] for f, n in self.rows.inputs}
        keep = self.rows.keep(start, stop, data)
        self.cache[start] = np.packbits(keep)
        return keep


@contextlib.contextmanager
def streams(cols: Sequence[Col], rows: Rows, chunk_rows: int) -> Iterator[Iterator[Iterator[np.ndarray]]]:
    """For each of ``cols`` in turn, its kept values block by block (a frame writer's ``columns``).

    Column at a time, in blocks of whole HDF5 chunks: each input chunk is read (decompressed) once per
    output column that needs it, and memory holds one block of one column's inputs, whatever the
    frame's width. Every input frame's file stays open (checked once) while the columns are written.
    """
    with contextlib.ExitStack() as stack:
        readers: dict[int, Callable] = {}

        def reader(frame) -> Callable:
            if id(frame) not in readers:
                readers[id(frame)] = stack.enter_context(frame.reader())
            return readers[id(frame)]

        keeps = _Keeps(rows, reader)

        def column(c: Col) -> Iterator[np.ndarray]:
            for start in range(rows.first, rows.last, chunk_rows):
                stop = min(rows.last, start + chunk_rows)
                values = c.fn(start, stop, *(reader(f)([n], start, stop)[n] for f, n in c.inputs))
                keep = keeps.get(start, stop)
                yield values if keep is None else values[keep]

        yield (column(c) for c in cols)
