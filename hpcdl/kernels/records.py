"""The typed records the Numba kernels take instead of long lists of arrays.

They are NamedTuples: Numba compiles each to a plain struct (no Python object in the
kernels, cacheable), and a field read costs what reading a local variable does. Every
field always holds the same type (``kernels._config`` casts), so nothing recompiles.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class State(NamedTuple):
    """The network's trainable state: float32 views into ``Net.buffer`` (docs/kernels.md,
    "State"); unused parts have length 0."""

    W: np.ndarray  # all weight layers, row-major, layer l at w_off[l]
    B: np.ndarray  # all biases, layer l at b_off[l]
    EgW: np.ndarray  # running mean of squared gradients, per weight: ADADELTA's E[g^2], Adam's v
    EdW: np.ndarray  # ADADELTA running mean of squared steps, per weight
    EgB: np.ndarray
    EdB: np.ndarray
    MW: np.ndarray  # momentum per weight, or Adam's first moment m
    MB: np.ndarray
    AVG: np.ndarray  # sparse autoencoder: running mean activation per hidden unit


class Layout(NamedTuple):
    """Where each layer lives in the flat arrays (int64 arrays)."""

    units: np.ndarray  # units[0] inputs, ..., units[-1] outputs
    mult: np.ndarray  # weight rows per unit of layer l: 2 for Maxout, else 1
    w_off: np.ndarray  # weight layer l is W[w_off[l]:w_off[l+1]]
    b_off: np.ndarray  # its biases are B[b_off[l]:b_off[l+1]]
    a_off: np.ndarray  # activations of layer l (0 = input) start at a[a_off[l]] in a Scratch


class Config(NamedTuple):
    """``Hyper`` and the net's kind as plain numbers (codes are the _core constants)."""

    activation: int  # TANH, RECTIFIER, MAXOUT
    output: int  # SOFTMAX, LINEAR, AUTOENCODER
    loss: int  # CROSSENTROPY, ...
    optimizer: int  # ADADELTA, SGD, MOMENTUM, NESTEROV, ADAM
    fast_mode: bool
    mini_batch_size: int
    has_max_w2: bool
    sparse: bool  # sparsity_beta > 0
    shared_masks: bool
    huber_delta: float
    quantile_alpha: float
    input_dropout_ratio: float
    hidden_dropout_ratios: np.ndarray  # float64, one per hidden layer
    l1: float
    l2: float
    max_w2: float  # 0 when infinite (has_max_w2 False)
    rho: float
    epsilon: float
    rate: float
    rate_annealing: float
    rate_decay: float
    momentum_start: float
    momentum_ramp: float
    momentum_stable: float
    sparsity_beta: float
    average_activation: float
    # Adam (0 otherwise): its decay rates, decoupled weight decay, and where its step count t
    # starts in this call: t = adam_steps + (n - adam_samples) / mini_batch_size + 1 (_core.row_update)
    beta1: float
    beta2: float
    weight_decay: float
    adam_steps: float
    adam_samples: float


class RowUpdate(NamedTuple):
    """One weight layer's update settings for this sample, as float32 (built in the kernels)."""

    optimizer: int
    l1: np.float32
    l2: np.float32
    rho: np.float32  # ADADELTA's rho; Adam's beta2
    epsilon: np.float32  # Adam: epsilon * sqrt(1 - beta2^t) (see _core.row_update)
    lr: np.float32  # manual rate of this layer, (1 - momentum) applied; Adam: times sqrt(1 - beta2^t) / (1 - beta1^t)
    momentum: np.float32  # Adam's beta1
    keep_zero: bool  # fast_mode: weights whose input is 0 are left untouched
    has_max_w2: bool
    max_w2: np.float32
    decay: np.float32  # Adam's decoupled weight decay of this step: rate * weight_decay (0 otherwise)


class Scratch(NamedTuple):
    """One thread's per-sample working arrays (built in the kernels)."""

    a: np.ndarray  # activations of every layer, layer l at a_off[l] (float32)
    win: np.ndarray  # Maxout winning channel per unit (int64)
    hscale: np.ndarray  # per hidden unit: dropout mask 0/1, or keep probability at inference
    d: np.ndarray  # row deltas of the current layer
    e: np.ndarray  # error arriving at the previous layer's units
    upd: np.ndarray  # row was updated (bool), for the bias pass
    rstep: np.ndarray  # step size each bias used (sparsity term)
    todo: np.ndarray  # a list of units or rows to work on (int64): kept units (forward), rows to update (_rows)


class Grad(NamedTuple):
    """Summed data gradient of a mini-batch (loop engine), same layout as W and B."""

    GW: np.ndarray
    GB: np.ndarray
    active: np.ndarray  # per bias row: samples in which its unit was kept (int64)


class Team(NamedTuple):
    """What the threads of the per-sample engine share besides the State (built in the kernels)."""

    a: np.ndarray  # (2, n): activations of the hidden and output layers of even / odd samples, laid out like Scratch.a
    e: np.ndarray  # (members * layers, width): row t * layers + l is member t's part of layer l's error
    sync: np.ndarray  # barrier counters, one per member, sync.SYNC_STRIDE apart (int64)
    split: np.ndarray  # (layers + 1, members + 1): member t owns units split[h, t]:split[h, t + 1] of layer h (int64)
