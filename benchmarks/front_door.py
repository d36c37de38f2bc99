"""The front door a new user meets, side by side in one run (issue 24 goal 5): hpcdl, pyarrow and H2O-3.

    python benchmarks/front_door.py                       # first, csv, small, model; print the tables
    python benchmarks/front_door.py --parts first,csv     # some parts: first, csv, small, model
    python benchmarks/front_door.py --append              # also append the tables to BENCHMARKS.md

Parts (each system in a fresh process, one after the other; data generated with fixed seeds):

- ``first``: ``hpcdl train jobs/prostate.toml`` on 1 rank with an empty Numba cache
  (``NUMBA_CACHE_DIR`` a new folder): wall, peak RSS, seconds to the first line on the terminal
  and the longest silence between two lines (goal 1: <= 15 s wall, never > 5 s silent).
- ``csv``: the issue's CSV (8 numeric columns, a 5-level categorical, yes/no; 2M rows by default)
  imported by the hpcdl API, the ``hpcdl import`` command (interpreter start included), pyarrow's
  ``read_csv`` and H2O-3's ``import_file`` (``benchmarks/csv_import.py``; goal 2: <= 1.5x pyarrow).
- ``small``: ``hidden=[32]`` per sample, 1x2 and 2x1 against H2O-3's ``training_speed``
  (``benchmarks/small_net.py``; goal 3: 1x2 >= 2x, the better >= 3x H2O-3). Each run prints a
  line when it starts (its output is captured until it ends; a first run compiles kernels
  before it trains) and is stopped, with the tail of its output, after ``--small-timeout`` s.
- ``model``: CSV to model, one process, the same 2M-row CSV, ``hidden=[32]``, 0.5 epochs: hpcdl
  with an empty Numba cache and warm (import + train, interpreter start included) against
  H2O-3 (JVM start + import + train + shutdown; 127.0.0.1, nthreads=2) (goal 4: empty <= 1x,
  warm <= 0.5x H2O-3).

Run it under /work/bin/quiet; ``--parts`` splits a long run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import csv_import  # noqa: E402  (benchmarks/csv_import.py)
import small_net  # noqa: E402  (benchmarks/small_net.py)

H2O_PYTHON = "/work/h2ovenv/bin/python"
BIN = os.path.dirname(sys.executable)


# -- a child process watched line by line -------------------------------------------------------------------
def watch(cmd: list[str], env: dict | None = None, cwd: str | None = None) -> dict:
    """Run ``cmd`` (under GNU time for its peak RSS); wall seconds, seconds to its first output line,
    the longest gap between two lines (stdout and stderr merged, as a terminal shows them)."""
    rss_file = tempfile.NamedTemporaryFile(suffix=".time", delete=False).name
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        ["/usr/bin/time", "-f", "RSS_KB=%M", "-o", rss_file, *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        text=True,
        bufsize=1,
    )
    stamps, lines = [], []
    for line in proc.stdout:
        stamps.append(time.perf_counter() - t0)
        lines.append(line.rstrip("\n"))
    code = proc.wait()
    wall = time.perf_counter() - t0
    with open(rss_file) as fh:
        rss = int(fh.read().split("RSS_KB=")[1].split()[0]) / 1024
    os.remove(rss_file)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}):\n" + "\n".join(lines[-30:]))
    gaps = [b - a for a, b in zip([0.0, *stamps], [*stamps, wall])]
    return {"seconds": wall, "rss_mb": rss, "first_line_s": stamps[0] if stamps else wall, "max_silence_s": max(gaps)}


# -- parts -----------------------------------------------------------------------------------------------
def part_first(args) -> list[str]:
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        cmd = [os.path.join(BIN, "hpcdl"), "train", os.path.join(ROOT, "jobs", "prostate.toml"), "--output-dir", out]
        r = watch(cmd, env=env, cwd=ROOT)
    return [
        "| first job, empty Numba cache | wall s | peak RSS MB | first line after s | longest silence s |",
        "|---|---:|---:|---:|---:|",
        f"| `hpcdl train jobs/prostate.toml`, 1 rank | {r['seconds']:.1f} | {r['rss_mb']:.0f} | "
        f"{r['first_line_s']:.1f} | {r['max_silence_s']:.1f} |",
        "goal 1: wall <= 15 s, never more than 5 s without a line",
    ]


def part_csv(args) -> list[str]:
    out = ["| CSV import | rows | pyarrow s | hpcdl API s | hpcdl CLI s | H2O-3 s | API/pyarrow | CLI/pyarrow |"]
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    hpcdl = os.path.join(BIN, "hpcdl")
    for rows in args.csv_rows:
        r = csv_import.measure(rows, args.data_dir, sys.executable, hpcdl, args.h2o)
        h2o = f"{r['h2o']['seconds']:.2f}" if r["h2o"] else "-"
        out.append(
            f"| {r['file_mb']:.0f} MB | {rows:,} | {r['pyarrow']['seconds']:.2f} | {r['hpcdl_api']['seconds']:.2f} | "
            f"{r['hpcdl_cli']['seconds']:.2f} | {h2o} | {r['ratio_api']:.2f} | {r['ratio_cli']:.2f} |"
        )
    out.append("goal 2: both ratios <= 1.5")
    return out


def part_small(args) -> list[str]:
    frame, csv = small_net.prepare(args.data_dir, args.small_rows)
    ns = argparse.Namespace(
        epochs=args.small_epochs, runs=1, h2o=H2O_PYTHON if args.h2o else None, timeout=args.small_timeout
    )
    results = small_net.run_rounds(ns, [(1, 2), (2, 1)], frame, csv)
    h2o = next((r["samples_per_second"] for r in results if r["system"] == "h2o"), None)
    out = [f"| hidden=[32], {args.small_rows:,} rows, {args.small_epochs:g} epoch | samples/s | vs H2O-3 |"]
    out.append("|---|---:|---:|")
    for r in results:
        ratio = f"{r['samples_per_second'] / h2o:.2f}x" if h2o else "-"
        out.append(f"| {r['config']} | {r['samples_per_second']:,.0f} | {ratio} |")
    out.append("goal 3: 1x2 >= 2x H2O-3, the better of 1x2 and 2x1 >= 3x")
    return out


HPCDL_MODEL = r"""
import sys, hpcdl
frame = hpcdl.import_file(sys.argv[1], destination=sys.argv[2])
model = hpcdl.deeplearning(y="y", training_frame=frame, hidden=[32], epochs=0.5, seed=1, quiet_mode=True)
print("AUC", model.training_metrics.get("AUC"))
"""

H2O_MODEL = r"""
import sys, h2o
from h2o.estimators import H2ODeepLearningEstimator
h2o.init(ip="127.0.0.1", nthreads=2, verbose=False)
h2o.no_progress()
try:
    frame = h2o.import_file(sys.argv[1])
    model = H2ODeepLearningEstimator(hidden=[32], epochs=0.5, seed=1)
    model.train(y="y", training_frame=frame)
    print("AUC", model.auc())
finally:
    h2o.cluster().shutdown()
"""


def part_model(args) -> list[str]:
    rows = args.model_rows
    path = csv_import.generate(os.path.join(args.data_dir, f"csv_import_{rows}.csv"), rows)
    res = {}
    with tempfile.TemporaryDirectory(dir=args.data_dir) as tmp, tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("hpcdl, empty Numba cache", "hpcdl, warm"):
            dest = os.path.join(tmp, f"frame{len(res)}.h5")
            res[label] = watch([sys.executable, "-c", HPCDL_MODEL, path, dest], env=env)
        if args.h2o:
            res["H2O-3 (JVM start + import + train)"] = watch([H2O_PYTHON, "-c", H2O_MODEL, path])
    h2o = res.get("H2O-3 (JVM start + import + train)", {}).get("seconds")
    out = [f"| CSV to model, {rows:,} rows, hidden=[32], 0.5 epochs, one process | wall s | peak RSS MB | vs H2O-3 |"]
    out.append("|---|---:|---:|---:|")
    for label, r in res.items():
        ratio = f"{r['seconds'] / h2o:.2f}x" if h2o else "-"
        out.append(f"| {label} | {r['seconds']:.1f} | {r['rss_mb']:.0f} | {ratio} |")
    out.append("goal 4: empty cache <= 1x H2O-3, warm <= 0.5x")
    return out


PARTS = {"first": part_first, "csv": part_csv, "small": part_small, "model": part_model}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} vCPU {cpu}, Python {platform.python_version()}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="first,csv,small,model", help="comma-separated: " + ",".join(PARTS))
    ap.add_argument("--csv-rows", type=int, action="append", help="rows of the import file (repeatable; 2M)")
    ap.add_argument("--small-rows", type=int, default=500_000, help="rows of the small-net data")
    ap.add_argument("--small-epochs", type=float, default=1.0)
    ap.add_argument("--small-timeout", type=float, default=900.0, help="seconds per small-net run")
    ap.add_argument("--model-rows", type=int, default=2_000_000)
    ap.add_argument("--no-h2o", dest="h2o", action="store_false", help="leave H2O-3 out")
    ap.add_argument("--data-dir", default=os.path.join(ROOT, "runs", "front_door"))
    ap.add_argument("--append", action="store_true", help="append the tables to BENCHMARKS.md")
    ap.add_argument("--json", help="also write the tables' lines to this file")
    args = ap.parse_args(argv)
    args.csv_rows = args.csv_rows or [2_000_000]
    args.h2o = args.h2o and os.path.exists(H2O_PYTHON)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        ap.error(f"unknown part(s) {unknown}; choose from {sorted(PARTS)}")
    os.makedirs(args.data_dir, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    head = [f"front door (benchmarks/front_door.py --parts {','.join(parts)}), {stamp}, {machine()}", ""]
    lines = list(head)
    for name in parts:
        t0 = time.perf_counter()
        table = PARTS[name](args)
        print("\n".join(table), f"\n({name}: {time.perf_counter() - t0:.0f} s)\n", flush=True)
        lines += [*table, ""]
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(lines, fh, indent=1)
    if args.append:
        with open(os.path.join(ROOT, "BENCHMARKS.md"), "a") as fh:
            fh.write("\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
