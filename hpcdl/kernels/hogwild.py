"""The one training driver: starts the threads and hands each its part of the work.

Per-sample training (mini_batch_size = 1) runs the threads as one team on every
sample (_core.train_rows); mini-batches run HOGWILD!: each thread on its own block of
rows, all updating the one shared state without locks.
"""

from numba import njit, prange

from . import _core, minibatch


@njit(**_core.JIT)
def _train_block(state, lay, cfg, X, T, rows, start, stop, samples_before, n_threads, key_seed, part, blas):
    """One thread's rows[start:stop] in mini-batches, with the chosen engine.

    A function of its own so that the parallel loop's body is one call: with both
    engines written out in the loop body, the per-sample engine ran 7% slower
    (measured A/B in one process, 1 thread)."""
    if blas:
        minibatch.train_block(state, lay, cfg, X, T, rows, start, stop, samples_before, n_threads, key_seed, part)
    else:
        _core.train_block(state, lay, cfg, X, T, rows, start, stop, samples_before, n_threads, key_seed)


@njit(parallel=True, **_core.JIT)
def train_hogwild(state, lay, cfg, team, rows_scratch, X, T, rows, samples_before, n_threads, key_seed, blas):
    """Train on X[rows] with n_threads threads (each must get a core of its own: the
    per-sample team waits at barriers). ``team`` and ``rows_scratch``:
    _core.team_buffers(lay, n_threads) and _core.scratches(lay, n_threads), built
    outside (a record created inside a parallel function is unknown to its parallel
    loop, and one record inside another cannot enter it; numba 0.68). ``blas`` picks the BLAS mini-batch engine
    (mini_batch_size > 1) over the loops.

    Per sample with a ``team`` of one member and n_threads > 1 (nets too small for a team,
    kernels.team_size), thread t trains the t-th contiguous block of rows on its own
    (HOGWILD!), with its row of ``rows_scratch`` (_core.scratches(lay, n_threads)).

    Returns how many of the rows all threads trained together (per-sample engine: fewer
    if the team fell back to one thread, see _core.train_rows)."""
    n_rows = len(rows)
    members = team.split.shape[1] - 1
    if cfg.mini_batch_size <= 1 and members == n_threads:
        for t in prange(n_threads):
            _core.train_rows(state, lay, cfg, team, rows_scratch, X, T, rows, samples_before, key_seed, t, n_threads)
        solo_at = team.sync[_core.SOLO_AT]
        return solo_at if solo_at > 0 else n_rows
    if cfg.mini_batch_size <= 1:  # a team of one: HOGWILD! per sample (small nets, see kernels.team_size)
        for t in prange(n_threads):
            start = (n_rows * t) // n_threads
            stop = (n_rows * (t + 1)) // n_threads
            _core.train_rows(
                state, lay, cfg, team, rows_scratch, X, T, rows[start:stop], samples_before + start, key_seed, t, 1
            )
        return n_rows
    for t in prange(n_threads):
        start = (n_rows * t) // n_threads
        stop = (n_rows * (t + 1)) // n_threads
        _train_block(state, lay, cfg, X, T, rows, start, stop, samples_before, n_threads, key_seed, t, blas)
    return n_rows
