"""hpcdl on Fashion-MNIST: one training run, its speed, its validation curve and its test error.

    python benchmarks/fashion_mnist.py --frames DIR [--threads 2] [--epochs 10]
        [--mini-batch 1] [--validation-split F] [--split-seed S] [--set key=value ...] [--json]

DIR holds the frames written by
``hpcdl import --mnist-dir /usr/share/datasets/fashion-mnist --out DIR``
(``apt-get install dataset-fashion-mnist`` provides the IDX files). The network is the
booklet's MNIST trial network: 784-200-200-200-10, RectifierWithDropout (hidden
dropout 0.5, H2O's default), input_dropout_ratio 0.2, l1 1e-5, ADADELTA defaults;
``--set`` changes any Deep Learning parameter (TOML values: ``--set hidden=[512,512]``).

Frames: the model trains on the training images minus a validation split, the rows
``split_frame(ratios=[1 - F], seed=S)`` holds out (default: ``validation_split`` and
``split_seed`` of jobs/fashion_mnist_best.toml, the one split rule of the benchmarks;
benchmarks/torch_mlp.py takes the same rows). The split is the validation frame: the
curve and the time to the target accuracy are measured on it. ``--validation-split 0``
trains on all 60,000 images with no validation frame. The test frame is scored once,
after training; overwrite_with_best_model is off, so that is the last model.
Reported: wall time of the training call, training samples/s (the trainer's own count:
samples / seconds inside the training kernels and Allreduce), seconds outside the
kernels, validation and test error, the time (seconds since training started, scoring
included) at which the validation accuracy first reached the target, peak RSS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
SPLIT_JOB = os.path.join(HERE, "..", "jobs", "fashion_mnist_best.toml")  # its [data] split is the benchmarks' split

TRIAL = {
    "activation": "RectifierWithDropout",
    "hidden": [200, 200, 200],
    "input_dropout_ratio": 0.2,
    "l1": 1e-5,
    "epochs": 10,
    "seed": 1,
    "overwrite_with_best_model": False,
}


def job_split() -> tuple[float, int]:
    """``validation_split`` and ``split_seed`` of jobs/fashion_mnist_best.toml."""
    import tomllib

    from hpcdl.runner import DEFAULT_SPLIT_SEED

    with open(SPLIT_JOB, "rb") as fh:
        data = tomllib.load(fh)["data"]
    return float(data["validation_split"]), int(data.get("split_seed", DEFAULT_SPLIT_SEED))


def frames(frames_dir: str, validation_split: float, split_seed: int):
    """(training part, validation part or None, test frame): split_frame's rows, as a job's
    ``[data] validation_split`` holds them out."""
    import hpcdl

    paths = [os.path.join(frames_dir, f"fashion-mnist-{part}.h5") for part in ("train", "test")]
    for p in paths:
        if not os.path.exists(p):
            raise SystemExit(
                f"{p}: missing; run: hpcdl import --mnist-dir /usr/share/datasets/fashion-mnist "
                f"--out {frames_dir}  (apt-get install dataset-fashion-mnist provides the files)"
            )
    train, test = [hpcdl.get_frame(p) for p in paths]
    if not 0 <= validation_split < 1:
        raise SystemExit(f"--validation-split {validation_split}: expected a fraction in [0, 1)")
    if validation_split == 0:
        return train, None, test
    part, valid = train.split_frame(ratios=[1.0 - validation_split], seed=split_seed)
    return part, valid, test


def arrays(frame) -> tuple[np.ndarray, np.ndarray]:
    """(pixels as float32 rows, labels as int64) of a frame."""
    cols = [n for n in frame.names if n != "label"]
    data = frame.read(cols + ["label"])
    X = np.column_stack([np.asarray(data[c], dtype=np.float32) for c in cols])
    return X, np.asarray(data["label"]).astype(np.int64)


def digest(frame) -> str | None:
    """A fingerprint of a frame's rows, to check that two systems are timed against the same rows."""
    if frame is None:
        return None
    X, y = arrays(frame)
    return hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest()[:16]


def time_to_target(history: list[dict], target_error: float):
    for row in history:
        err = row.get("validation_classification_error")
        if err is not None and err <= target_error:
            return float(row["duration"])
    return None


def run(
    frames_dir: str,
    threads: int,
    params: dict,
    target: float = 0.885,
    quiet: bool = True,
    split: tuple[float, int] = (0.0, 1),
) -> dict:
    """Train on the training part, score the validation part while training, the test frame once at the end."""
    import hpcdl

    train, valid, test = frames(frames_dir, *split)
    x = [n for n in train.names if n != "label"]
    t0 = time.time()
    model = hpcdl.deeplearning(
        x=x,
        y="label",
        training_frame=train,
        validation_frame=valid,
        threads=threads,
        progress=None if quiet else _progress,
        **params,
    )
    wall = time.time() - t0
    perf = model.model_performance(test)  # once, after training: nothing was chosen by it
    info = model.run_info
    history = model.scoring_events
    keys = ("duration", "epochs", "samples", "training_speed", "training_classification_error")
    keys += ("validation_classification_error", "validation_logloss") if valid is not None else ()
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
        "scoring_seconds": info.get("scoring_seconds_total"),  # the Monitor's own count of its scorings
        "scoring_share": (info.get("scoring_seconds_total") or 0.0) / wall,
        "validation_split": split[0],
        "split_seed": split[1],
        "n_training_rows": train.nrow,
        "n_validation_rows": valid.nrow if valid is not None else 0,
        "validation_digest": digest(valid),
        "validation_error": model.validation_metrics.get("classification_error") if valid is not None else None,
        "test_error": perf.get("classification_error"),
        "test_logloss": perf.get("logloss"),
        "time_to_target": time_to_target(history, 1.0 - target),
        "target": target,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "history": [{k: row.get(k) for k in keys} for row in history],
        "confusion_matrix": perf.get("confusion_matrix"),
        "params": params,
    }


def _score_seconds(history, info, wall):
    """Wall time not spent in the training kernels (scoring, data preparation, compilation)."""
    return max(0.0, wall - float(info.get("train_seconds") or 0.0))


def _progress(row, model):
    print(
        f"  epochs {row.get('epochs', 0):6.2f}  {row.get('training_speed', 0):9,.0f} samples/s  "
        f"valid err {row.get('validation_classification_error', float('nan')):.4f}  "
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
    ap.add_argument("--target", type=float, default=0.885, help="validation accuracy for the time to target")
    ap.add_argument("--validation-split", type=float, help="held-out fraction (default: the best-MLP job's; 0: none)")
    ap.add_argument("--split-seed", type=int, help="split_frame seed (default: the best-MLP job's)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    default_split, default_seed = job_split()
    split = (
        default_split if args.validation_split is None else args.validation_split,
        default_seed if args.split_seed is None else args.split_seed,
    )
    params = dict(TRIAL, epochs=args.epochs, mini_batch_size=args.mini_batch)
    for item in args.set:
        key, _, value = item.partition("=")
        params[key.strip()] = parse_value(value.strip())
    result = run(args.frames, args.threads, params, args.target, quiet=args.json, split=split)
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
            f"{result['samples_per_second']:,.0f} samples/s, validation error {result['validation_error']}, "
            f"time to {args.target:.1%} (validation) {result['time_to_target']}; test error {result['test_error']:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
