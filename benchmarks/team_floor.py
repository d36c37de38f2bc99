"""The best a per-sample team of two threads can do on this machine, right now.

    python benchmarks/team_floor.py [--sample-us 34] [--rounds 5] [--samples 20000]

A synthetic team, without any of the real kernels' imbalance: per "sample" one thread
alone does a fixed amount of private arithmetic (calibrated to --sample-us, the booklet
net's one-thread sample); a team of two does half of it each, in E equal phases, and
after each phase writes L cache lines of its own results, meets the other at a barrier
(hpcdl.kernels.sync, the team's own) and reads the other's L lines. Printed per round:
the cores' round trip (benchmarks/pingpong.py), and the team's speed-up over the one
thread for the exchange patterns of the per-sample engine today (E=7 exchanges of L=7
lines, the booklet net), of the column/row-split design in docs/performance.md (E=3,
L=13), and of a single exchange per sample.

Why: issue 18 asks for 2 threads >= 1.7x one thread in each of 10 runs; on the 2-vCPU
benchmark VM the cores are, for tens of seconds at a time, ~105 ns or ~520 ns apart.
What a perfectly balanced team with a given exchange pattern gets in each state is the
most a per-sample split with that pattern can get; the real team's distance from it is
what its kernels lose elsewhere (docs/performance.md, "What the exchanges cost, at best").
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402
from pingpong import round_trip_ns  # noqa: E402

from hpcdl.kernels.sync import SYNC_STRIDE, barrier  # noqa: E402
from hpcdl.threads import use_threads  # noqa: E402

LINE = 16  # float32 per 64-byte cache line
PATTERNS = (("today (booklet net)", 7, 7), ("column/row split", 3, 13), ("one exchange", 1, 13))


@njit(cache=True)
def _work(x, n_dots):
    """n_dots dot products of a private 256-vector with itself: arithmetic on the
    member's own cache lines, the stand-in for its half of a layer."""
    acc = np.float32(0.0)
    for _ in range(n_dots):
        for i in range(x.size):
            acc += x[i] * x[i]
    return acc


@njit(parallel=True, cache=True)
def _team(sync, shared, private, n_samples, n_exch, n_lines, dots_per_phase):
    """Two members; shared[p, member, :]: a member's lines for phase p, two rows by sample
    parity so a fast member never overwrites what the other still reads."""
    out = np.zeros(2, dtype=np.float32)
    for member in prange(2):
        other = 1 - member
        x = private[member]
        epoch = 0
        acc = np.float32(0.0)
        for s in range(n_samples):
            for p in range(n_exch):
                acc += _work(x, dots_per_phase)
                row = 2 * p + (s & 1)
                for i in range(n_lines * LINE):
                    shared[row, member, i] = acc + i
                epoch, _ = barrier(sync, member, 2, epoch)
                for i in range(n_lines * LINE):
                    acc += shared[row, other, i] * np.float32(1e-9)
        out[member] = acc
    return out


@njit(cache=True)
def _solo(private, n_samples, dots_per_sample):
    acc = np.float32(0.0)
    for _ in range(n_samples):
        acc += _work(private[0], dots_per_sample)
    return acc


def _private():
    return np.full((2, 256), 0.5, dtype=np.float32)  # a row per member, 1,024 bytes: no shared line


def calibrate(sample_us: float) -> int:
    """Dots per one-thread sample so that a sample takes ``sample_us``."""
    private = _private()
    _solo(private, 10, 10)
    n = 2000
    t0 = time.perf_counter()
    _solo(private, n, 100)
    per_dot_us = (time.perf_counter() - t0) / (n * 100) * 1e6
    return max(2, round(sample_us / per_dot_us))


def speedup(n_exch: int, n_lines: int, dots: int, n_samples: int) -> tuple[float, float]:
    """(one-thread us per sample, team speed-up) for one exchange pattern."""
    private = _private()
    per_phase = max(1, dots // (2 * n_exch))
    t0 = time.perf_counter()
    _solo(private, n_samples, 2 * n_exch * per_phase)
    solo = time.perf_counter() - t0
    sync = np.zeros(2 * SYNC_STRIDE, dtype=np.int64)
    shared = np.zeros((2 * n_exch, 2, n_lines * LINE + 32), dtype=np.float32)
    t0 = time.perf_counter()
    _team(sync, shared, private, n_samples, n_exch, n_lines, per_phase)
    team = time.perf_counter() - t0
    return solo / n_samples * 1e6, solo / team


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample-us", type=float, default=34.0, help="one thread's time per sample (booklet net: ~34)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--samples", type=int, default=20_000)
    args = ap.parse_args()
    use_threads(2)
    dots = calibrate(args.sample_us)
    sync = np.zeros(2 * SYNC_STRIDE, dtype=np.int64)
    _team(sync, np.zeros((2, 2, 32), dtype=np.float32), _private(), 10, 1, 1, 1)  # compile, wake threads
    print("round | round trip ns | " + " | ".join(f"{name} E={e} L={n}" for name, e, n in PATTERNS))
    for r in range(1, args.rounds + 1):
        rt = round_trip_ns(100_000, 1)
        cells = []
        for _, e, n in PATTERNS:
            us, x = speedup(e, n, dots, args.samples)
            cells.append(f"{x:.2f}x ({us:.0f} us)")
        print(f"{r} | {rt:.0f} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
