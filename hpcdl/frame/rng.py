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
        first, state = _next_long_low(_seeded(seeds))
        second, _ = _next_long_low(state)
    high = (first & np.uint32((1 << 26) - 1)).astype(np.uint64)
    low = (second & np.uint32((1 << 27) - 1)).astype(np.uint64)
    draws = ((high << np.uint64(27)) + low).astype(np.float64) * (1.0 / (1 << 53))
    return draws < fraction


def random_seed() -> int:
    """A seed for ``seed=None`` (H2O-3 draws one too): a non-negative 63-bit integer."""
    return secrets.randbits(63)
