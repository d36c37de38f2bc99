"""Side-by-side Fashion-MNIST benchmark: hpcdl (per-sample and mini-batch), H2O-3, PyTorch.

    python benchmarks/compare.py --frames DIR [--threads 2] [--epochs 10]
        [--systems hpcdl,hpcdl-mb,torch,h2o] [--mini-batch 32] [--out results.json] [--markdown table.md]

Every system runs in its own process, one after the other, on the same frames
(``hpcdl import --mnist-dir /usr/share/datasets/fashion-mnist --out DIR``), the same
number of threads and epochs, and the booklet's MNIST trial network
(784-200-200-200-10, ReLU with dropout: input 0.2, hidden 0.5, L1 1e-5):

- ``hpcdl``    per-sample HOGWILD! (mini_batch_size=1, H2O's algorithm), ADADELTA defaults
- ``hpcdl-mb`` BLAS mini-batch HOGWILD! (mini_batch_size=--mini-batch), --mb-set settings
- ``hpcdl-mpi`` per-sample, but ``threads`` MPI ranks x 1 thread on this machine: H2O's
  multi-node model averaging instead of HOGWILD! threads (peak RSS is rank 0's)
- ``torch``    benchmarks/torch_mlp.py: plain PyTorch, Adam, batch 128 (extra: pip install torch)
- ``h2o``      benchmarks/h2o_mlp.py: H2O-3 Deep Learning (extra: pip install h2o; Java 11+)

and a race to the target accuracy on the same layers without hidden dropout or L1 (the
trial network's dropout keeps every system below 88.5% within 10 epochs), both with a
budget of --race-epochs (default 20) epochs, decided by the time to the target:

- ``hpcdl-plain`` BLAS mini-batch (--plain-batch, default 128), Rectifier, no dropout,
  progress-following scoring (PLAIN_HPCDL), the optimizer of --plain-optimizer (default
  ``adam``: Adam 1e-3, weights U(-0.05, 0.05); ``nesterov``: last session's Nesterov momentum)
- ``torch-plain`` the PyTorch script without dropout and L1, Adam, batch 128

Frames: the race runs train on the training images minus a validation split and are
timed against it: the rows ``split_frame`` holds out for --validation-split/--split-seed
(default: those of jobs/fashion_mnist_best.toml), the same rows for both systems (checked:
each reports a digest of its validation rows). The trial-network runs train on all
60,000 training images without a validation frame (as H2O-3 does in its script). Every
system scores the 10,000 test images once, after training; nothing is timed, stopped or
chosen on them.

A missing reference system is skipped with a message. The table shows wall time of
the training call, training samples/s, validation and test error after the last
epoch, the time to the target validation accuracy (default 88.5%), peak resident
memory, and the 1-minute load average before and after each run (other users' load
makes a run slower).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RACE = ("hpcdl-plain", "torch-plain")

# The race's optimizer settings (--plain-optimizer), chosen in probes on the validation split
# only (BENCHMARKS.md lists them all).
# - "nesterov" (issues 18 and 28, last session's race): Nesterov momentum 0.9, rate 0.1 with
#   max-norm (max_w2 10); rates of 0.2 and more diverged without max-norm, 0.05 and 0.15 were
#   slower, input dropout 0.1 slowed the way to 88.5%.
# - "adam": Adam at PyTorch's rate (1e-3, no annealing) with weights drawn from U(-0.05, 0.05)
#   (H2O's initial_weight_distribution=Uniform). H2O's default UniformAdaptive draws the softmax
#   layer 4x wider than Glorot's range (U(+-0.68) for 200 -> 10; PyTorch: U(+-0.07)): with it Adam
#   was 1-2 points of validation error behind PyTorch's per epoch; with U(+-0.05) ~0.5-1 point, the
#   rest of the gap being the row visiting (below).
PLAIN_OPTIMIZERS = {
    "nesterov": [
        "max_w2=10",
        "adaptive_rate=false",
        "rate=0.1",
        "rate_annealing=5e-6",
        "momentum_start=0.9",
        "momentum_stable=0.9",
        # iterations of 15,000 rows (~0.2 s), the grain at which scoring can land
        "train_samples_per_iteration=15000",
    ],
    "adam": [
        "optimizer=Adam",
        "rate=0.001",
        "rate_annealing=0",
        "initial_weight_distribution=Uniform",
        "initial_weight_scale=0.05",
        # one shuffled pass over the rows per iteration (~0.45 s), scored after each, as PyTorch's
        # epochs: with iterations of 15,000 rows H2O keeps each row with probability 15,000/N per
        # iteration (rows.py), so over 3 epochs some rows are seen 0 times and some 5; after 3 epochs
        # that left 11.8-12.4% validation error where one permutation per epoch left 11.1-11.6%
        # (PyTorch: 11.1-11.4%; probes of 2026-12-08 in BENCHMARKS.md)
        "train_samples_per_iteration=0",
        "shuffle_training_data=true",
    ],
}
# The race's network and scoring, whatever the optimizer: no dropout, no L1.
PLAIN_HPCDL = [
    "activation=Rectifier",
    "input_dropout_ratio=0",
    "l1=0",
    # scoring follows the validation curve (score_progress: often while it falls, rarely on the plateau), within the
    # default 10% duty cycle; 1,000 training rows per scoring (the validation rows are all scored);
    # stopping_rounds=0: frequent scorings must not stop the run early (it counts scorings)
    "score_interval=0.1",
    # step 0.005 rather than 0.02: at 0.02 the wait stretched to 1.5 s where the curve flattens just
    # above 88.5% (race 28-4); at 0.005 scoring keeps the duty cycle's ~0.5 s pace through the crossing.
    # The cadence follows the race's own metric, the classification error: on the logloss, flat where
    # the error still jumps by +-0.5% from one scoring to the next, the wait stretched to 2.5 s just
    # before the crossing (race 28-10); the error's scatter keeps scoring at the duty cycle's pace there
    "score_progress=0.005",
    "stopping_metric=misclassification",
    "score_training_samples=1000",
    "stopping_rounds=0",
]
TORCH_PLAIN = ["--input-dropout", "0", "--hidden-dropout", "0", "--l1", "0"]


def machine() -> dict:
    model = platform.processor() or ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    ram_gb = None
    try:
        with open("/proc/meminfo") as fh:
            ram_gb = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def run_system(name: str, args) -> dict | None:
    py = sys.executable
    epochs = args.race_epochs if name in RACE else args.epochs
    base = ["--frames", args.frames, "--threads", str(args.threads), "--epochs", f"{epochs:g}", "--json"]
    split = f"{args.validation_split:g}" if name in RACE else "0"  # the race is timed on held-out training rows
    # hpcdl's and PyTorch's scripts carve the split; H2O-3's runs only the trial network, on all rows
    common = base + ["--validation-split", split, "--split-seed", str(args.split_seed)]
    if name == "hpcdl":
        cmd = [py, os.path.join(HERE, "fashion_mnist.py"), *common, "--mini-batch", "1"]
        cmd += [a for s in args.set for a in ("--set", s)]
    elif name == "hpcdl-mb":
        cmd = [py, os.path.join(HERE, "fashion_mnist.py"), *common, "--mini-batch", str(args.mini_batch)]
        cmd += [a for s in args.set + args.mb_set for a in ("--set", s)]
    elif name == "hpcdl-mpi":
        mpiexec = shutil.which(
            "mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
        )
        if mpiexec is None:
            print("compare: no mpiexec; skipping hpcdl-mpi", file=sys.stderr)
            return None
        cmd = [
            mpiexec,
            "-n",
            str(args.threads),
            py,
            os.path.join(HERE, "fashion_mnist.py"),
            *common[:2],
            "--threads",
            "1",
            *common[4:],
            "--mini-batch",
            "1",
        ]
        cmd += [a for s in args.set for a in ("--set", s)]
    elif name == "hpcdl-plain":
        cmd = [py, os.path.join(HERE, "fashion_mnist.py"), *common, "--mini-batch", str(args.plain_batch)]
        plain = PLAIN_HPCDL + PLAIN_OPTIMIZERS[args.plain_optimizer] + args.plain_set
        cmd += [a for s in plain for a in ("--set", s)]
    elif name in ("torch", "torch-plain"):
        if importlib.util.find_spec("torch") is None:
            print("compare: torch is not installed (pip install torch); skipping PyTorch", file=sys.stderr)
            return None
        cmd = [py, os.path.join(HERE, "torch_mlp.py"), *common, "--batch", str(args.torch_batch)]
        if name == "torch-plain":
            cmd += TORCH_PLAIN
    elif name == "h2o":
        if importlib.util.find_spec("h2o") is None:
            print("compare: h2o is not installed (pip install h2o); skipping H2O-3", file=sys.stderr)
            return None
        if shutil.which("java") is None:
            print("compare: no java on PATH; skipping H2O-3", file=sys.stderr)
            return None
        cmd = [py, os.path.join(HERE, "h2o_mlp.py"), *base]
    else:
        raise SystemExit(
            f"compare: unknown system {name!r} (use hpcdl, hpcdl-mb, torch, h2o, hpcdl-plain, torch-plain)"
        )
    load_before = os.getloadavg()[0]
    print(f"compare: running {name}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        print(f"compare: {name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
    result = json.loads(line)
    result["name"] = name
    result["load_before"] = load_before
    result["load_after"] = os.getloadavg()[0]
    return result


def fmt(v, spec: str, none: str = "-") -> str:
    return none if v is None else format(v, spec)


def _optimizer(r: dict) -> str:
    """The optimizer an hpcdl run trained with, as the table names it."""
    params = r.get("params") or {}
    if params.get("optimizer") == "Adam":
        return f"Adam {params.get('rate', '')}"
    if params.get("adaptive_rate") is False:
        return "Nesterov" if params.get("nesterov_accelerated_gradient", True) else "momentum"
    return "ADADELTA"


def share(r: dict) -> str:
    """hpcdl's time in scoring (its Monitor's count) as a share of the training call's wall time."""
    if r.get("scoring_seconds") is None:
        return "-"
    return f"{r['scoring_seconds']:.2f} s = {100 * r['scoring_share']:.1f}%"


def timed_against(r: dict) -> str:
    """The frame a system's curve and time to target are measured on."""
    if not r.get("n_validation_rows"):
        return "none (all training rows)"
    return f"split {r['validation_split']:g}, seed {r['split_seed']}: {r['n_validation_rows']:,} rows"


def table(results: list[dict], target: float) -> str:
    head = (
        f"| system | wall s | samples/s | validation error | test error | time to {target:.1%} (validation) s "
        "| validation frame | scoring % of wall | peak RSS MB | load before/after |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    labels = {
        "hpcdl": "hpcdl per-sample (mini_batch_size=1)",
        "torch": "PyTorch (Adam, batch {b})",
        "h2o": "H2O-3 {v}",
        "hpcdl-mb": "hpcdl mini-batch {b} (BLAS)",
        "hpcdl-mpi": "hpcdl per-sample, {r} MPI ranks x 1 thread",
        "hpcdl-plain": "race: hpcdl mini-batch {b}, no dropout, {o}",
        "torch-plain": "race: PyTorch no dropout, Adam, batch {b}",
    }
    for r in results:
        label = labels[r["name"]].format(
            b=r.get("mini_batch_size") or r.get("batch"), v=r.get("version", ""), r=r.get("ranks"), o=_optimizer(r)
        )
        lines.append(
            f"| {label} | {fmt(r['wall_seconds'], '.1f')} | {fmt(r['samples_per_second'], ',.0f')} | "
            f"{fmt(r.get('validation_error'), '.4f')} | {fmt(r['test_error'], '.4f')} | "
            f"{fmt(r.get('time_to_target'), '.2f', 'not reached')} | {timed_against(r)} | {share(r)} | "
            f"{fmt(r.get('peak_rss_mb'), ',.0f')} | {r['load_before']:.2f} / {r['load_after']:.2f} |"
        )
    by = {r["name"]: r for r in results}
    ratios = []
    if "h2o" in by and by["h2o"].get("samples_per_second"):
        for name in ("hpcdl", "hpcdl-mpi", "hpcdl-mb"):
            if name in by:
                ratios.append(
                    f"{name} / H2O samples/s = {by[name]['samples_per_second'] / by['h2o']['samples_per_second']:.1f}x"
                )
    for a, b in (("hpcdl-mb", "torch"), RACE):
        if a in by and b in by:
            ratios.append(f"{a} / {b} samples/s = {by[a]['samples_per_second'] / by[b]['samples_per_second']:.2f}x")
    a, b = (by.get(n, {}).get("time_to_target") for n in RACE)
    if a and b:
        ratios.append(f"race: hpcdl-plain / torch-plain time to {target:.1%} = {a / b:.2f}x")
    return "\n".join(lines) + ("\n\n" + "; ".join(ratios) if ratios else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=float, default=10)
    ap.add_argument("--systems", default="hpcdl,hpcdl-mpi,hpcdl-mb,torch,hpcdl-plain,torch-plain,h2o")
    ap.add_argument("--mini-batch", type=int, default=32)
    ap.add_argument("--plain-batch", type=int, default=128)
    ap.add_argument(
        "--race-epochs",
        type=float,
        default=20,
        help="epoch budget of both race runs (the race is decided by the time to --target)",
    )
    ap.add_argument(
        "--plain-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="hpcdl parameter for the race run (after PLAIN_HPCDL and the optimizer's settings)",
    )
    ap.add_argument(
        "--plain-optimizer",
        choices=sorted(PLAIN_OPTIMIZERS),
        default="adam",
        help="the race run's optimizer settings (PLAIN_OPTIMIZERS)",
    )
    ap.add_argument("--torch-batch", type=int, default=128)
    ap.add_argument("--target", type=float, default=0.885, help="validation accuracy the race runs to")
    ap.add_argument("--validation-split", type=float, help="the race's held-out fraction (default: the best-MLP job's)")
    ap.add_argument("--split-seed", type=int, help="split_frame seed (default: the best-MLP job's)")
    ap.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="hpcdl parameter for both hpcdl runs"
    )
    ap.add_argument(
        "--mb-set", action="append", default=[], metavar="KEY=VALUE", help="hpcdl parameter for the mini-batch run only"
    )
    ap.add_argument("--out", help="write all results (with curves) as JSON")
    ap.add_argument("--markdown", help="write the table as Markdown")
    args = ap.parse_args(argv)
    sys.path.insert(0, HERE)
    from fashion_mnist import job_split

    split, seed = job_split()
    args.validation_split = split if args.validation_split is None else args.validation_split
    args.split_seed = seed if args.split_seed is None else args.split_seed
    info = machine()
    results = []
    for name in [s.strip() for s in args.systems.split(",") if s.strip()]:
        r = run_system(name, args)
        if r is not None:
            results.append(r)
            print(
                f"compare: {name}: {r['samples_per_second']:,.0f} samples/s, test error {r['test_error']:.4f}",
                file=sys.stderr,
                flush=True,
            )
    race_rows = {r.get("validation_digest") for r in results if r["name"] in RACE}
    if len(race_rows) > 1:  # the race is only fair on the same held-out rows
        print(f"compare: the race systems were timed against different rows ({race_rows})", file=sys.stderr)
        return 1
    text = (
        f"{info['date']}; {info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM; "
        f"{args.threads} threads, {args.epochs:g} epochs (race: {args.race_epochs:g})\n\n" + table(results, args.target)
    )
    print(text)
    if args.out:
        with open(args.out + ".tmp", "w") as fh:
            json.dump({"machine": info, "args": vars(args), "results": results}, fh, indent=1, default=str)
        os.replace(args.out + ".tmp", args.out)
    if args.markdown:
        with open(args.markdown + ".tmp", "w") as fh:
            fh.write(text + "\n")
        os.replace(args.markdown + ".tmp", args.markdown)
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
