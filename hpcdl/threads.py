"""Thread control for one rank: how many Numba (HOGWILD!) threads run, and BLAS kept
to one thread inside them.

How many threads a rank should use is decided elsewhere (``train.resolve_threads``);
this module only applies a decision. BLAS libraries are found and limited through
threadpoolctl, which knows every OpenBLAS/MKL/BLIS build by name.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numba
import numpy as np


def use_threads(n: int) -> int:
    """Run Numba's parallel regions on n threads, at most NUMBA_NUM_THREADS (the pool
    size fixed at start-up); returns the number set."""
    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    return n


def use_all_threads() -> int:
    """Every thread of Numba's pool (inference, which has no shared writes)."""
    return use_threads(numba.config.NUMBA_NUM_THREADS)


# Threading layers that run the n iterations of prange(n) on n threads at once (one
# task per thread). TBB may run two iterations one after the other on one thread, which
# would leave a per-sample team waiting at its first barrier for ever.
_CONCURRENT_LAYERS = ("workqueue", "omp")


@numba.njit(parallel=True, cache=True)
def _start_pool(out):
    for i in numba.prange(len(out)):
        out[i] = i


def team_threads(n: int) -> int:
    """Threads for the per-sample engine, whose threads wait for each other: n (already
    capped by use_threads) if Numba's threading layer runs them all at once, else 1
    with a warning."""
    if n <= 1:
        return 1
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet: the layer is chosen on the first
        _start_pool(np.zeros(2, dtype=np.int64))
        layer = numba.threading_layer()
    if layer in _CONCURRENT_LAYERS:
        return n
    warnings.warn(
        f"per-sample training runs its {n} threads as one team, which needs Numba's workqueue or omp "
        f"threading layer (NUMBA_THREADING_LAYER), not {layer!r}: training on 1 thread",
        RuntimeWarning,
        stacklevel=3,
    )
    return 1


_controller = None


def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, found once. scipy's BLAS is
    loaded first: it is the one Numba's np.dot calls (the BLAS mini-batch engine)."""
    global _controller
    if _controller is None:
        import scipy.linalg.cython_blas  # noqa: F401 - loads the BLAS Numba's np.dot uses
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def blas_thread_counts() -> list[int]:
    """Threads of every BLAS library loaded in this process (for checks and tests)."""
    return [lib.num_threads for lib in _blas_controller().select(user_api="blas").lib_controllers]


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the block with every loaded BLAS limited to n threads, then restore."""
    with _blas_controller().limit(limits=int(n), user_api="blas"):
        yield
