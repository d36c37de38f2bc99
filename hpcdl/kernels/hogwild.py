"""The drivers: start the threads and hand each its part of the work.

The threads are Python threads, each calling a compiled kernel that releases the GIL
(``nogil=True``: _core.train_rows, _core.train_block, minibatch.train_block, the
inference kernels); thread 0 is the calling thread. They used to be the iterations of a
``parallel=True`` function's ``prange`` loop, and Numba's parallel lowering compiled and
optimized every kernel a second time inside it: 12.7 s of the first job's 55 s, and
5 s more for inference (docs/kernels.md, "Compiling"). A thread's start costs ~0.1 ms, a
driver call trains thousands of rows. ``kernels.train`` picks the driver in Python, so a
job compiles only the engine it uses. How many threads run is decided by the caller
(hpcdl/threads.py caps it at NUMBA_NUM_THREADS).

Per-sample training (mini_batch_size = 1) runs the threads as one team on every
sample (_core.train_rows), or, for nets too small for a team, HOGWILD! on different
rows (train_rows_apart); mini-batches run HOGWILD!: each thread on its own block of
rows, all updating the one shared state without locks. Every number handed to a kernel
is an np.int64 (or uint64 seed), so each kernel compiles one signature.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from . import _core, minibatch


def run_threads(work: Callable[[int], None], n_threads: int) -> None:
    """``work(t)`` for t = 0 .. n_threads - 1, all at once: t = 0 on the calling thread, the
    others on Python threads; raises the first error a thread raised. A per-sample team
    needs its members to run together (they wait for each other at barriers): one thread
    each, never a pool that could queue one behind another."""
    if n_threads <= 1:
        work(0)
        return
    errors: list[BaseException] = []

    def member(t: int) -> None:
        try:
            work(t)
        except BaseException as exc:  # re-raised on the calling thread below
            errors.append(exc)

    helpers = [
        threading.Thread(target=member, args=(t,), name=f"hpcdl-kernel-{t}", daemon=True) for t in range(1, n_threads)
    ]
    for helper in helpers:
        helper.start()
    # If work(0) raises, its error propagates at once: a kernel allocates nothing while the
    # others wait for it, so this is a bug's path; daemon helpers never hold the process.
    work(0)
    for helper in helpers:
        helper.join()
    if errors:
        raise errors[0]


def block(n_rows: int, part: int, n_parts: int) -> tuple[np.int64, np.int64]:
    """Rows [start, stop) of part ``part`` of ``n_parts`` nearly equal contiguous blocks."""
    return np.int64((n_rows * part) // n_parts), np.int64((n_rows * (part + 1)) // n_parts)


def train_team(state, lay, cfg, team, rows_scratch, X, T, rows, samples_before, n_threads, key_seed) -> int:
    """Train on X[rows] per sample with n_threads threads as one team (each must get a
    core of its own: the team waits at barriers). ``team`` and ``rows_scratch``:
    _core.team_buffers(lay, n_threads) and _core.scratches(lay, n_threads).

    Returns how many of the rows all threads trained together (fewer if the team fell
    back to one thread, see _core.train_rows)."""

    def member(t: int) -> None:
        _core.train_rows(
            state, lay, cfg, team, rows_scratch, X, T, rows, samples_before, key_seed, np.int64(t), n_threads
        )

    run_threads(member, int(n_threads))
    solo_at = int(team.sync[_core.SOLO_AT])
    return solo_at if solo_at > 0 else len(rows)


def train_rows_apart(state, lay, cfg, team, rows_scratch, X, T, rows, samples_before, n_threads, key_seed) -> int:
    """Per sample, HOGWILD!: thread t trains the t-th contiguous block of rows on its own,
    as a team of one (``team``: _core.team_buffers(lay, 1)), with its row of
    ``rows_scratch`` (_core.scratches(lay, n_threads)). For nets too small for a team
    (kernels.team_size), whose barriers would cost what splitting a sample saves.
    Returns the number of rows."""

    def part(t: int) -> None:
        start, stop = block(len(rows), t, int(n_threads))
        _core.train_rows(
            state, lay, cfg, team, rows_scratch, X, T, rows[start:stop], samples_before + start, key_seed,
            np.int64(t), np.int64(1),
        )  # fmt: skip

    run_threads(part, int(n_threads))
    return len(rows)


def train_blocks_blas(state, lay, cfg, X, T, rows, samples_before, n_threads, key_seed) -> int:
    """Mini-batches, BLAS engine: thread t trains the t-th contiguous block of rows
    (HOGWILD!). Returns the number of rows."""

    def part(t: int) -> None:
        start, stop = block(len(rows), t, int(n_threads))
        minibatch.train_block(
            state, lay, cfg, X, T, rows, start, stop, samples_before, n_threads, key_seed, np.int64(t)
        )

    run_threads(part, int(n_threads))
    return len(rows)


def train_blocks_loop(state, lay, cfg, X, T, rows, samples_before, n_threads, key_seed) -> int:
    """Mini-batches, plain-loop engine (engine="loop", for comparisons): as train_blocks_blas."""

    def part(t: int) -> None:
        start, stop = block(len(rows), t, int(n_threads))
        _core.train_block(state, lay, cfg, X, T, rows, start, stop, samples_before, n_threads, key_seed)

    run_threads(part, int(n_threads))
    return len(rows)


def in_blocks(kernel, n_rows: int, n_threads: int, *args) -> None:
    """Inference: ``kernel(*args, lo, hi)`` on n_threads contiguous blocks of the n_rows rows at
    once (at most one block per row)."""
    n_parts = max(1, min(int(n_rows), int(n_threads)))

    def part(t: int) -> None:
        kernel(*args, *block(n_rows, t, n_parts))

    run_threads(part, n_parts)
