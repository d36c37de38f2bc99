"""hpcdl on Fashion-MNIST: one training run, its speed, its test error and its curve.

    python benchmarks/fashion_mnist.py --frames DIR [--threads 2] [--epochs 10]
        [--mini-batch 1] [--set key=value ...] [--json]

DIR holds the frames written by
``hpcdl import --mnist-dir /usr/share/datasets/fashion-mnist --out DIR``
(``apt-get install dataset-fashion-mnist`` provides the IDX files). The network is the
booklet's MNIST trial network: 784-200-200-200-10, RectifierWithDropout (hidden
dropout 0.5, H2O's default), input_dropout_ratio 0.2, l1 1e-5, ADADELTA defaults;
``--set`` changes any Deep Learning parameter (TOML values: ``--set hidden=[512,512]``).

The test frame is the validation frame, for the curve only: overwrite_with_best_model
is off, so the reported model is the last one, not the one that looked best on the
test set. Reported: wall time of the training call, training samples/s (the trainer's
own count: samples / seconds inside the training kernels and Allreduce), seconds spent
scoring, final test error, the time (seconds since training started, scoring included)
at which the test accuracy first reached the target, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

TRIAL = {
    "activation": "RectifierWithDropout",
    "hidden": [200, 200, 200],
    "input_dropout_ratio": 0.2,
    "l1": 1e-5,
    "epochs": 10,
    "seed": 1,
    "overwrite_with_best_model": False,
}


def frames(frames_dir: str):
    import hpcdl

    paths = [os.path.join(frames_dir, f"fashion-mnist-{part}.h5") for part in ("train", "test")]
    for p in paths:
        if not os.path.exists(p):
            raise SystemExit(
                f"{p}: missing; run: hpcdl import --mnist-dir /usr/share/datasets/fashion-mnist "
                f"--out {frames_dir}  (apt-get install dataset-fashion-mnist provides the files)"
            )
    return [hpcdl.get_frame(p) for p in paths]


def time_to_target(history: list[dict], target_error: float):
    for row in history:
        err = row.get("validation_classification_error")
        if err is not None and err <= target_error:
            return float(row["duration"])
    return None


def run(frames_dir: str, threads: int, params: dict, target: float = 0.885, quiet: bool = True) -> dict:
    import hpcdl

    train, test = frames(frames_dir)
    x = [n for n in train.names if n != "label"]
    t0 = time.time()
    model = hpcdl.deeplearning(
        x=x,
        y="label",
        training_frame=train,
        validation_frame=test,
        threads=threads,
        progress=None if quiet else _progress,
        **params,
    )
    wall = time.time() - t0
    perf = model.model_performance(test)
    info = model.run_info
    history = model.scoring_events
    cm = perf.get("confusion_matrix")
    return {
        "system": "hpcdl",
        "threads": threads,
        "epochs": params.get("epochs"),
        "mini_batch_size": params.get("mini_batch_size", 1),
        "wall_seconds": wall,
        "train_seconds": info.get("train_seconds"),
        "samples": info.get("samples"),
        "samples_per_second": info.get("samples_per_second"),
        "allreduce_seconds": info.get("allreduce_seconds_total", 0.0),
        "score_seconds": _score_seconds(history, info, wall),
        "test_error": perf.get("classification_error"),
        "test_logloss": perf.get("logloss"),
        "time_to_target": time_to_target(history, 1.0 - target),
        "target": target,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "history": [
            {
                k: row.get(k)
                for k in (
                    "duration",
                    "epochs",
                    "samples",
                    "training_speed",
                    "training_classification_error",
                    "validation_classification_error",
                    "validation_logloss",
                )
            }
            for row in history
        ],
        "confusion_matrix": cm,
        "params": params,
    }


def _score_seconds(history, info, wall):
    """Wall time not spent in the training kernels (scoring, data preparation, compilation)."""
    return max(0.0, wall - float(info.get("train_seconds") or 0.0))


def _progress(row, model):
    print(
        f"  epochs {row.get('epochs', 0):6.2f}  {row.get('training_speed', 0):9,.0f} samples/s  "
        f"test err {row.get('validation_classification_error', float('nan')):.4f}  "
        f"t {row.get('duration', 0):7.1f}s",
        flush=True,
    )


def main(argv=None) -> int:
    from hpcdl.jobs import parse_value

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=float, default=10)
    ap.add_argument("--mini-batch", type=int, default=1)
    ap.add_argument("--target", type=float, default=0.885)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    params = dict(TRIAL, epochs=args.epochs, mini_batch_size=args.mini_batch)
    for item in args.set:
        key, _, value = item.partition("=")
        params[key.strip()] = parse_value(value.strip())
    result = run(args.frames, args.threads, params, args.target, quiet=args.json)
    from hpcdl import comm as comm_mod

    world = comm_mod.world()
    result["ranks"] = world.size
    if world.rank != 0:  # under mpiexec: one report, from rank 0
        return 0
    if args.json:
        print(json.dumps(result, default=str))
    else:
        print(
            f"hpcdl mini_batch_size={result['mini_batch_size']}: wall {result['wall_seconds']:.1f}s, "
            f"{result['samples_per_second']:,.0f} samples/s, test error {result['test_error']:.4f}, "
            f"time to {args.target:.1%} {result['time_to_target']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
