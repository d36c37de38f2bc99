"""The first job after install: `hpcdl train JOB` with an empty Numba cache (issue 24 goal 1).

    python benchmarks/first_job.py [--job jobs/prostate.toml] [--src DIR ...] [--runs 1] [--events]
    python benchmarks/first_job.py --helper per-sample [--src DIR ...]   # the helper's compile alone
    python benchmarks/first_job.py --speed [--src DIR ...] [--runs 2]    # trained speed, warm cache

Each run starts a fresh process with ``NUMBA_CACHE_DIR`` pointing at a new empty folder and
``--output-dir`` at a new one, and reports its wall time and peak RSS (the child's
``ru_maxrss``). ``--src`` (repeatable) runs the hpcdl of another source tree (e.g. an
exported copy of main), so that before and after alternate in one run: the first source,
then the second, round after round. ``--events``: the child records Numba's
``numba:compile`` events and prints, per compiled function, the seconds it took with and
without the functions compiled inside it (the ``self`` column adds up to the total).
``--helper ENGINE``: what the helper process compiles (that engine's training kernel), alone,
with the same events. ``--speed``: samples/s of each source's kernels once compiled (each
source its own cache), to check that a change to the compile leaves the trained code as fast.
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

# Runs in the child: a listener on Numba's compile events, then the CLI (or, ``--helper``,
# what warm_up's helper process runs: one engine's training kernel alone).
LISTEN = r"""
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
def report():
    print(f"{'function':32s} {'n':>3s} {'total s':>8s} {'self s':>8s}", file=sys.stderr)
    for name, (total, own, n) in sorted(rows.items(), key=lambda r: -r[1][1]):
        print(f"{name:32s} {n:3d} {total:8.2f} {own:8.2f}", file=sys.stderr)
    print(f"{'(all, self)':32s} {'':3s} {'':8s} {sum(r[1] for r in rows.values()):8.2f}", file=sys.stderr)
"""
CHILD = (
    LISTEN
    + r"""
from hpcdl.cli import main
try:
    main(sys.argv[1:])
finally:
    report()
"""
)
HELPER = (
    LISTEN
    + r"""
t0 = time.perf_counter()
from hpcdl.kernels import compile_engine
compile_engine(sys.argv[1])
print(f"{sys.argv[1]}: training kernel compiled alone in {time.perf_counter() - t0:.2f} s (import included)", file=sys.stderr)
report()
"""
)
# ``--speed``: samples/s of the compiled kernels (per sample; predict), best of 3, warm cache.
SPEED = r"""
import sys, time
import numpy as np
from hpcdl.kernels import PROBE_HYPER, Net, predict, train
for units, act, rows, threads in [([14, 32, 2], "Tanh", 200000, 1), ([14, 32, 2], "Rectifier", 200000, 1),
        ([7, 50, 50, 2], "Tanh", 100000, 1), ([784, 200, 200, 200, 10], "Rectifier", 5000, 1),
        ([784, 200, 200, 200, 10], "Tanh", 5000, 2)]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, units[0])).astype(np.float32)
    T = rng.integers(0, units[-1], rows).astype(np.float32)
    net, hyper = Net(units, act, "softmax", adaptive_rate=True, momentum=False), PROBE_HYPER
    train(net, hyper, X[:2], T[:2], np.arange(2), seed=1, samples_before=0, n_threads=threads)
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        train(net, hyper, X, T, rng.permutation(rows), seed=1, samples_before=0, n_threads=threads)
        best = max(best, rows / (time.perf_counter() - t))
    t = time.perf_counter()
    predict(net, hyper, X)
    scored = rows / (time.perf_counter() - t)
    print(f"{str(units):24s} {act:10s} {threads} thread(s): train {best / 1e3:7.1f}k/s  predict {scored / 1e3:7.1f}k/s")
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


def helper_alone(src: str, engine: str) -> None:
    """What warm_up's helper process does, alone, empty cache, with the compile events."""
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=src)
        subprocess.run([sys.executable, "-c", HELPER, engine], env=env, cwd=src, check=True)


def speed(sources: list[str], rounds: int) -> None:
    """Trained speed of each source's kernels (each its own cache, warmed first), round after round."""
    caches = {src: tempfile.mkdtemp(prefix="numba-cache-") for src in sources}
    env = {src: dict(os.environ, NUMBA_CACHE_DIR=caches[src], PYTHONPATH=src, NUMBA_NUM_THREADS="2") for src in sources}
    for src in sources:  # warm-up: compile into the cache
        subprocess.run([sys.executable, "-c", SPEED], env=env[src], cwd=src, check=True, stdout=subprocess.DEVNULL)
    for r in range(rounds):
        for src in sources:
            out = subprocess.run([sys.executable, "-c", SPEED], env=env[src], cwd=src, check=True, capture_output=True)
            for line in out.stdout.decode().splitlines():
                print(f"round {r + 1}  {src:30s} {line}", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--job", default=os.path.join(ROOT, "jobs", "prostate.toml"))
    ap.add_argument("--src", action="append", help="source tree(s) to compare (default: this one)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--events", action="store_true", help="print Numba's compile events per function")
    ap.add_argument("--helper", metavar="ENGINE", help="per-sample, blas or loop: compile its training kernel alone")
    ap.add_argument("--speed", action="store_true", help="trained speed of each source's kernels, warm cache")
    a = ap.parse_args(argv)
    sources = a.src or [ROOT]
    print(f"job {a.job}; {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if a.helper or a.speed:
        for src in sources if a.helper else []:
            helper_alone(src, a.helper)
        if a.speed:
            speed(sources, a.runs)
        return
    for r in range(a.runs):
        for src in sources:
            wall, rss = one_run(src, a.job, a.events)
            print(f"round {r + 1}  {src:40s} wall {wall:6.1f} s  peak RSS {rss:6.0f} MB", flush=True)


if __name__ == "__main__":
    main()
