"""Training kernels of hpcdl: per-sample SGD / ADADELTA with HOGWILD! threads (Numba).

The trainer calls only what is exported here. Semantics and the deliberate
differences from H2O-3 are in docs/kernels.md.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from . import _core, minibatch
from .net import ACTIVATIONS, ALLOWED_LOSSES, LOSSES, OUTPUTS, Hyper, Net
from .rng import seed_to_uint64

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OUTPUTS",
    "Hyper",
    "Net",
    "hidden_activations",
    "predict",
    "row_loss",
    "train",
]


def optimizer_code(hyper: Hyper) -> int:
    if hyper.adaptive_rate:
        return _core.ADADELTA
    if hyper.momentum_start != 0.0 or hyper.momentum_stable != 0.0:
        return _core.NESTEROV if hyper.nesterov_accelerated_gradient else _core.MOMENTUM
    return _core.SGD


def _hidden_dropout(net: Net, hyper: Hyper) -> np.ndarray:
    n_hidden = len(net.units) - 2
    ratios = tuple(hyper.hidden_dropout_ratios)
    if len(ratios) == 0:
        ratios = (0.0,) * n_hidden
    if len(ratios) != n_hidden:
        raise ValueError(f"hidden_dropout_ratios needs {n_hidden} values (one per hidden layer), got {len(ratios)}")
    out = np.asarray(ratios, dtype=np.float64).reshape(n_hidden)
    if np.any(out < 0.0) or np.any(out >= 1.0):
        raise ValueError(f"hidden_dropout_ratios must be in [0, 1), got {ratios}")
    return out


def _pack(net: Net, hyper: Hyper, mini_batch_size: int = 1, training: bool = False):
    """Validate hyper against net and pack it into the kernels' (ip, fp, hdrop) arrays."""
    if hyper.loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {hyper.loss!r}")
    if hyper.loss not in ALLOWED_LOSSES[net.output]:
        raise ValueError(
            f"loss {hyper.loss!r} is not available for a {net.output} output (use one of {ALLOWED_LOSSES[net.output]})"
        )
    opt = optimizer_code(hyper)
    if training:
        if opt == _core.ADADELTA and not net.adaptive_rate:
            raise ValueError("adaptive_rate training needs a Net built with adaptive_rate=True")
        if opt in (_core.MOMENTUM, _core.NESTEROV) and not net.momentum:
            raise ValueError("momentum training needs a Net built with momentum=True")
        if hyper.sparsity_beta > 0.0 and net.output != "autoencoder":
            raise ValueError("sparsity_beta applies to autoencoders only")
        if not 0.0 <= hyper.input_dropout_ratio < 1.0:
            raise ValueError(f"input_dropout_ratio must be in [0, 1), got {hyper.input_dropout_ratio}")
        if mini_batch_size < 1:
            raise ValueError(f"mini_batch_size must be >= 1, got {mini_batch_size}")
        if opt == _core.ADADELTA and not (hyper.rho > 0.0 and hyper.epsilon > 0.0):
            raise ValueError("ADADELTA needs rho > 0 and epsilon > 0")
    ip = np.zeros(_core.N_IP, dtype=np.int64)
    ip[_core.I_ACT] = ACTIVATIONS.index(net.activation)
    ip[_core.I_OUT] = OUTPUTS.index(net.output)
    ip[_core.I_LOSS] = LOSSES.index(hyper.loss)
    ip[_core.I_OPT] = opt
    ip[_core.I_FAST] = int(bool(hyper.fast_mode))
    ip[_core.I_BATCH] = int(mini_batch_size)
    ip[_core.I_MAXW2] = int(math.isfinite(hyper.max_w2))
    ip[_core.I_SPARSE] = int(hyper.sparsity_beta > 0.0)
    ip[_core.I_SHARED_MASKS] = int(bool(hyper.shared_dropout_masks))
    fp = np.zeros(_core.N_FP, dtype=np.float64)
    fp[_core.F_HUBER] = hyper.huber_delta
    fp[_core.F_QALPHA] = hyper.quantile_alpha
    fp[_core.F_INDROP] = hyper.input_dropout_ratio
    fp[_core.F_L1] = hyper.l1
    fp[_core.F_L2] = hyper.l2
    fp[_core.F_MAXW2] = hyper.max_w2 if math.isfinite(hyper.max_w2) else 0.0
    fp[_core.F_RHO] = hyper.rho
    fp[_core.F_EPS] = hyper.epsilon
    fp[_core.F_RATE] = hyper.rate
    fp[_core.F_ANNEAL] = hyper.rate_annealing
    fp[_core.F_DECAY] = hyper.rate_decay
    fp[_core.F_MSTART] = hyper.momentum_start
    fp[_core.F_MRAMP] = hyper.momentum_ramp
    fp[_core.F_MSTABLE] = hyper.momentum_stable
    fp[_core.F_BETA] = hyper.sparsity_beta
    fp[_core.F_AVGACT] = hyper.average_activation
    return ip, fp, _hidden_dropout(net, hyper)


def _inputs(net: Net, X) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != net.units[0]:
        raise ValueError(f"X must have shape (n, {net.units[0]}), got {X.shape}")
    return X


def _targets(net: Net, T, n: int) -> np.ndarray:
    if T is None:
        if net.output != "autoencoder":
            raise ValueError("targets T are required unless the net is an autoencoder")
        return np.zeros(n, dtype=np.float32)
    T = np.ascontiguousarray(T, dtype=np.float32).reshape(-1)
    if len(T) != n:
        raise ValueError(f"T must have one value per row of X ({n}), got {len(T)}")
    return T


def _state(net: Net):
    return (
        net.W,
        net.B,
        net.EgW,
        net.EdW,
        net.EgB,
        net.EdB,
        net.MW,
        net.MB,
        net.avg_activation,
    )


def _threads(n: int) -> int:
    return max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))


def train(
    net: Net,
    hyper: Hyper,
    X,
    T,
    rows,
    *,
    seed: int,
    samples_before: int,
    n_threads: int,
    mini_batch_size: int = 1,
    engine: str = "auto",
) -> None:
    """Train net in place on X[rows] (in that order) with n_threads HOGWILD! threads.

    Thread t takes the t-th contiguous block of ``rows``. ``samples_before`` is the
    number of samples processed before this call (rate annealing, momentum ramp, and
    the global sample index that keys the dropout masks together with ``seed``).
    With ``mini_batch_size > 1`` the BLAS path (``minibatch.py``) runs when scipy is
    installed (``engine="auto"``/``"blas"``); ``engine="loop"`` forces the plain loops.
    """
    if engine not in ("auto", "blas", "loop"):
        raise ValueError(f"engine must be 'auto', 'blas' or 'loop', got {engine!r}")
    ip, fp, hdrop = _pack(net, hyper, mini_batch_size, training=True)
    X = _inputs(net, X)
    T = _targets(net, T, X.shape[0])
    rows = np.ascontiguousarray(rows, dtype=np.int64).reshape(-1)
    if len(rows) == 0:
        return
    if rows.min() < 0 or rows.max() >= X.shape[0]:
        raise IndexError("rows holds an index outside X")
    n_threads = max(1, int(n_threads))
    numba.set_num_threads(_threads(n_threads))
    if mini_batch_size > 1 and engine != "loop":
        if not minibatch.available():
            if engine == "blas":
                raise ImportError("the BLAS mini-batch path needs scipy (pip install scipy)")
        else:
            with minibatch.blas_threads(1):
                minibatch.train_hogwild(
                    *_state(net), net.units, net.mult, net.w_off, net.b_off, ip, fp, hdrop,
                    X, T, rows, np.int64(samples_before), np.int64(n_threads), seed_to_uint64(seed),
                )  # fmt: skip
            return
    _core.train_hogwild(
        *_state(net), net.units, net.mult, net.w_off, net.b_off, ip, fp, hdrop,
        X, T, rows, np.int64(samples_before), np.int64(n_threads), seed_to_uint64(seed),
    )  # fmt: skip


def _blocks(n_rows: int) -> int:
    threads = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(threads)
    return int(max(1, min(n_rows, 4 * threads)))


def _infer(net: Net, hyper: Hyper, X, layer: int) -> np.ndarray:
    hdrop = _hidden_dropout(net, hyper)
    X = _inputs(net, X)
    return _core.infer(
        net.W, net.B, net.units, net.mult, net.w_off, net.b_off,
        np.int64(ACTIVATIONS.index(net.activation)), np.int64(OUTPUTS.index(net.output)),
        hdrop, X, np.int64(layer), np.int64(_blocks(X.shape[0])),
    )  # fmt: skip


def predict(net: Net, hyper: Hyper, X) -> np.ndarray:
    """Inference-mode outputs (n, n_out), float64: softmax probabilities, the linear
    value, or the reconstruction."""
    return _infer(net, hyper, X, net.n_layers)


def hidden_activations(net: Net, hyper: Hyper, X, layer: int) -> np.ndarray:
    """Inference-mode activations of hidden layer ``layer`` (0-based), float64."""
    if not 0 <= layer < net.n_layers - 1:
        raise ValueError(f"layer must be in [0, {net.n_layers - 2}], got {layer}")
    return _infer(net, hyper, X, layer + 1)


def row_loss(net: Net, hyper: Hyper, X, T) -> np.ndarray:
    """Per-row loss in inference mode (float64); T is ignored for autoencoders."""
    ip, fp, hdrop = _pack(net, hyper)
    X = _inputs(net, X)
    T = _targets(net, None if net.output == "autoencoder" else T, X.shape[0])
    return _core.infer_loss(
        net.W, net.B, net.units, net.mult, net.w_off, net.b_off, ip, fp, hdrop, X, T,
        np.int64(_blocks(X.shape[0])),
    )  # fmt: skip
