"""hpcdl against H2O-3 on small regressions: the same random split, the same parameters, test RMSE.

    python benchmarks/small_regression.py [--data cars|boston|CSV --response COL] [--seeds 1-5]
        [--split-seed 1] [--h2o-python /tmp/h2ovenv/bin/python] [--h2o-threads 1]
        [--systems hpcdl,h2o] [--set name=value ...] [--json results.json]

The data set is split once at random (80/20, NumPy seeded by ``--split-seed``) into two CSV
files; both systems import those files, take every other column as input and train with
H2O's defaults plus ``hidden=[50, 50], epochs=200, reproducible=True`` (``--set`` adds or
replaces parameters for both, H2O's names and values), once per model seed. The test split
is only ever scored at the end: no system scores, stops or selects on it.

Printed: one line per seed (test RMSE of each system, epochs trained), the means over the
seeds and the ratio hpcdl / H2O-3. H2O-3 runs in its own interpreter (``--h2o-python``,
a venv with ``pip install h2o``; Java 11+), started once with ``nthreads=--h2o-threads``
and shut down at the end; hpcdl runs in this one with one thread.

Data sets: ``cars`` is H2O's cars_20mpg (response ``economy (mpg)``, 6 missing responses,
missing ``power (hp)``, the car ``name`` a high-cardinality categorical) and ``boston``
the Boston housing data (response ``medv``), both copied from H2O-3's repository into
``benchmarks/data/`` (its README says from where).
"""

from __future__ import annotations

import argparse
import ast
import csv
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))  # this checkout's hpcdl (the H2O worker never imports it)
DATA = os.path.join(HERE, "data")
DATASETS = {"cars": ("cars.csv", "economy (mpg)"), "boston": ("BostonHousing.csv", "medv")}
BASE_PARAMS = {"hidden": [50, 50], "epochs": 200, "reproducible": True}


def split_csv(path: str, split_seed: int, out_dir: str) -> tuple[str, str, int, int]:
    """Rows of ``path`` into train/test CSV files (80/20 at random); returns the paths and row counts."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    in_train = np.random.default_rng(split_seed).random(len(body)) < 0.8
    stem = os.path.splitext(os.path.basename(path))[0]
    paths = []
    for part, keep in (("train", in_train), ("test", ~in_train)):
        out = os.path.join(out_dir, f"{stem}-split{split_seed}-{part}.csv")
        with open(out, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(r for r, k in zip(body, keep) if k)
        paths.append(out)
    return paths[0], paths[1], int(in_train.sum()), int((~in_train).sum())


def run_hpcdl(train_csv: str, test_csv: str, response: str, seeds: list[int], params: dict, work: str) -> list[dict]:
    import hpcdl

    train = hpcdl.import_file(train_csv, destination=os.path.join(work, "train.h5"))
    test = hpcdl.import_file(test_csv, destination=os.path.join(work, "test.h5"))
    x = [c for c in train.names if c != response]
    out = []
    for seed in seeds:
        t0 = time.time()
        model = hpcdl.deeplearning(
            x=x, y=response, training_frame=train, threads=1, quiet_mode=True, seed=seed, **params
        )
        out.append(
            {
                "seed": seed,
                "test_rmse": float(model.model_performance(test)["RMSE"]),
                "epochs": float(model.run_info["epochs"]),
                "iterations": int(model.run_info["iterations"]),
                "seconds": time.time() - t0,
            }
        )
    return out


def h2o_worker(spec: dict) -> list[dict]:
    """Runs inside the H2O interpreter: one H2O-3 cloud, one model per seed."""
    import h2o
    from h2o.estimators import H2ODeepLearningEstimator

    h2o.init(nthreads=spec["threads"], verbose=False)
    h2o.no_progress()
    try:
        train = h2o.import_file(spec["train"])
        test = h2o.import_file(spec["test"])
        x = [c for c in train.columns if c != spec["response"]]
        out = []
        for seed in spec["seeds"]:
            t0 = time.time()
            model = H2ODeepLearningEstimator(seed=seed, **spec["params"])
            model.train(x=x, y=spec["response"], training_frame=train)
            hist = model.scoring_history()
            out.append(
                {
                    "seed": seed,
                    "test_rmse": float(model.model_performance(test).rmse()),
                    "epochs": float(hist["epochs"].iloc[-1]),
                    "iterations": int(hist["iterations"].iloc[-1]),
                    "seconds": time.time() - t0,
                }
            )
        return [{"version": h2o.__version__}, *out]
    finally:
        h2o.cluster().shutdown()


def run_h2o(python: str, spec: dict) -> tuple[str, list[dict]]:
    proc = subprocess.run(
        [python, os.path.abspath(__file__), "--h2o-worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("[")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"small_regression: H2O-3 run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1])
    return result[0]["version"], result[1:]


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = (int(v) for v in text.split("-", 1))
        return list(range(lo, hi + 1))
    return [int(v) for v in text.split(",")]


def parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        if not name or not _:
            raise SystemExit(f"small_regression: --set {item!r}: expected name=value")
        lowered = {"true": "True", "false": "False"}.get(value.lower(), value)
        try:
            out[name] = ast.literal_eval(lowered)
        except (ValueError, SyntaxError):
            out[name] = value
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="cars", help="cars, boston, or a CSV path (then --response)")
    ap.add_argument("--response")
    ap.add_argument("--seeds", default="1-5")
    ap.add_argument("--split-seed", type=int, default=1)
    ap.add_argument("--systems", default="hpcdl,h2o")
    ap.add_argument("--h2o-python", default="/tmp/h2ovenv/bin/python")
    ap.add_argument("--h2o-threads", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--h2o-worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.h2o_worker:
        print(json.dumps(h2o_worker(json.loads(args.h2o_worker))))
        return 0

    if args.data in DATASETS:
        name, response = DATASETS[args.data]
        path = os.path.join(DATA, name)
    else:
        path, response = args.data, args.response
    if not response:
        raise SystemExit("small_regression: --response is required with a CSV path")
    if not os.path.exists(path):
        raise SystemExit(f"small_regression: {path}: no such file")
    seeds = parse_seeds(args.seeds)
    params = {**BASE_PARAMS, **parse_set(args.set)}
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(systems) - {"hpcdl", "h2o"}
    if unknown:
        raise SystemExit(f"small_regression: unknown systems {sorted(unknown)} (use hpcdl, h2o)")

    results, versions = {}, {}
    with tempfile.TemporaryDirectory(prefix="hpcdl-small-regression-") as work:
        train_csv, test_csv, n_train, n_test = split_csv(path, args.split_seed, work)
        if "hpcdl" in systems:
            results["hpcdl"] = run_hpcdl(train_csv, test_csv, response, seeds, params, work)
            versions["hpcdl"] = "hpcdl"
        if "h2o" in systems:
            spec = {
                "train": train_csv,
                "test": test_csv,
                "response": response,
                "seeds": seeds,
                "params": params,
                "threads": args.h2o_threads,
            }
            versions["h2o"], results["h2o"] = run_h2o(args.h2o_python, spec)

    print(
        f"# {os.path.basename(path)}: response {response!r}, split seed {args.split_seed} "
        f"({n_train} train / {n_test} test rows), parameters {params}"
    )
    print(f"# {platform.node()}, {os.cpu_count()} cores, {dt.datetime.now().isoformat(timespec='seconds')}")
    head = "seed" + "".join(f"  {s + ' test RMSE':>16}  {s + ' epochs':>12}" for s in results)
    print(head)
    for i, seed in enumerate(seeds):
        cells = "".join(f"  {r[i]['test_rmse']:16.4f}  {r[i]['epochs']:12.2f}" for r in results.values())
        print(f"{seed:4d}{cells}")
    means = {s: float(np.mean([r["test_rmse"] for r in rs])) for s, rs in results.items()}
    print("mean" + "".join(f"  {means[s]:16.4f}  {'':12}" for s in results))
    if len(means) == 2:
        print(f"ratio hpcdl / H2O-3 ({versions['h2o']}) of the mean test RMSE: {means['hpcdl'] / means['h2o']:.3f}")
    if args.json:
        from hpcdl.fsutil import atomic_path

        with atomic_path(args.json) as tmp, open(tmp, "w") as fh:
            json.dump({"data": path, "split_seed": args.split_seed, "params": params, "results": results}, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
