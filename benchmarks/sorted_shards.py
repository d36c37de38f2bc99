"""Sharded against replicated training on a file sorted by the response (issue 29).

    python benchmarks/sorted_shards.py [--rows 400000] [--epochs 2] [--ranks 2] [--seeds 1,2]
                                       [--frames DIR] [--before SRC] [--json FILE]

The data: ``--rows`` rows of 8 gaussian predictors and a 5-level categorical; the yes/no
response is a noisy linear rule of them (about 1% of rows on the wrong side); the file is
sorted by the response, as big files often are (by label, by time, by customer). Each
configuration is a separate ``mpiexec -n RANKS`` run with one thread per rank, the default
(auto-tuned) train_samples_per_iteration, ``hidden=[32]``; the figure is the training error
on all rows of the file (the same rows for every configuration), as in issue 29's table.

Configurations, all in one run, side by side:

- ``replicated``: ``replicate_training_data = true`` (every rank holds all rows);
- ``sharded``: ``false``, with this tree's shards (blocks interleaved over the frame);
- ``sharded-before`` (with ``--before SRC``, a source tree of an older hpcdl, e.g. ``git
  archive eaa0182 | tar -x -C SRC``): ``false`` with that tree's shards (contiguous slices).

Timings come from a shared machine: run it under ``/work/bin/quiet`` (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
PARAMS = {"hidden": [32], "seed": 1, "quiet_mode": True}


def prepare_frame(frames_dir: str, rows: int) -> str:
    """The sorted frame (written once into frames_dir)."""
    path = os.path.join(frames_dir, f"sorted-{rows}.h5")
    if os.path.exists(path):
        return path
    import numpy as np

    sys.path.insert(0, ROOT)
    from hpcdl.frame import frame_from_numpy

    os.makedirs(frames_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 8))
    level = rng.integers(0, 5, size=rows)
    score = X @ np.linspace(-1.0, 1.5, 8) + np.array([-1.0, -0.5, 0.0, 0.5, 1.0])[level]
    yes = score + 0.1 * rng.normal(size=rows) > 0.0
    order = np.argsort(yes, kind="stable")  # sorted by the response: all "no", then all "yes"
    cols = {f"x{j}": X[order, j] for j in range(8)}
    cols["level"] = np.array(list("abcde"), dtype=object)[level[order]]
    cols["y"] = np.where(yes[order], "yes", "no").astype(object)
    return frame_from_numpy(cols, path).path


def worker(args) -> None:
    import hpcdl
    from hpcdl import comm as comm_mod
    from hpcdl.frame import Frame

    comm = comm_mod.world()
    frame = Frame(args.frame)
    t0 = time.time()
    model = hpcdl.deeplearning(
        y="y",
        training_frame=frame,
        comm=comm,
        threads=1,
        epochs=args.epochs,
        replicate_training_data=args.replicate,
        **dict(PARAMS, seed=args.seed),
    )
    wall = time.time() - t0
    error = model.model_performance(frame)["classification_error"]
    if comm.rank == 0:
        run = model.run_info
        result = {
            "error": error,
            "wall_seconds": wall,
            "train_seconds": run["train_seconds"],
            "iterations": run["iterations"],
            "tspi_first": run.get("train_samples_per_iteration_initial"),
            "rows_per_rank": run["rows_per_rank"],
        }
        print("RESULT " + json.dumps(result), flush=True)


def run_config(args, frame: str, replicate: bool, seed: int, source: str) -> dict:
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.path.abspath(source)
    cmd = [mpiexec, "-n", str(args.ranks), sys.executable, os.path.abspath(__file__), "--worker", "--frame", frame]
    cmd += ["--epochs", str(args.epochs), "--seed", str(seed)] + (["--replicate"] if replicate else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=args.timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1][7:])
    result["warnings"] = [ln for ln in proc.stderr.splitlines() if "warning" in ln]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--frame", help=argparse.SUPPRESS)
    ap.add_argument("--replicate", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--seeds", default="1", help="comma-separated seeds; every configuration runs each")
    ap.add_argument("--frames", default=os.path.join(tempfile.gettempdir(), "hpcdl-sorted-shards"))
    ap.add_argument("--before", help="source tree of an older hpcdl: also run its sharding")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    frame = prepare_frame(args.frames, args.rows)
    configs = [("replicated", True, ROOT), ("sharded", False, ROOT)]
    if args.before:
        configs.append(("sharded-before", False, args.before))
    results = []
    print(
        f"{args.rows:,} rows sorted by the response, {args.ranks} ranks x 1 thread, {args.epochs:g} epochs, tspi auto"
    )
    print(f"{'seed':>4} {'configuration':<15} {'error':>8} {'vs repl.':>8} {'tspi_1':>8} {'iters':>5} {'wall s':>7}")
    for seed in (int(s) for s in args.seeds.split(",")):
        base = None
        for name, replicate, source in configs:
            r = dict(run_config(args, frame, replicate, seed, source), seed=seed, configuration=name)
            base = r["error"] if base is None else base
            ratio = r["error"] / base if base else float("nan")
            print(
                f"{seed:>4} {name:<15} {100 * r['error']:>7.2f}% {ratio:>7.2f}x {r['tspi_first']:>8} "
                f"{r['iterations']:>5} {r['wall_seconds']:>7.1f}",
                flush=True,
            )
            for line in r["warnings"]:
                print(f"     {line}")
            results.append(r)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
