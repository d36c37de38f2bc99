"""Time H2O-3-style frame munging on a wide and a tall frame, with the process's peak memory.

    python benchmarks/frame_ops.py [--wide-rows 60000] [--wide-cols 785] [--tall-rows 5000000]

The wide frame has MNIST's shape (float32 pixels, mostly 0, and an int label); the tall one three
columns. Each operation is timed once (wall seconds; other users' load makes it slower: the
1-minute load average is printed), then the peak resident memory of the process. Frames are
written to a temporary directory and removed at exit. Numbers are in docs/frame-format.md
("Derived frames").
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import numpy as np

from hpcdl.frame import FrameWriter


def _timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    print(f"  {label:<40} {time.perf_counter() - t:6.1f} s")
    return out


def _write(path: str, names, types, dtypes, make_block, nrow: int):
    writer = FrameWriter(path, names, types, float_dtype=dtypes)
    with writer:
        for start in range(0, nrow, 1 << 16):
            writer.append(make_block(min(1 << 16, nrow - start)))
    return writer.close()


def wide(directory: str, nrow: int, ncol: int) -> None:
    rng = np.random.default_rng(0)

    def block(k):
        pixels = [(rng.integers(0, 256, k) * (rng.random(k) < 0.2)).astype(np.float32) for _ in range(ncol - 1)]
        return [*pixels, rng.integers(0, 10, k).astype(float)]

    names = [f"C{j + 1}" for j in range(ncol - 1)] + ["label"]
    fr = _write(
        os.path.join(directory, "wide.h5"),
        names,
        ["real"] * (ncol - 1) + ["int"],
        ["float32"] * (ncol - 1) + ["float64"],
        block,
        nrow,
    )
    print(f"wide frame: {nrow} x {ncol}")

    def assign():
        fr["label"] = fr["label"].asfactor()

    _timed('fr["label"] = fr["label"].asfactor()', assign)
    _timed("fr.split_frame(ratios=[0.8], seed=1)", lambda: fr.split_frame(ratios=[0.8], seed=1))
    _timed('fr[fr["C300"] > 100]', lambda: fr[fr["C300"] > 100])


def tall(directory: str, nrow: int) -> None:
    rng = np.random.default_rng(0)

    def block(k):
        return [rng.normal(size=k), rng.integers(0, 100, k).astype(float), rng.integers(0, 2, k).astype(float)]

    fr = _write(os.path.join(directory, "tall.h5"), ["x", "k", "y"], ["real", "int", "int"], None, block, nrow)
    print(f"tall frame: {nrow} x 3")

    def assign():
        fr["y"] = fr["y"].asfactor()

    def masked():
        fr[fr["x"] < -2, "x"] = float("nan")

    _timed('fr["y"] = fr["y"].asfactor()', assign)
    _timed("fr.split_frame(ratios=[0.8], seed=1)", lambda: fr.split_frame(ratios=[0.8], seed=1))
    _timed('fr[(fr["x"] > 1) & (fr["k"] < 50)]', lambda: fr[(fr["x"] > 1) & (fr["k"] < 50)])
    _timed('fr[fr["x"] < -2, "x"] = nan', masked)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wide-rows", type=int, default=60000)
    ap.add_argument("--wide-cols", type=int, default=785)
    ap.add_argument("--tall-rows", type=int, default=5_000_000)
    args = ap.parse_args()
    print(f"load average (1 min): {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="hpcdl-frame-ops-") as directory:
        wide(directory, args.wide_rows, args.wide_cols)
        tall(directory, args.tall_rows)
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    print(f"load average (1 min): {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
