"""H2O-3 reference for the Fashion-MNIST benchmark (benchmarks/compare.py).

    python benchmarks/h2o_mlp.py --frames DIR [--threads 2] [--epochs 10] [--json]

Starts a local H2O-3 (``pip install h2o``; needs Java 11+) with ``nthreads`` threads,
imports the same pixels and labels as hpcdl's frames (written once to CSV files
next to the frames), and trains the booklet's MNIST trial network: 784-200-200-200-10,
RectifierWithDropout, input_dropout_ratio 0.2, l1 1e-5, epochs 10, on all training
images with no validation frame (as hpcdl's trial-network run: nothing scores the test
images while training), overwrite_with_best_model off (the last model is reported, as
for hpcdl). H2O standardizes and drops constant columns itself.

Reported: wall time of ``train()``, H2O's own training speed (samples/s from the last
scoring-history row), the test error of the final model (the test images scored once,
after training), and the peak resident memory of the Java process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

import numpy as np


def csv_files(frames_dir: str) -> list[str]:
    """fashion-mnist-{train,test}.csv beside the frames (written once): 784 pixel columns + label."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from hpcdl.frame import Frame

    out = []
    for part in ("train", "test"):
        h5 = os.path.join(frames_dir, f"fashion-mnist-{part}.h5")
        csv = os.path.join(frames_dir, f"fashion-mnist-{part}.csv")
        if not os.path.exists(h5):
            raise SystemExit(
                f"{h5}: missing; run: hpcdl import --mnist-dir /usr/share/datasets/fashion-mnist --out {frames_dir}"
            )
        if not os.path.exists(csv) or os.path.getmtime(csv) < os.path.getmtime(h5):
            fr = Frame(h5)
            cols = [n for n in fr.names if n != "label"]
            data = fr.read(cols + ["label"])
            X = np.column_stack([np.asarray(data[c]) for c in cols]).astype(np.int64)
            y = np.asarray(data["label"]).astype(np.int64)
            labels = np.asarray(fr.domains["label"])[y]
            tmp = csv + ".tmp"
            with open(tmp, "w") as fh:
                fh.write(",".join(cols + ["label"]) + "\n")
                fh.writelines(",".join(map(str, row.tolist())) + f",{lab}\n" for row, lab in zip(X, labels))
            os.replace(tmp, csv)
        out.append(csv)
    return out


def seconds(duration) -> float:
    """H2O's scoring-history duration ("1 min 23.456 sec", "12.345 sec") in seconds."""
    units = {"ms": 1e-3, "sec": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0, "d": 86400.0}
    return sum(float(v) * units[u] for v, u in re.findall(r"([0-9.]+)\s*(ms|sec|min|hr|h|d)\b", str(duration)))


def java_peak_mb() -> float | None:
    """VmHWM of the H2O Java child process (the client starts it as our child)."""
    me = os.getpid()
    best = None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            if ppid != me:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"h2o" not in fh.read():
                    continue
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        best = max(best or 0.0, int(line.split()[1]) / 1024.0)
        except (OSError, ValueError, IndexError):
            continue
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=float, default=10)
    ap.add_argument("--target", type=float, default=0.885)
    ap.add_argument("--max-mem", default="6G")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        import h2o
        from h2o.estimators import H2ODeepLearningEstimator
    except ImportError:
        print("h2o is not installed (pip install 'hpcdl[bench]' or pip install h2o)", file=sys.stderr)
        return 3
    train_csv, test_csv = csv_files(args.frames)
    h2o.init(nthreads=args.threads, max_mem_size=args.max_mem, verbose=False)
    h2o.no_progress()
    try:
        train = h2o.import_file(train_csv)
        test = h2o.import_file(test_csv)
        train["label"] = train["label"].asfactor()
        test["label"] = test["label"].asfactor()
        x = [c for c in train.columns if c != "label"]
        model = H2ODeepLearningEstimator(
            activation="RectifierWithDropout",
            hidden=[200, 200, 200],
            input_dropout_ratio=0.2,
            l1=1e-5,
            epochs=args.epochs,
            seed=1,
            overwrite_with_best_model=False,
        )
        t0 = time.time()
        model.train(x=x, y="label", training_frame=train)
        wall = time.time() - t0
        predicted = model.predict(test)["predict"].as_data_frame().iloc[:, 0].astype(str).to_numpy()
        actual = test["label"].as_data_frame().iloc[:, 0].astype(str).to_numpy()
        test_error = float(np.mean(predicted != actual))
        hist = model.scoring_history()
        rows = hist.to_dict("records") if hasattr(hist, "to_dict") else []

        speed = None
        for r in reversed(rows):
            text = str(r.get("training_speed") or "").replace("obs/sec", "").replace(",", "").strip()
            try:
                speed = float(text)
                break
            except ValueError:
                continue
        result = {
            "system": "h2o",
            "version": h2o.__version__,
            "threads": args.threads,
            "epochs": args.epochs,
            "wall_seconds": wall,
            "train_seconds": None,
            "samples_per_second": speed,
            "samples_per_second_wall": args.epochs * train.nrow / wall,
            "test_error": test_error,
            "time_to_target": None,  # only the race has a target, timed on validation rows
            "target": args.target,
            "peak_rss_mb": java_peak_mb(),
            "history": [
                {
                    "duration": seconds(r.get("duration")),
                    "epochs": r.get("epochs"),
                    "training_classification_error": r.get("training_classification_error"),
                }
                for r in rows
            ],
        }
    finally:
        h2o.cluster().shutdown()
    if args.json:
        print(json.dumps(result, default=float))
    else:
        print(
            f"h2o: wall {result['wall_seconds']:.1f}s, {result['samples_per_second']} samples/s, "
            f"test error {result['test_error']:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
