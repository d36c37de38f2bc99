"""Plain PyTorch CPU reference for the Fashion-MNIST benchmark (benchmarks/compare.py).

    python benchmarks/torch_mlp.py --frames DIR [--threads 2] [--epochs 10] [--batch 128] [--json]

The same data as hpcdl (the frames written by ``hpcdl import --mnist-dir``), the same
standardization (per-column mean/sd of the training frame; constant columns dropped),
the same layers as the booklet's MNIST trial network: 784-200-200-200-10, ReLU,
input dropout 0.2, hidden dropout 0.5, L1 1e-5 on the weights (added to the loss),
softmax cross-entropy. Optimizer: Adam (lr 1e-3), batch 128, shuffled each epoch.
PyTorch's dropout is inverted (kept units scaled by 1/(1-p) in training), H2O's is not;
the networks are otherwise the same.

Test accuracy is measured after every epoch; the time to 88.5% is the wall time since
training started (evaluations included, as hpcdl's scoring is) at the first epoch that
reaches it. ``wall_seconds`` is the training loop with its evaluations, data loading
excluded; ``samples_per_second`` counts training time only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np


def load_frames(frames_dir: str):
    """(X_train, y_train, X_test, y_test) as float32 / int64, standardized like hpcdl."""
    import h5py  # noqa: F401 - hpcdl's frames are HDF5

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from hpcdl.frame import Frame

    def read(name):
        path = os.path.join(frames_dir, name)
        if not os.path.exists(path):
            raise SystemExit(
                f"{path}: missing; run: hpcdl import --mnist-dir /usr/share/datasets/fashion-mnist --out {frames_dir}"
            )
        fr = Frame(path)
        cols = [n for n in fr.names if n != "label"]
        data = fr.read(cols + ["label"])
        X = np.column_stack([np.asarray(data[c], dtype=np.float32) for c in cols])
        y = np.asarray(data["label"]).astype(np.int64)
        return X, y

    Xtr, ytr = read("fashion-mnist-train.h5")
    Xte, yte = read("fashion-mnist-test.h5")
    mean = Xtr.mean(axis=0, dtype=np.float64)
    sd = Xtr.std(axis=0, ddof=1, dtype=np.float64)
    keep = sd > 0
    mul = np.where(keep, 1.0 / np.where(keep, sd, 1.0), 0.0)
    Xtr = ((Xtr - mean) * mul)[:, keep].astype(np.float32)
    Xte = ((Xte - mean) * mul)[:, keep].astype(np.float32)
    return Xtr, ytr, Xte, yte


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", required=True, help="directory with fashion-mnist-{train,test}.h5")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", default="200,200,200")
    ap.add_argument("--input-dropout", type=float, default=0.2)
    ap.add_argument("--hidden-dropout", type=float, default=0.5)
    ap.add_argument("--l1", type=float, default=1e-5)
    ap.add_argument("--target", type=float, default=0.885, help="test accuracy for time-to-accuracy")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON result line")
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("torch is not installed (pip install 'hpcdl[bench]' or pip install torch)", file=sys.stderr)
        return 3
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    Xtr, ytr, Xte, yte = load_frames(args.frames)
    Xtr_t, ytr_t = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    Xte_t, yte_t = torch.from_numpy(Xte), torch.from_numpy(yte)
    sizes = [Xtr.shape[1], *[int(h) for h in args.hidden.split(",")], 10]
    layers: list = [torch.nn.Dropout(args.input_dropout)]
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers += [torch.nn.ReLU(), torch.nn.Dropout(args.hidden_dropout)]
    net = torch.nn.Sequential(*layers)
    weights = [m.weight for m in net if isinstance(m, torch.nn.Linear)]
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    lossf = torch.nn.CrossEntropyLoss()
    n = len(Xtr)
    train_seconds = 0.0
    time_to_target = None
    history = []
    t_wall = time.time()
    for epoch in range(1, args.epochs + 1):
        net.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        for s in range(0, n, args.batch):
            idx = perm[s : s + args.batch]
            opt.zero_grad(set_to_none=True)
            loss = lossf(net(Xtr_t[idx]), ytr_t[idx])
            if args.l1 > 0:
                loss = loss + args.l1 * sum(w.abs().sum() for w in weights)
            loss.backward()
            opt.step()
        train_seconds += time.perf_counter() - t0
        net.eval()
        with torch.no_grad():
            acc = float((net(Xte_t).argmax(1) == yte_t).float().mean())
        history.append({"epoch": epoch, "train_seconds": round(train_seconds, 3), "test_accuracy": acc})
        if time_to_target is None and acc >= args.target:
            time_to_target = time.time() - t_wall
        if not args.json:
            print(
                f"epoch {epoch:3d}  train {train_seconds:7.1f}s  {epoch * n / train_seconds:9,.0f} samples/s  "
                f"test accuracy {acc:.4f}",
                flush=True,
            )
    result = {
        "system": "pytorch",
        "version": torch.__version__,
        "threads": args.threads,
        "epochs": args.epochs,
        "batch": args.batch,
        "train_seconds": train_seconds,
        "wall_seconds": time.time() - t_wall,
        "samples_per_second": args.epochs * n / train_seconds,
        "test_error": 1.0 - history[-1]["test_accuracy"],
        "time_to_target": time_to_target,
        "target": args.target,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "history": history,
    }
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
