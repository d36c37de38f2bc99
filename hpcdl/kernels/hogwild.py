"""The one HOGWILD! driver: threads train on the one shared state without locks."""

from numba import njit, prange

from . import _core, minibatch


@njit(**_core.JIT)
def _train_block(state, lay, cfg, X, T, rows, start, stop, samples_before, n_threads, key_seed, part, blas):
    """One thread's rows[start:stop] with the chosen engine.

    A function of its own so that the parallel loop's body is one call: with both
    engines written out in the loop body, the per-sample engine ran 7% slower
    (measured A/B in one process, 1 thread)."""
    if blas:
        minibatch.train_block(state, lay, cfg, X, T, rows, start, stop, samples_before, n_threads, key_seed, part)
    else:
        _core.train_block(state, lay, cfg, X, T, rows, start, stop, samples_before, n_threads, key_seed, part)


@njit(parallel=True, **_core.JIT)
def train_hogwild(state, lay, cfg, X, T, rows, samples_before, n_threads, key_seed, blas):
    """Train on X[rows] with n_threads threads, thread t on the t-th contiguous block of
    rows; ``blas`` picks the BLAS mini-batch engine (mini_batch_size > 1) over the loops."""
    n_rows = len(rows)
    for t in prange(n_threads):
        start = (n_rows * t) // n_threads
        stop = (n_rows * (t + 1)) // n_threads
        _train_block(state, lay, cfg, X, T, rows, start, stop, samples_before, n_threads, key_seed, t, blas)
