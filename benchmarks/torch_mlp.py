"""Plain PyTorch CPU reference for the Fashion-MNIST benchmark (benchmarks/compare.py).

    python benchmarks/torch_mlp.py --frames DIR [--threads 2] [--epochs 10] [--batch 128]
        [--validation-split F] [--split-seed S] [--json]

The same data as hpcdl (the frames written by ``hpcdl import --mnist-dir``) and the same
rows: benchmarks/fashion_mnist.py's split (``split_frame`` of the training images,
by default the best-MLP job's ``validation_split``/``split_seed``) gives the training part
and the validation part; ``--validation-split 0`` trains on all 60,000 images. The same
standardization as hpcdl (per-column mean/sd of the training part; constant columns
dropped), the same layers as the booklet's MNIST trial network: 784-200-200-200-10, ReLU,
input dropout 0.2, hidden dropout 0.5, L1 1e-5 on the weights (added to the loss),
softmax cross-entropy. Optimizer: Adam (lr 1e-3), batch 128, shuffled each epoch.
PyTorch's dropout is inverted (kept units scaled by 1/(1-p) in training), H2O's is not;
the networks are otherwise the same.

Validation accuracy is measured after every epoch; the time to 88.5% is the wall time
since training started (evaluations included, as hpcdl's scoring is) at the first epoch
that reaches it on the validation part. The test images are scored once, after the last
epoch. ``wall_seconds`` is the training loop with its evaluations, data loading
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/fashion_mnist.py: frames and split


def load_frames(frames_dir: str, validation_split: float, split_seed: int):
    """(X_train, y_train, X_valid, y_valid, X_test, y_test, validation digest) as float32 / int64,
    standardized like hpcdl; the validation pair is None without a split."""
    import fashion_mnist  # the benchmarks' one split rule and frame reader

    train, valid, test = fashion_mnist.frames(frames_dir, validation_split, split_seed)
    Xtr, ytr = fashion_mnist.arrays(train)
    Xva, yva = fashion_mnist.arrays(valid) if valid is not None else (None, None)
    Xte, yte = fashion_mnist.arrays(test)
    mean = Xtr.mean(axis=0, dtype=np.float64)
    sd = Xtr.std(axis=0, ddof=1, dtype=np.float64)
    keep = sd > 0
    mul = np.where(keep, 1.0 / np.where(keep, sd, 1.0), 0.0)

    def standardize(X):
        return None if X is None else ((X - mean) * mul)[:, keep].astype(np.float32)

    return standardize(Xtr), ytr, standardize(Xva), yva, standardize(Xte), yte, fashion_mnist.digest(valid)


def accuracy(net, X, y) -> float:
    import torch

    net.eval()
    with torch.no_grad():
        return float((net(X).argmax(1) == y).float().mean())


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
    ap.add_argument("--target", type=float, default=0.885, help="validation accuracy for time-to-accuracy")
    ap.add_argument("--validation-split", type=float, help="held-out fraction (default: the best-MLP job's; 0: none)")
    ap.add_argument("--split-seed", type=int, help="split_frame seed (default: the best-MLP job's)")
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
    from fashion_mnist import job_split

    split, seed = job_split()
    split = split if args.validation_split is None else args.validation_split
    seed = seed if args.split_seed is None else args.split_seed
    Xtr, ytr, Xva, yva, Xte, yte, valid_digest = load_frames(args.frames, split, seed)
    Xtr_t, ytr_t = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    Xte_t, yte_t = torch.from_numpy(Xte), torch.from_numpy(yte)
    Xva_t, yva_t = (torch.from_numpy(Xva), torch.from_numpy(yva)) if Xva is not None else (None, None)
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
        row = {"epoch": epoch, "train_seconds": round(train_seconds, 3)}
        if Xva_t is not None:  # the held-out rows, never the test images, while training
            row["validation_accuracy"] = acc = accuracy(net, Xva_t, yva_t)
            if time_to_target is None and acc >= args.target:
                time_to_target = time.time() - t_wall
        history.append(row)
        if not args.json:
            print(
                f"epoch {epoch:3d}  train {train_seconds:7.1f}s  {epoch * n / train_seconds:9,.0f} samples/s  "
                f"validation accuracy {row.get('validation_accuracy', float('nan')):.4f}",
                flush=True,
            )
    wall = time.time() - t_wall
    test_accuracy = accuracy(net, Xte_t, yte_t)  # once, after training
    result = {
        "system": "pytorch",
        "version": torch.__version__,
        "threads": args.threads,
        "epochs": args.epochs,
        "batch": args.batch,
        "train_seconds": train_seconds,
        "wall_seconds": wall,
        "samples_per_second": args.epochs * n / train_seconds,
        "validation_split": split,
        "split_seed": seed,
        "n_training_rows": n,
        "n_validation_rows": 0 if Xva is None else len(Xva),
        "validation_digest": valid_digest,
        "validation_error": 1.0 - history[-1]["validation_accuracy"] if Xva is not None else None,
        "test_error": 1.0 - test_accuracy,
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
