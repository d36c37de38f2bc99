"""H2O-3's per-row random draws, so that a seed selects the same rows as in H2O-3.

H2O-3 seeds its PCG generator (``water.util.RandomUtils.PCGRNG``, stream 1) once
per row: ``runif(seed)`` gives row ``i`` the first ``nextFloat()`` after
``setSeed(seed + i)`` (``Vec.makeRand``), and ``insert_missing_values`` makes cell
``(row i, column c)`` NA when the first ``nextDouble()`` after
``setSeed((seed + 1234 c) ^ (1723 i))`` is below the fraction
(``FrameUtils.MissingInserter``). A draw depends only on the seed and the global row
number, never on how rows are split into chunks or ranks, so any block of rows can
be drawn on its own. The arithmetic is Java's: 64-bit wrap-around, unsigned shifts,
``nextFloat() = next(24) / 2**24`` and ``nextDouble() = (next(26) * 2**27 + next(27)) / 2**53``
with ``next(bits)`` the low bits of ``nextLong()``.
"""

from __future__ import annotations

import secrets

import numpy as np

_MULT = np.uint64(6364136223846793005)
_INC = np.uint64(3)  # (stream 1 << 1) | 1
_MASK64 = (1 << 64) - 1


def _advance(state: np.ndarray) -> np.ndarray:
    return state * _MULT + _INC


def _output(old: np.ndarray) -> np.ndarray:
    """PCG-XSH-RR: the 32-bit output of the step that leaves ``old``."""
    xorshifted = ((((old >> np.uint64(18)) ^ old) >> np.uint64(27)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    rot = (old >> np.uint64(59)).astype(np.uint32)
    return (xorshifted >> rot) | (xorshifted << ((np.uint32(32) - rot) & np.uint32(31)))


def _seeded(seeds: np.ndarray) -> np.ndarray:
    """The state after ``setSeed(seed)``: state 0, one step, add the seed, one step."""
    return _advance(_INC + seeds)


def _next_long_low(state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low 32 bits of ``nextLong()``, the state after it): the second of its two ``nextInt()`` calls."""
    second = _advance(state)  # the first nextInt() leaves this state; its output is the high half
    return _output(second), _advance(second)


def uniform_rows(seed: int, start: int, stop: int) -> np.ndarray:
    """H2O-3's ``runif(seed)`` values of rows [start, stop) (float64 holding Java floats in [0, 1))."""
    with np.errstate(over="ignore"):
        seeds = np.arange(start, stop, dtype=np.uint64) + np.uint64(int(seed) & _MASK64)
        low, _ = _next_long_low(_seeded(seeds))
    bits = low & np.uint32(0xFFFFFF)
    return (bits.astype(np.float32) / np.float32(1 << 24)).astype(np.float64)


def missing_cells(seed: int, column: int, start: int, stop: int, fraction: float) -> np.ndarray:
    """Which rows [start, stop) of column ``column`` H2O-3's ``insert_missing_values`` makes NA."""
    with np.errstate(over="ignore"):
        rows = np.arange(start, stop, dtype=np.uint64)
        seeds = np.uint64((int(seed) + 1234 * int(column)) & _MASK64) ^ (np.uint64(1723) * rows)
        draws, _ = next_double(_seeded(seeds))
    return draws < fraction


def random_seed() -> int:
    """A seed for ``seed=None`` (H2O-3 draws one too): a non-negative 63-bit integer."""
    return secrets.randbits(63)


# -- h2o.create_frame (water/fvec/FrameCreator.java, water/util/ArrayUtils.shuffleArray) ----------
def _next_int(state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(``nextInt()`` as an unsigned 32-bit value, the state after it)."""
    return _output(state), _advance(state)


def _next_long(state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(``nextLong()`` as uint64 bits, the state after it): ``(nextInt() << 32) | (nextInt() & 0xFFFFFFFF)``."""
    hi, state = _next_int(state)
    lo, state = _next_int(state)
    return (hi.astype(np.uint64) << np.uint64(32)) | lo.astype(np.uint64), state


def frame_cells(seed: int, ncols: int, column: int, nrow: int) -> np.ndarray:
    """The generator state of each cell of ``column`` (rows 0..nrow-1) in ``create_frame``:
    ``setSeed(seed + ncols * row + column)`` then ``setSeed(nextLong())`` (``FrameRandomizer.setSeed``)."""
    with np.errstate(over="ignore"):
        rows = np.arange(nrow, dtype=np.uint64)
        value, _ = _next_long(_seeded(np.uint64(int(seed) & _MASK64) + np.uint64(ncols) * rows + np.uint64(column)))
        return _seeded(value)


def next_double(state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Java's ``nextDouble()`` of each state, the states after it)."""
    with np.errstate(over="ignore"):
        first, state = _next_long_low(state)
        second, state = _next_long_low(state)
    high = (first & np.uint32((1 << 26) - 1)).astype(np.uint64)
    low = (second & np.uint32((1 << 27) - 1)).astype(np.uint64)
    return ((high << np.uint64(27)) + low).astype(np.float64) * (1.0 / (1 << 53)), state


def next_float(state: np.ndarray) -> np.ndarray:
    """Java's ``nextFloat()`` of each state (float64 holding the float)."""
    with np.errstate(over="ignore"):
        low, _ = _next_long_low(state)
    return ((low & np.uint32(0xFFFFFF)).astype(np.float32) / np.float32(1 << 24)).astype(np.float64)


def next_long(state: np.ndarray) -> np.ndarray:
    """Java's ``nextLong()`` of each state, as int64."""
    with np.errstate(over="ignore"):
        value, _ = _next_long(state)
    return value.view(np.int64)


def shuffled(values: list[int], seed: int) -> list[int]:
    """``ArrayUtils.shuffleArray(a, n, result, seed, 0)`` with H2O-3's PCG generator. Its ``nextInt(bound)``
    rejects draws below ``-bound % bound``, which is 0 in Java's signed arithmetic: a plain ``r % bound``."""
    out = list(values[:1])
    with np.errstate(over="ignore"):
        state = _seeded(np.array([int(seed) & _MASK64], dtype=np.uint64))
        for i in range(1, len(values)):
            r, state = _next_int(state)
            j = int(r[0]) % (i + 1)
            out.append(out[j] if j != i else 0)
            out[j] = values[i]
    return out
