"""Ranks x threads scaling of one training run on this machine, plus a projection to 1..64 nodes.

    python benchmarks/scaling.py [--configs 1x1,1x2,2x1] [--epochs 2] [--frames DIR] [--json FILE]
    python benchmarks/scaling.py --project --seconds-per-row S --state-bytes B   # projection only

Each configuration RxT is a separate ``mpiexec -n R`` run with T HOGWILD! threads per
rank (NUMBA_NUM_THREADS=T), all on the same data, network, seed and epochs. Data:
Fashion-MNIST (60,000 x 784, 10 classes) when /usr/share/datasets/fashion-mnist exists
(``apt-get install dataset-fashion-mnist``; imported once into --frames with
``hpcdl import --mnist-dir``), else a synthetic 784-dimensional 10-class problem.

Reported per configuration (rank 0's run_info): training samples/s (samples over the
seconds spent in the training kernels plus Allreduce), the share of those seconds spent
averaging (Allreduce and waiting for the slowest rank), the tspi the auto-tuner chose
first and last, iterations, the test error after the fixed number of epochs, wall time.

The projection (docs/scaling.md) is an alpha-beta model of a ring Allreduce, fed with
the measured seconds per training row of one node and the state-buffer size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

FASHION = "/usr/share/datasets/fashion-mnist"
NETWORK = {
    "activation": "Rectifier",
    "hidden": [200, 200],
    "seed": 1,
    "overwrite_with_best_model": False,
    "score_training_samples": 2000,
    "score_interval": 5.0,
    "quiet_mode": True,
}
# The booklet's MNIST trial network (benchmarks/fashion_mnist.py), scored the same way.
TRIAL = dict(NETWORK, activation="RectifierWithDropout", hidden=[200, 200, 200], input_dropout_ratio=0.2, l1=1e-5)
MODELS = {"plain": NETWORK, "trial": TRIAL}


# -- data -------------------------------------------------------------------------------------------------
def prepare_frames(frames_dir: str, synthetic_rows: int) -> tuple[str, str, str]:
    """(train frame path, test frame path, description); imported/generated once into frames_dir."""
    os.makedirs(frames_dir, exist_ok=True)
    if os.path.isdir(FASHION):
        train, test = (os.path.join(frames_dir, f"fashion-mnist-{k}.h5") for k in ("train", "test"))
        if not (os.path.exists(train) and os.path.exists(test)):
            from hpcdl.frame import import_mnist_dir

            import_mnist_dir(FASHION, frames_dir)
        return train, test, "Fashion-MNIST (60,000 training / 10,000 test rows, 784 pixels, 10 classes)"
    train, test = (os.path.join(frames_dir, f"synthetic784-{k}.h5") for k in ("train", "test"))
    if not (os.path.exists(train) and os.path.exists(test)):
        import numpy as np

        from hpcdl.frame import frame_from_numpy

        rng = np.random.default_rng(0)
        centers = rng.normal(size=(10, 784)).astype(np.float32)
        for path, n in ((train, synthetic_rows), (test, synthetic_rows // 6)):
            y = rng.integers(0, 10, size=n)
            X = centers[y] + 2.5 * rng.normal(size=(n, 784)).astype(np.float32)
            cols = {f"C{j + 1}": X[:, j] for j in range(784)}
            cols["label"] = np.array([str(v) for v in y], dtype=object)
            frame_from_numpy(cols, path)
    return train, test, f"synthetic 784-dim, 10 gaussian classes ({synthetic_rows:,} training rows)"


# -- one configuration (runs under mpiexec) ---------------------------------------------------------------
def worker(args) -> None:
    import hpcdl
    from hpcdl import comm as comm_mod
    from hpcdl.frame import Frame

    comm = comm_mod.world()
    train, test = Frame(args.train), Frame(args.test)
    params = dict(MODELS[args.network], epochs=args.epochs, train_samples_per_iteration=args.tspi)
    t0 = time.time()
    model = hpcdl.deeplearning(y="label", training_frame=train, comm=comm, threads=args.threads, **params)
    wall = time.time() - t0
    if comm.rank == 0:
        run = model.run_info
        perf = model.model_performance(test)
        state_bytes = int(model.net.buffer.nbytes)
        print(
            "RESULT "
            + json.dumps(
                {
                    "ranks": comm.size,
                    "threads": run["threads"],
                    "samples": run["samples"],
                    "iterations": run["iterations"],
                    "epochs": run["epochs"],
                    "train_seconds": run["train_seconds"],
                    "allreduce_seconds_total": run.get("allreduce_seconds_total", 0.0),
                    "samples_per_second": run["samples"] / max(run["train_seconds"], 1e-9),
                    "allreduce_share": run.get("allreduce_seconds_total", 0.0) / max(run["train_seconds"], 1e-9),
                    "tspi_first": run.get("train_samples_per_iteration_initial"),
                    "tspi_last": run["train_samples_per_iteration"],
                    "seconds_per_row_calibrated": run["seconds_per_row_calibrated"],
                    "allreduce_seconds": run["allreduce_seconds"],
                    "state_bytes": state_bytes,
                    "test_error": perf["classification_error"],
                    "wall_seconds": wall,
                }
            ),
            flush=True,
        )


def run_config(ranks: int, threads: int, args, train: str, test: str) -> dict:
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    env = {
        **os.environ,
        "NUMBA_NUM_THREADS": str(threads),
        "NUMBA_THREADING_LAYER": "workqueue",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    cmd = [
        mpiexec,
        "-n",
        str(ranks),
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--train",
        train,
        "--test",
        test,
        "--threads",
        str(threads),
        "--epochs",
        str(args.epochs),
        "--tspi",
        str(args.tspi),
        "--network",
        getattr(args, "network", "plain"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=args.timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{ranks}x{threads} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


# -- projection -----------------------------------------------------------------------------------------------
NETWORKS = {  # name: (latency alpha in s, bandwidth beta in bytes/s per link direction)
    "InfiniBand HDR 100 Gb/s": (2e-6, 12.0e9),
    "Ethernet 10 Gb/s": (30e-6, 1.1e9),
}


def ring_allreduce_seconds(nbytes: float, nodes: int, alpha: float, beta: float) -> float:
    """Ring Allreduce (reduce-scatter + all-gather): 2(p-1) steps of nbytes/p each."""
    if nodes <= 1:
        return 0.0
    return 2 * (nodes - 1) * alpha + 2 * (nodes - 1) / nodes * nbytes / beta


def project(seconds_per_row: float, state_bytes: int, rows: int, epochs: float, tspi_fixed: int) -> list[dict]:
    """Throughput and efficiency for 1..64 nodes under two tspi policies (see docs/scaling.md)."""
    import math

    from hpcdl.planning import comm_seconds_estimate, compute_tspi, corrected_tspi

    out = []
    for name, (alpha, beta) in NETWORKS.items():
        for nodes in (1, 2, 4, 8, 16, 32, 64):
            t_ar = ring_allreduce_seconds(state_bytes, nodes, alpha, beta)
            # per iteration besides the big Allreduce: a scalar Allreduce and a Bcast (stop flag, tspi)
            t_small = 2 * 2 * math.ceil(math.log2(max(nodes, 2))) * alpha if nodes > 1 else 0.0
            row = {"network": name, "nodes": nodes, "allreduce_ms": 1e3 * t_ar}
            for policy in ("auto", "fixed"):
                if policy == "auto":
                    tspi = compute_tspi(
                        -2,
                        n_rows=rows,
                        epochs=epochs,
                        n_ranks=nodes,
                        replicated=True,
                        seconds_per_row=seconds_per_row,
                        allreduce_seconds=t_ar,
                        target_ratio=0.05,
                    )
                    t_comm = comm_seconds_estimate(nodes, t_ar)
                    for _ in range(30):  # the per-iteration correction, run to its fixed point
                        compute = tspi / nodes * seconds_per_row
                        if nodes == 1:
                            break
                        new = corrected_tspi(
                            tspi, comm_seconds=t_comm, iteration_seconds=compute + t_ar + t_small, target_ratio=0.05
                        )
                        if new == tspi:
                            break
                        tspi = new
                else:
                    tspi = tspi_fixed
                compute = tspi / nodes * seconds_per_row
                wall = compute + t_ar + t_small
                row[f"{policy}_tspi"] = tspi
                row[f"{policy}_samples_per_s"] = tspi / wall
                row[f"{policy}_efficiency"] = (tspi / wall) / (nodes / seconds_per_row)
            out.append(row)
    return out


def print_projection(rows: list[dict], tspi_fixed: int) -> None:
    print(
        "| network | nodes | Allreduce (ms) | auto tspi | auto samples/s | auto eff. | "
        f"tspi={tspi_fixed:,} samples/s | tspi={tspi_fixed:,} eff. |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['network']} | {r['nodes']} | {r['allreduce_ms']:.2f} | {r['auto_tspi']:,} | "
            f"{r['auto_samples_per_s']:,.0f} | {r['auto_efficiency']:.1%} | {r['fixed_samples_per_s']:,.0f} | "
            f"{r['fixed_efficiency']:.1%} |"
        )


def add_run_arguments(ap: argparse.ArgumentParser, epochs: float) -> None:
    """Options of the runs themselves (shared with benchmarks/threads.py)."""
    ap.add_argument("--epochs", type=float, default=epochs)
    ap.add_argument("--tspi", type=int, default=-2, help="train_samples_per_iteration (default -2, auto-tune)")
    ap.add_argument("--frames", default=os.path.join(os.path.expanduser("~"), ".cache", "hpcdl", "scaling"))
    ap.add_argument("--synthetic-rows", type=int, default=30000)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per configuration")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="1x1,1x2,2x1", help="comma-separated RANKSxTHREADS")
    add_run_arguments(ap, epochs=2.0)
    ap.add_argument("--json", help="also write all results to this file")
    ap.add_argument("--project", action="store_true", help="only print the 1..64-node projection")
    ap.add_argument("--seconds-per-row", type=float, help="projection: one node's seconds per training row")
    ap.add_argument("--state-bytes", type=int, help="projection: bytes of the averaged state buffer")
    ap.add_argument("--rows", type=int, default=60000, help="projection: training rows (one epoch)")
    ap.add_argument("--project-epochs", type=float, default=10.0, help="projection: epochs of the modelled run")
    ap.add_argument("--fixed-tspi", type=int, default=10000, help="projection: the fixed-tspi policy's value")
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--train", help=argparse.SUPPRESS)
    ap.add_argument("--test", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--network", choices=sorted(MODELS), default="plain", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    if args.project:
        if not (args.seconds_per_row and args.state_bytes):
            ap.error("--project needs --seconds-per-row and --state-bytes")
        print_projection(
            project(args.seconds_per_row, args.state_bytes, args.rows, args.project_epochs, args.fixed_tspi),
            args.fixed_tspi,
        )
        return

    train, test, what = prepare_frames(args.frames, args.synthetic_rows)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"data: {what}; network {NETWORK['activation']} {NETWORK['hidden']}, {args.epochs:g} epochs, "
        f"tspi={args.tspi}; {cores} cores; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    results = []
    for cfg in args.configs.split(","):
        ranks, threads = (int(v) for v in cfg.lower().split("x"))
        res = run_config(ranks, threads, args, train, test)
        results.append(res)
        print(
            f"  {ranks}x{threads}: {res['samples_per_second']:,.0f} samples/s, wall {res['wall_seconds']:.1f} s",
            flush=True,
        )
    print()
    print("| ranks x threads | samples/s | Allreduce share | tspi first -> last | iterations | test error | wall (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['ranks']} x {r['threads']} | {r['samples_per_second']:,.0f} | {r['allreduce_share']:.1%} | "
            f"{r['tspi_first']:,} -> {r['tspi_last']:,} | {r['iterations']} | {r['test_error']:.4f} | "
            f"{r['wall_seconds']:.1f} |"
        )
    node = max(results, key=lambda r: r["samples_per_second"] if r["ranks"] == 1 else 0.0)
    spr = 1.0 / node["samples_per_second"]
    n_rows = round(results[0]["samples"] / results[0]["epochs"])
    print(
        f"\nprojection from one node = {node['ranks']}x{node['threads']} ({spr * 1e6:.1f} us per row), "
        f"state buffer {node['state_bytes'] / 1e6:.2f} MB, {n_rows:,} rows, {args.project_epochs:g} epochs:\n"
    )
    proj = project(spr, node["state_bytes"], n_rows, args.project_epochs, args.fixed_tspi)
    print_projection(proj, args.fixed_tspi)
    if args.json:
        from hpcdl.fsutil import atomic_path

        with atomic_path(args.json) as tmp, open(tmp, "w") as fh:
            json.dump({"data": what, "configs": results, "projection": proj}, fh, indent=2)


if __name__ == "__main__":
    main()
