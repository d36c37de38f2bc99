"""Training and scoring speed of the kernels on the 784-200-200-200-10 reference net.

    python benchmarks/kernel_speed.py [--rows 20000] [--sparse] [--activations Rectifier,Tanh,Maxout]

Inputs are random standard-normal values (what standardized MNIST pixels look like to
the kernels: dense, no exact zeros); ``--sparse`` zeroes 80% of them instead, as with
one-hot or unstandardized pixel inputs, where fast_mode skips the zero inputs.
Prints samples/s for 1 and 2 threads, ADADELTA and plain SGD.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hpcdl.kernels import Net, predict, train
from hpcdl.model import hyper_from_params
from hpcdl.params import record_from_dict

UNITS = [784, 200, 200, 200, 10]


def data(rows: int, sparse: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, UNITS[0])).astype(np.float32)
    if sparse:
        X[rng.random(X.shape) < 0.8] = 0.0
    # labels from a random linear teacher, so that training has something to learn
    T = (X @ rng.normal(size=(UNITS[0], UNITS[-1]))).argmax(axis=1).astype(np.float32)
    return X, T


def training_speed(activation: str, adaptive: bool, threads: int, X, T, repeats: int = 2) -> float:
    hyper = hyper_from_params(
        record_from_dict({"loss": "CrossEntropy", "hidden": UNITS[1:-1], "adaptive_rate": adaptive, "rate": 0.005})
    )
    net = Net(UNITS, activation, "softmax", adaptive_rate=adaptive, momentum=False)
    net.initialize(seed=0)
    rows = np.random.default_rng(1).permutation(len(X))
    train(net, hyper, X, T, rows[:200], seed=0, samples_before=0, n_threads=threads)  # compile / warm up
    best = 0.0
    for r in range(repeats):
        t0 = time.perf_counter()
        train(
            net,
            hyper,
            X,
            T,
            rows,
            seed=0,
            samples_before=(r + 1) * len(rows),
            n_threads=threads,
        )
        best = max(best, len(rows) / (time.perf_counter() - t0))
    return best


def scoring_speed(activation: str, X) -> float:
    hyper = hyper_from_params(record_from_dict({"loss": "CrossEntropy", "hidden": UNITS[1:-1]}))
    net = Net(UNITS, activation, "softmax", adaptive_rate=False, momentum=False)
    net.initialize(seed=0)
    predict(net, hyper, X[:100])
    t0 = time.perf_counter()
    predict(net, hyper, X)
    return len(X) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--sparse", action="store_true")
    parser.add_argument("--activations", default="Rectifier,Tanh,Maxout")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    X, T = data(args.rows, args.sparse)
    print(
        f"net {'-'.join(map(str, UNITS))}, {args.rows} rows, {'sparse (80% zeros)' if args.sparse else 'dense'} inputs, fast_mode"
    )
    print(f"{'activation':<10} {'optimizer':<9} {'1 thread':>10} {'2 threads':>10}   samples/s")
    for activation in args.activations.split(","):
        for adaptive in (True, False):
            speeds = [training_speed(activation, adaptive, n, X, T, args.repeats) for n in (1, 2)]
            name = "ADADELTA" if adaptive else "SGD"
            print(
                f"{activation:<10} {name:<9} {speeds[0]:>10,.0f} {speeds[1]:>10,.0f}",
                flush=True,
            )
    for activation in args.activations.split(","):
        print(f"predict {activation}: {scoring_speed(activation, X):,.0f} rows/s (all threads)")


if __name__ == "__main__":
    main()
