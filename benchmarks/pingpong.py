"""How far apart are this machine's cores? Round trip of one cache line between two threads.

    python benchmarks/pingpong.py [--rounds 200000] [--repeats 3]

Two Numba threads take turns: each waits (spinning) until the other has written a new
number into its cache line, then writes its own. Printed: the median time of one
round trip (two one-way trips of a line from core to core) in nanoseconds.

Why: a per-sample team of threads (docs/kernels.md, "Threads") crosses cores at 7
barriers per sample on the booklet net, so its speed follows this latency. On the
2-vCPU benchmark VM it switches, for tens of seconds at a time, between ~105 ns and
~520 ns (the hypervisor moving the virtual CPUs), while one thread and MPI ranks do
not notice. benchmarks/threads.py runs this before every round and reports it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

from hpcdl.kernels.sync import cpu_relax, load_acquire, store_release  # noqa: E402
from hpcdl.threads import use_threads  # noqa: E402

OTHER = 16  # the second thread's counter: 128 bytes away, on a line of its own


@njit(parallel=True, cache=True)
def _pingpong(flags, n):
    for t in prange(2):
        mine, theirs = (0, OTHER) if t == 0 else (OTHER, 0)
        for i in range(n):
            if t == 0:
                store_release(flags, mine, i + 1)
            while load_acquire(flags, theirs) < i + 1:
                cpu_relax()
            if t == 1:
                store_release(flags, mine, i + 1)
    return 0


def round_trip_ns(rounds: int = 200_000, repeats: int = 3) -> float:
    """Median over ``repeats`` of the mean round trip in ns (needs 2 threads on 2 free cores)."""
    use_threads(2)
    flags = np.zeros(2 * OTHER, dtype=np.int64)
    _pingpong(flags, 10)  # compile and wake the threads
    times = []
    for _ in range(repeats):
        flags[:] = 0
        t0 = time.perf_counter()
        _pingpong(flags, rounds)
        times.append((time.perf_counter() - t0) / rounds * 1e9)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"{round_trip_ns(args.rounds, args.repeats):.0f}")


if __name__ == "__main__":
    main()
