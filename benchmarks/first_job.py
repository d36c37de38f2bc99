"""The first job after install: `hpcdl train JOB` with an empty Numba cache (issue 24 goal 1).

    python benchmarks/first_job.py [--job jobs/prostate.toml] [--src DIR ...] [--runs 1] [--events]

Each run starts a fresh process with ``NUMBA_CACHE_DIR`` pointing at a new empty folder and
``--output-dir`` at a new one, and reports its wall time and peak RSS (the child's
``ru_maxrss``). ``--src`` (repeatable) runs the hpcdl of another source tree (e.g. an
exported copy of main), so that before and after alternate in one run: the first source,
then the second, round after round. ``--events``: the child records Numba's
``numba:compile`` events and prints, per compiled function, the seconds it took with and
without the functions compiled inside it (the ``self`` column adds up to the total).
Run it under ``/work/bin/quiet``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Runs in the child: the CLI with a listener on Numba's compile events.
CHILD = r"""
import sys, time
from numba.core import event
stack, rows = [], {}
class L(event.Listener):
    def on_start(self, ev):
        stack.append([ev.data["dispatcher"].py_func.__qualname__, time.perf_counter(), 0.0])
    def on_end(self, ev):
        name, t0, inner = stack.pop()
        took = time.perf_counter() - t0
        if stack:
            stack[-1][2] += took
        total, own, n = rows.get(name, (0.0, 0.0, 0))
        rows[name] = (total + took, own + took - inner, n + 1)
event.register("numba:compile", L())
from hpcdl.cli import main
try:
    main(sys.argv[1:])
finally:
    print(f"{'function':32s} {'n':>3s} {'total s':>8s} {'self s':>8s}", file=sys.stderr)
    for name, (total, own, n) in sorted(rows.items(), key=lambda r: -r[1][1]):
        print(f"{name:32s} {n:3d} {total:8.2f} {own:8.2f}", file=sys.stderr)
    print(f"{'(all, self)':32s} {'':3s} {'':8s} {sum(r[1] for r in rows.values()):8.2f}", file=sys.stderr)
"""


def one_run(src: str, job: str, events: bool) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one first job from source tree ``src``."""
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache, tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=src)
        args = ["train", os.path.abspath(job), "--output-dir", out]
        cmd = [sys.executable, "-c", CHILD, *args] if events else [sys.executable, "-m", "hpcdl.cli", *args]
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, cwd=src)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS (KB on Linux)
        wall = time.perf_counter() - t0
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"{src}: hpcdl train exited with {child.returncode}")
        return wall, usage.ru_maxrss / 1024.0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--job", default=os.path.join(ROOT, "jobs", "prostate.toml"))
    ap.add_argument("--src", action="append", help="source tree(s) to compare (default: this one)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--events", action="store_true", help="print Numba's compile events per function")
    a = ap.parse_args(argv)
    sources = a.src or [ROOT]
    print(f"job {a.job}; {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for r in range(a.runs):
        for src in sources:
            wall, rss = one_run(src, a.job, a.events)
            print(f"round {r + 1}  {src:40s} wall {wall:6.1f} s  peak RSS {rss:6.0f} MB", flush=True)


if __name__ == "__main__":
    main()
