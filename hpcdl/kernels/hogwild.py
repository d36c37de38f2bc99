"""The training drivers: start the threads and hand each its part of the work.

One parallel entry point per engine, and ``kernels.train`` picks one in Python, so a
job compiles only the engine it uses (docs/kernels.md, "Compiling"): with one driver
for all three, the first job compiled every engine, 75-112 s on the 2-core machine,
for a per-sample job that needed a third of it.

Per-sample training (mini_batch_size = 1) runs the threads as one team on every
sample (_core.train_rows), or, for nets too small for a team, HOGWILD! on different
rows (train_rows_apart); mini-batches run HOGWILD!: each thread on its own block of
rows, all updating the one shared state without locks.

The loop index is cast to int64 before it reaches a callee: Numba types a prange index
as int64 while it types the function and as uint64 in the parallel loop's body, so an
uncast index compiled every callee twice (one signature each; +12 s for the per-sample
engine alone, numba 0.68). Each loop body is a single call: with both mini-batch
engines written out in one body, the per-sample engine ran 7% slower (measured A/B in
one process, 1 thread).
"""

import numpy as np
from numba import njit, prange

from . import _core, minibatch


@njit(parallel=True, **_core.JIT)
def train_team(state, lay, cfg, team, rows_scratch, X, T, rows, samples_before, n_threads, key_seed):
    """Train on X[rows] per sample with n_threads threads as one team (each must get a
    core of its own: the team waits at barriers). ``team`` and ``rows_scratch``:
    _core.team_buffers(lay, n_threads) and _core.scratches(lay, n_threads), built outside
    (a record created inside a parallel function is unknown to its parallel loop, and
    one record inside another cannot enter it; numba 0.68).

    Returns how many of the rows all threads trained together (fewer if the team fell
    back to one thread, see _core.train_rows)."""
    for t in prange(n_threads):
        _core.train_rows(
            state, lay, cfg, team, rows_scratch, X, T, rows, samples_before, key_seed, np.int64(t), n_threads
        )
    solo_at = team.sync[_core.SOLO_AT]
    return solo_at if solo_at > 0 else len(rows)


@njit(parallel=True, **_core.JIT)
def train_blocks_blas(state, lay, cfg, X, T, rows, samples_before, n_threads, key_seed):
    """Mini-batches, BLAS engine: thread t trains the t-th contiguous block of rows
    (HOGWILD!). Returns the number of rows."""
    n_rows = len(rows)
    for t in prange(n_threads):
        part = np.int64(t)
        start = (n_rows * part) // n_threads
        stop = (n_rows * (part + 1)) // n_threads
        minibatch.train_block(state, lay, cfg, X, T, rows, start, stop, samples_before, n_threads, key_seed, part)
    return n_rows


@njit(parallel=True, **_core.JIT)
def train_blocks_loop(state, lay, cfg, X, T, rows, samples_before, n_threads, key_seed):
    """Mini-batches, plain-loop engine (engine="loop", for comparisons): as train_blocks_blas."""
    n_rows = len(rows)
    for t in prange(n_threads):
        part = np.int64(t)
        start = (n_rows * part) // n_threads
        stop = (n_rows * (part + 1)) // n_threads
        _core.train_block(state, lay, cfg, X, T, rows, start, stop, samples_before, n_threads, key_seed)
    return n_rows


@njit(parallel=True, **_core.JIT)
def train_rows_apart(state, lay, cfg, team, rows_scratch, X, T, rows, samples_before, n_threads, key_seed):
    """Per sample, HOGWILD!: thread t trains the t-th contiguous block of rows on its own,
    as a team of one (``team``: _core.team_buffers(lay, 1)), with its row of
    ``rows_scratch`` (_core.scratches(lay, n_threads)). For nets too small for a team
    (kernels.team_size), whose barriers would cost what splitting a sample saves.
    Returns the number of rows."""
    n_rows = len(rows)
    for t in prange(n_threads):
        part = np.int64(t)
        start = (n_rows * part) // n_threads
        stop = (n_rows * (part + 1)) // n_threads
        _core.train_rows(
            state, lay, cfg, team, rows_scratch, X, T, rows[start:stop], samples_before + start, key_seed, part,
            np.int64(1),
        )  # fmt: skip
    return n_rows
