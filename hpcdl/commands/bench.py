"""``hpcdl bench``: the Fashion-MNIST side-by-side benchmark (benchmarks/compare.py).

The benchmark scripts live in the source tree, not in the installed package, so this
command works from a checkout (``pip install -e .``); see docs/performance.md.
"""

from __future__ import annotations

import os
import subprocess
import sys


def _compare_script() -> str | None:
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(here, "benchmarks", "compare.py")
    return path if os.path.exists(path) else None


def cmd_bench(args) -> int:
    script = _compare_script()
    if script is None:
        print(
            "hpcdl bench: error: benchmarks/compare.py not found; run it from a source checkout (pip install -e .)",
            file=sys.stderr,
        )
        return 2
    frames = os.path.abspath(args.frames)
    missing = [
        p for p in ("fashion-mnist-train.h5", "fashion-mnist-test.h5") if not os.path.exists(os.path.join(frames, p))
    ]
    if missing:
        print(
            f"hpcdl bench: error: {frames} lacks {', '.join(missing)}; create them with "
            f"`hpcdl import --mnist-dir /usr/share/datasets/fashion-mnist --out {args.frames}` "
            "(apt-get install dataset-fashion-mnist)",
            file=sys.stderr,
        )
        return 2
    cmd = [
        sys.executable,
        script,
        "--frames",
        frames,
        "--threads",
        str(args.threads),
        "--epochs",
        f"{args.epochs:g}",
        "--systems",
        args.systems,
    ]
    for flag in ("out", "markdown"):
        if getattr(args, flag):
            cmd += [f"--{flag}", getattr(args, flag)]
    return subprocess.call(cmd)


def register(subparsers) -> None:
    s = subparsers.add_parser("bench", help="Fashion-MNIST benchmark: hpcdl vs H2O-3 vs PyTorch (source checkout)")
    s.add_argument("--frames", default="runs/frames", help="directory with fashion-mnist-{train,test}.h5")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--epochs", type=float, default=10)
    s.add_argument(
        "--systems",
        default="hpcdl,hpcdl-mpi,hpcdl-mb,torch,hpcdl-plain,torch-plain,h2o",
        help="comma-separated; missing reference systems are skipped",
    )
    s.add_argument("--out", help="JSON results file")
    s.add_argument("--markdown", help="Markdown table file")
    s.set_defaults(func=cmd_bench)
