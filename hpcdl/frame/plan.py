"""How a frame operation streams: output columns as functions of input blocks, rows as selections.

An operation is a list of :class:`Col` (each computes its values for a block of input
rows from the blocks of the input columns it names) and a :class:`Rows` (which of
those rows go out). :func:`blocks` reads every input frame through one open file per
frame (``frame.reader()``) in blocks of at most ``BLOCK_BYTES`` and yields the output
blocks a frame writer appends, so an operation's memory is bounded by a block
whatever the frame's size. Nothing here writes files (``ops`` does, through the frame
class).
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
    """Rows per block: ``BLOCK_BYTES`` of input at most, a divisor of the file chunk (whole HDF5 chunks)."""
    rows = chunk_rows
    while rows > MIN_BLOCK_ROWS and rows * 8 * max(1, ncols) > BLOCK_BYTES:
        rows //= 2
    return rows


def blocks(cols: Sequence[Col], rows: Rows, chunk_rows: int) -> Iterator[list[np.ndarray]]:
    """The output blocks of ``cols`` over the rows ``rows`` keeps (one array per column each)."""
    needs: dict[int, tuple[object, list[str]]] = {}
    for frame, name in [pair for c in cols for pair in c.inputs] + list(rows.inputs):
        names = needs.setdefault(id(frame), (frame, []))[1]
        if name not in names:
            names.append(name)
    step = block_rows(sum(len(n) for _, n in needs.values()), chunk_rows)
    with contextlib.ExitStack() as stack:
        readers = {key: (stack.enter_context(frame.reader()), names) for key, (frame, names) in needs.items()}
        for start in range(rows.first, rows.last, step):
            stop = min(rows.last, start + step)
            data = {}
            for key, (read, names) in readers.items():
                for name, values in read(names, start, stop).items():
                    data[(key, name)] = values
            keep = rows.keep(start, stop, data)
            out = []
            for c in cols:
                v = c.fn(start, stop, *(data[(id(f), n)] for f, n in c.inputs))
                out.append(v if keep is None else v[keep])
            yield out
