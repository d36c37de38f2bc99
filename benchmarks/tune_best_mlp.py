"""Tuning runs of the best-MLP job with the test frame switched off, each one logged.

    python benchmarks/tune_best_mlp.py TAG [--set KEY=VALUE ...] [--log runs/tune/log.jsonl]
    python benchmarks/tune_best_mlp.py --show [--log runs/tune/log.jsonl]

Runs ``hpcdl train jobs/fashion_mnist_best.toml --set data.test_frame="" --json`` with the
given overrides, so a tuning run scores only on the job's validation split (held-out
training rows) and no test figure is printed while settings are chosen (BENCHMARKS.md,
"Best plain MLP"). Each run appends one JSON line to the log: its overrides, the wall time
of the whole command, the 1-minute load average before and after, epochs, samples/s, the
validation error (last, best, and mean of the last three scoring events) and the
validation curve. ``--show`` prints the log as a Markdown table, every run in order.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
JOB = os.path.join(HERE, "..", "jobs", "fashion_mnist_best.toml")


def hpcdl_command() -> list[str]:
    beside = os.path.join(os.path.dirname(sys.executable), "hpcdl")
    exe = beside if os.path.exists(beside) else shutil.which("hpcdl")
    if exe is None:
        raise SystemExit("tune_best_mlp: no hpcdl command (pip install -e . in this checkout)")
    return [exe]


def run(tag: str, sets: list[str], log: str) -> dict:
    out_dir = os.path.join("runs", "tune", tag)
    if os.path.exists(os.path.join(out_dir, "running.json")):
        raise SystemExit(f"tune_best_mlp: {out_dir} is in use by another run")
    cmd = [*hpcdl_command(), "train", JOB, "--json", "--fresh", "--set", 'data.test_frame=""']
    cmd += ["--set", f'job.output_dir="{out_dir}"', "--set", "job.save_model=false"]
    cmd += [a for s in sets for a in ("--set", s)]
    load_before = os.getloadavg()[0]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"tune_best_mlp: {tag} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout)
    if result.get("test_metrics") is not None:  # the point of tuning on the split: never look at the test set
        raise SystemExit("tune_best_mlp: the run scored a test frame; tuning runs must not")
    history = result["scoring_history"]
    errs = [row["validation_classification_error"] for row in history]
    best = min(range(len(errs)), key=errs.__getitem__)
    info = result["run_info"]
    record = {
        "tag": tag,
        "sets": sets,
        "start": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t0)),
        "wall_seconds": round(wall, 1),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "epochs": round(info["epochs"], 2),
        "stop_reason": info["stop_reason"],
        "samples_per_second": round(info["samples_per_second"]),
        "n_training_rows": info["n_training_rows"],
        "n_validation_rows": result["validation_metrics"]["nobs"],
        "final_valid_error": result["validation_metrics"]["classification_error"],
        "final_valid_logloss": result["validation_metrics"]["logloss"],
        "best_valid_error": errs[best],
        "best_valid_error_epochs": round(history[best]["epochs"], 2),
        "last3_valid_error": sum(errs[-3:]) / len(errs[-3:]),
        "curve": [
            [
                round(r["epochs"], 2),
                r["duration"],
                r["training_classification_error"],
                r["validation_classification_error"],
                r["validation_logloss"],
            ]
            for r in history
        ],
    }
    os.makedirs(os.path.dirname(os.path.abspath(log)), exist_ok=True)
    with open(log, "a") as fh:  # one line per run, appended: the log keeps every run
        fh.write(json.dumps(record) + "\n")
    return record


def show(log: str) -> str:
    lines = [
        "| # | run | settings (beyond the job) | epochs | wall s | load before/after | samples/s "
        "| valid err last / best (epoch) / mean last 3 | valid logloss |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    with open(log) as fh:
        for i, line in enumerate(fh, 1):
            r = json.loads(line)
            lines.append(
                f"| {i} | {r['tag']} | {', '.join(r['sets']) or '-'} | {r['epochs']:g} | {r['wall_seconds']:.0f} | "
                f"{r['load_before']:.2f} / {r['load_after']:.2f} | {r['samples_per_second']:,} | "
                f"{r['final_valid_error']:.4f} / {r['best_valid_error']:.4f} ({r['best_valid_error_epochs']:g}) / "
                f"{r['last3_valid_error']:.4f} | {r['final_valid_logloss']:.4f} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tag", nargs="?", help="the run's name (its output directory is runs/tune/TAG)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="as hpcdl train --set")
    ap.add_argument("--log", default=os.path.join("runs", "tune", "log.jsonl"))
    ap.add_argument("--show", action="store_true", help="print the log as a Markdown table")
    args = ap.parse_args(argv)
    if args.show:
        print(show(args.log))
        return 0
    if not args.tag:
        ap.error("give a TAG for the run (or --show)")
    r = run(args.tag, args.set, args.log)
    print(
        f"{r['tag']}: {r['epochs']:g} epochs, wall {r['wall_seconds']:.0f} s, load {r['load_before']:.2f}/"
        f"{r['load_after']:.2f}, {r['samples_per_second']:,} samples/s, valid err last {r['final_valid_error']:.4f} "
        f"best {r['best_valid_error']:.4f} @{r['best_valid_error_epochs']:g} mean3 {r['last3_valid_error']:.4f}, "
        f"logloss {r['final_valid_logloss']:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
