"""Small tabular nets per sample: hpcdl (ranks x threads) and H2O-3 side by side (issue 24 goal 3).

    python benchmarks/small_net.py [--rows 2000000] [--epochs 1] [--runs 1] [--configs 1x1,1x2,2x1]
                                   [--h2o /work/h2ovenv/bin/python | --no-h2o] [--data DIR] [--json FILE]

Data (generated once into --data with a fixed seed, :func:`generate`): 8 numeric
columns, a 5-level categorical and a yes/no response from a noisy logistic model with
an interaction and a per-level effect; the same rows as an hpcdl frame (``.h5``) and as
CSV for H2O-3. Network: ``hidden=[32]``, H2O's defaults otherwise (Rectifier, ADADELTA,
per sample, tspi -2, scoring every 5 s on 10,000 training rows), ``--epochs`` epochs.

Each round runs every hpcdl configuration RxT (a fresh ``mpiexec -n R`` with T threads)
and then H2O-3 (``nthreads=2`` on 127.0.0.1, from the venv given by ``--h2o``), one right
after the other. Speed: hpcdl's is its own count (samples over the seconds of taking
rows, training and averaging; scoring left out), H2O-3's is its ``training_speed`` (the
last scoring-history row), which also leaves scoring out. Printed: every run, then per
configuration its ratio to the same round's H2O-3. Goals (issue 24): 1x2 >= 2x H2O-3, the
better of 1x2 and 2x1 >= 3x H2O-3.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

from threads import parse_configs  # noqa: E402  (benchmarks/threads.py)

N_NUMERIC = 8
LEVELS = ("a", "b", "c", "d", "e")
H2O_PYTHON = "/work/h2ovenv/bin/python"
PARAMS = {"hidden": [32], "seed": 1}


# -- data -------------------------------------------------------------------------------------------------
def generate(n_rows: int, seed: int = 0) -> dict:
    """The columns of the benchmark's table: x1..x8 (float64), cat (5 levels), y ("no"/"yes")."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, N_NUMERIC))
    X[:, 1] = rng.exponential(2.0, size=n_rows)  # a skewed column
    X[:, 2] = rng.integers(0, 100, size=n_rows)  # an integer-valued one
    cat = rng.integers(0, len(LEVELS), size=n_rows)
    beta = np.array([1.0, -0.4, 0.01, 0.5, 0.0, -0.8, 0.3, 0.2])
    level_effect = np.array([-1.0, -0.3, 0.0, 0.4, 1.2])
    logit = X @ beta - 0.5 + level_effect[cat] + 0.6 * X[:, 0] * X[:, 3] - 0.3 * X[:, 5] ** 2
    y = rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))
    cols = {f"x{j + 1}": X[:, j] for j in range(N_NUMERIC)}
    cols["cat"] = np.asarray(LEVELS, dtype=object)[cat]
    cols["y"] = np.where(y, "yes", "no").astype(object)
    return cols


def prepare(data_dir: str, n_rows: int) -> tuple[str, str]:
    """(frame path, CSV path) of ``n_rows`` generated rows, written once into data_dir."""
    os.makedirs(data_dir, exist_ok=True)
    frame = os.path.join(data_dir, f"small_net_{n_rows}.h5")
    csv = os.path.join(data_dir, f"small_net_{n_rows}.csv")
    if os.path.exists(frame) and os.path.exists(csv):
        return frame, csv
    import pandas as pd

    from hpcdl.frame import frame_from_numpy

    cols = generate(n_rows)
    tmp = csv + ".tmp"
    pd.DataFrame(cols).to_csv(tmp, index=False, float_format="%.6g")
    os.replace(tmp, csv)
    if os.path.exists(frame):
        os.remove(frame)
    frame_from_numpy(cols, frame)
    return frame, csv


# -- one hpcdl configuration (runs under mpiexec) ---------------------------------------------------------
def worker(args) -> None:
    import hpcdl
    from hpcdl import comm as comm_mod
    from hpcdl.frame import Frame

    comm = comm_mod.world()
    params = dict(PARAMS, epochs=args.epochs, quiet_mode=True)
    t0 = time.time()
    model = hpcdl.deeplearning(y="y", training_frame=Frame(args.frame), comm=comm, threads=args.threads, **params)
    wall = time.time() - t0
    if comm.rank == 0:
        run = model.run_info
        print(
            "RESULT "
            + json.dumps(
                {
                    "system": "hpcdl",
                    "config": f"{comm.size}x{args.threads}",
                    "samples": run["samples"],
                    "iterations": run["iterations"],
                    "train_seconds": run["train_seconds"],
                    "samples_per_second": run["samples"] / max(run["train_seconds"], 1e-9),
                    "auc": model.training_metrics.get("AUC"),
                    "wall_seconds": wall,
                }
            ),
            flush=True,
        )


def run_hpcdl(ranks: int, threads: int, args, frame: str) -> dict:
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [mpiexec, "-n", str(ranks), sys.executable, os.path.abspath(__file__), "--worker", "--frame", frame]
    cmd += ["--threads", str(threads), "--epochs", str(args.epochs)]
    return _run(cmd, args.timeout, env=env)


# -- H2O-3 (runs in H2O-3's venv) -------------------------------------------------------------------------
def h2o_worker(args) -> None:
    import h2o
    from h2o.estimators import H2ODeepLearningEstimator

    h2o.init(ip="127.0.0.1", nthreads=2, max_mem_size="4G", verbose=False)
    h2o.no_progress()
    try:
        train = h2o.import_file(args.csv)
        model = H2ODeepLearningEstimator(epochs=args.epochs, **PARAMS)
        t0 = time.time()
        model.train(x=[c for c in train.columns if c != "y"], y="y", training_frame=train)
        wall = time.time() - t0
        rows = model.scoring_history().to_dict("records")
        last = rows[-1]
        speed = float(str(last["training_speed"]).replace("obs/sec", "").replace(",", "").strip())
        result = {
            "system": "h2o",
            "config": "H2O-3 2 threads",
            "version": h2o.__version__,
            "samples": float(last["samples"]),
            "samples_per_second": speed,
            "auc": float(last["training_auc"]),
            "wall_seconds": wall,
        }
    finally:
        h2o.cluster().shutdown()
    print("RESULT " + json.dumps(result), flush=True)


def run_h2o(args, csv: str) -> dict:
    cmd = [args.h2o, os.path.abspath(__file__), "--h2o-worker", "--csv", csv, "--epochs", str(args.epochs)]
    return _run(cmd, args.timeout)


def _run(cmd: list[str], timeout: float, env: dict | None = None) -> dict:
    """The child's RESULT; a child still running after ``timeout`` seconds is stopped and named
    with the tail of what it printed (its output is captured, so nothing shows while it runs)."""
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        tail = "".join(
            x.decode(errors="replace") if isinstance(x, bytes) else x for x in (exc.stdout or "", exc.stderr or "")
        )
        raise SystemExit(
            f"{' '.join(cmd)} still running after {timeout:g} s (--timeout); stopped:\n{tail[-3000:]}"
        ) from None
    return _result(proc, cmd)


def _result(proc: subprocess.CompletedProcess, cmd: list[str]) -> dict:
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


# -- rounds and the summary -------------------------------------------------------------------------------
def run_rounds(args, configs: list[tuple[int, int]], frame: str, csv: str) -> list[dict]:
    results = []
    for round_no in range(1, args.runs + 1):
        todo = [(f"{r}x{t}", lambda r=r, t=t: run_hpcdl(r, t, args, frame)) for r, t in configs]
        if args.h2o:
            todo.append(("h2o", lambda: run_h2o(args, csv)))
        for label, run in todo:
            # A line before each child: its output is captured, and a first run compiles kernels
            # (a minute or more on a busy machine) before it prints anything.
            print(f"  round {round_no}  {label:>15}: running ...", flush=True)
            load = os.getloadavg()[0]
            res = dict(run(), round=round_no, load=load)
            results.append(res)
            print(
                f"  round {round_no}  {res['config']:>15}: {res['samples_per_second']:10,.0f} samples/s  "
                f"AUC {res['auc'] or float('nan'):.4f}  wall {res['wall_seconds']:6.1f} s  (load {load:.2f})",
                flush=True,
            )
    return results


def summary(results: list[dict]) -> None:
    h2o = {r["round"]: r["samples_per_second"] for r in results if r["system"] == "h2o"}
    print("\n| round | ranks x threads | samples/s | vs H2O-3 (same round) | training AUC |")
    print("|---:|---|---:|---:|---:|")
    for r in results:
        ratio = f"{r['samples_per_second'] / h2o[r['round']]:.2f}x" if r["round"] in h2o else "-"
        print(f"| {r['round']} | {r['config']} | {r['samples_per_second']:,.0f} | {ratio} | {r['auc']:.4f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=1, help="rounds (each runs every configuration once)")
    ap.add_argument("--configs", default="1x1,1x2,2x1", help="comma-separated RANKSxTHREADS")
    ap.add_argument("--h2o", default=H2O_PYTHON, help="python of a venv with h2o installed")
    ap.add_argument("--no-h2o", dest="h2o", action="store_const", const=None)
    # Not under ~/.cache: H2O-3 3.46 refused to import from there ("access denied", 2026-12-08).
    ap.add_argument(
        "--data", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "runs", "small_net")
    )
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    ap.add_argument("--json", help="also write every run to this file")
    # worker modes (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--h2o-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--frame", help=argparse.SUPPRESS)
    ap.add_argument("--csv", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.h2o_worker:
        return h2o_worker(args)
    if args.h2o and not os.path.exists(args.h2o):
        ap.error(f"--h2o {args.h2o}: no such file (make the venv: python3 -m venv ... && pip install h2o; or --no-h2o)")
    configs = parse_configs(ap, args.configs)
    frame, csv = prepare(args.data, args.rows)
    print(
        f"data: {args.rows:,} generated rows (8 numeric, a 5-level categorical, yes/no), hidden=[32], "
        f"{args.epochs:g} epoch(s), {args.runs} round(s); load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    results = run_rounds(args, configs, frame, csv)
    summary(results)
    if args.json:
        from hpcdl.fsutil import atomic_path

        with atomic_path(args.json) as tmp, open(tmp, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
