"""Do threads add speed? 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread, run after run.

    python benchmarks/threads.py [--runs 10] [--network trial|plain] [--epochs 1] [--frames DIR] [--json FILE]

Per-sample training (H2O's algorithm) on Fashion-MNIST (``apt-get install
dataset-fashion-mnist``; imported once into --frames, as benchmarks/scaling.py does).
``--network trial`` is the booklet's trial network (784-200-200-200-10,
RectifierWithDropout, input dropout 0.2, l1 1e-5); ``plain`` is scaling.py's
784-200-200-10 Rectifier without dropout. Each round runs every configuration once,
one right after the other, so that a burst of load from elsewhere hits all of them
alike; every run is a fresh ``mpiexec`` process (benchmarks/scaling.py's worker) that
trains ``--epochs`` epochs after the trainer's own warm-up (calibration).

Before and after every run, benchmarks/pingpong.py measures how long a cache line takes
to go from one core to the other and back: on the benchmark VM that switches between
~105 ns and ~520 ns for tens of seconds at a time, and a per-sample team (7 barriers a
sample) is ~25% slower in the far state, while one thread and MPI ranks are not. The
summary also splits the ratios by that state.

Speed is the trainer's own count: training samples / seconds inside the training
kernels and the Allreduce. Printed: every run with the 1-minute load average at its
start, then per configuration the minimum and median over the rounds, and the ratio
to 1 x 1 per round (minimum and median). Threads only add speed on cores nobody
else uses: read nothing into runs whose load average was above ~0.5 (the script
says so).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import scaling  # noqa: E402  (benchmarks/scaling.py: frames and one-configuration runs)

QUIET_LOAD = 0.5
FAR_NS = 250  # benchmarks/pingpong.py: ~105 ns (near) or ~520 ns (far) on the benchmark VM


def round_trip() -> float:
    """benchmarks/pingpong.py in a process of its own: ns per cache-line round trip."""
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "pingpong.py")], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def regime(before: float, after: float) -> str:
    """'near' or 'far' cores if both probes around a run agree, else 'mixed'."""
    near = [v < FAR_NS for v in (before, after)]
    return "near" if all(near) else "far" if not any(near) else "mixed"


def run_rounds(configs: list[tuple[int, int]], args, train: str, test: str) -> list[dict]:
    rows = []
    after = round_trip()
    for round_no in range(1, args.runs + 1):
        for ranks, threads in configs:
            load = os.getloadavg()[0]
            before = after  # the probe after one run is the probe before the next
            res = scaling.run_config(ranks, threads, args, train, test)
            after = round_trip()
            res.update(round=round_no, load=load, round_trip_ns=[before, after], cores=regime(before, after))
            rows.append(res)
            print(
                f"  round {round_no:2d}  {ranks}x{threads}: {res['samples_per_second']:8,.0f} samples/s  "
                f"test error {res['test_error']:.4f}  (load {load:.2f}, round trip {before:.0f}/{after:.0f} ns)",
                flush=True,
            )
    return rows


def summary(rows: list[dict], configs: list[tuple[int, int]]) -> list[dict]:
    base = {r["round"]: r["samples_per_second"] for r in rows if (r["ranks"], r["threads"]) == (1, 1)}
    out = []
    for ranks, threads in configs:
        mine = [r for r in rows if (r["ranks"], r["threads"]) == (ranks, threads)]
        speeds = [r["samples_per_second"] for r in mine]
        ratios = [r["samples_per_second"] / base[r["round"]] for r in mine if r["round"] in base]
        errors = [r["test_error"] for r in mine]
        out.append(
            {
                "config": f"{ranks}x{threads}",
                "min": min(speeds),
                "median": statistics.median(speeds),
                "ratio_min": min(ratios) if ratios else None,
                "ratio_median": statistics.median(ratios) if ratios else None,
                "error_min": min(errors),
                "error_max": max(errors),
                "max_load": max(r["load"] for r in mine),
                "by_cores": _by_cores(mine, base),
            }
        )
    return out


def _by_cores(mine: list[dict], base: dict) -> dict:
    """Ratio to 1x1 (same round) of the runs made while the cores were near / far / mixed."""
    out = {}
    for cores in ("near", "far", "mixed"):
        ratios = [
            r["samples_per_second"] / base[r["round"]] for r in mine if r["cores"] == cores and r["round"] in base
        ]
        if ratios:
            out[cores] = {"runs": len(ratios), "ratio_min": min(ratios), "ratio_median": statistics.median(ratios)}
    return out


def parse_configs(ap: argparse.ArgumentParser, text: str) -> list[tuple[int, int]]:
    """'1x1,1x2,2x1' -> [(1, 1), (1, 2), (2, 1)]; anything else is a usage error."""
    configs = []
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
            ap.error(f"--configs: {item!r} is not RANKSxTHREADS (e.g. 1x2)")
        configs.append((int(parts[0]), int(parts[1])))
    return configs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10, help="rounds (each runs every configuration once)")
    ap.add_argument("--configs", default="1x1,1x2,2x1", help="comma-separated RANKSxTHREADS; 1x1 first")
    ap.add_argument("--network", choices=sorted(scaling.MODELS), default="trial")
    scaling.add_run_arguments(ap, epochs=1.0)
    ap.add_argument("--json", help="also write every run and the summary to this file")
    args = ap.parse_args()
    configs = parse_configs(ap, args.configs)
    train, test, what = scaling.prepare_frames(args.frames, args.synthetic_rows)
    net = scaling.MODELS[args.network]
    print(
        f"data: {what}; network {args.network} ({net['activation']} {net['hidden']}), {args.epochs:g} epoch(s) "
        f"per run, {args.runs} rounds of {args.configs}; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    rows = run_rounds(configs, args, train, test)
    table = summary(rows, configs)
    print()
    print(
        "| ranks x threads | min samples/s | median samples/s | vs 1x1, min | vs 1x1, median | test error | max load |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for t in table:
        ratio_min = f"{t['ratio_min']:.2f}x" if t["ratio_min"] is not None else "-"
        ratio_med = f"{t['ratio_median']:.2f}x" if t["ratio_median"] is not None else "-"
        print(
            f"| {t['config']} | {t['min']:,.0f} | {t['median']:,.0f} | {ratio_min} | {ratio_med} | "
            f"{t['error_min']:.4f}-{t['error_max']:.4f} | {t['max_load']:.2f} |"
        )
    print(f"\nBy the cores' round trip around each run (near < {FAR_NS} ns <= far; mixed: the probes disagree):")
    print("| ranks x threads | cores | runs | vs 1x1, min | vs 1x1, median |")
    print("|---|---|---:|---:|---:|")
    for t in table:
        for cores, v in t["by_cores"].items():
            print(f"| {t['config']} | {cores} | {v['runs']} | {v['ratio_min']:.2f}x | {v['ratio_median']:.2f}x |")
    loud = [r for r in rows if r["load"] > QUIET_LOAD]
    if loud:
        print(
            f"\nwarning: {len(loud)} of {len(rows)} runs started at a load average above {QUIET_LOAD}: not a quiet machine"
        )
    if args.json:
        from hpcdl.fsutil import atomic_path

        with atomic_path(args.json) as tmp, open(tmp, "w") as fh:
            json.dump({"data": what, "network": args.network, "runs": rows, "summary": table}, fh, indent=2)


if __name__ == "__main__":
    main()
