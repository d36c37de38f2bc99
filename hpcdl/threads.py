"""Thread control for one rank: how many Numba (HOGWILD!) threads run, and BLAS kept
to one thread inside them.

How many threads a rank should use is decided elsewhere (``train.resolve_threads``);
this module only applies a decision. BLAS libraries are found and limited through
threadpoolctl, which knows every OpenBLAS/MKL/BLIS build by name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numba


def use_threads(n: int) -> int:
    """Run Numba's parallel regions on n threads, at most NUMBA_NUM_THREADS (the pool
    size fixed at start-up); returns the number set."""
    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    return n


def use_all_threads() -> int:
    """Every thread of Numba's pool (inference, which has no shared writes)."""
    return use_threads(numba.config.NUMBA_NUM_THREADS)


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
