"""Network state (one flat float32 buffer, see docs/design.md) and the per-sample hyper-parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._core import aligned_zeros

ACTIVATIONS = ("Tanh", "Rectifier", "Maxout")
OUTPUTS = ("softmax", "linear", "autoencoder")
LOSSES = ("CrossEntropy", "Quadratic", "Huber", "Absolute", "Quantile")
DISTRIBUTIONS = ("UniformAdaptive", "Uniform", "Normal")

# Losses each output kind accepts (the kernel computes the exact gradient of each).
ALLOWED_LOSSES = {
    "softmax": ("CrossEntropy", "Quadratic"),
    "linear": ("Quadratic", "Huber", "Absolute", "Quantile"),
    "autoencoder": ("Quadratic", "Huber", "Absolute"),
}

# Order of the parts inside Net.buffer. Adam keeps v in EgW/EgB, m in MW/MB and its step
# count (float32, for the bias corrections) in adam_steps; the new part comes last, so the
# packed layout of nets without Adam is the one of older model files.
PARTS = ("W", "B", "EgW", "EdW", "EgB", "EdB", "MW", "MB", "avg_activation", "adam_steps")
# Each part starts on a 128-byte boundary (ALIGN float32s; the buffer itself comes from
# _core.aligned_zeros). Then a weight row whose length is a multiple of 16 starts on a
# cache line and none of its vector loads spans two lines (NumPy's 16-byte alignment
# split half of them: one thread trains ~8% faster aligned), and a per-sample team can
# split the weights on line boundaries (_core.split_units).
ALIGN = 32


class Net:
    """Feed-forward net: weights, biases and optimizer state in one float32 buffer.

    Layer ``l`` (0 = input -> first hidden) has a row-major weight block of shape
    ``(mult[l] * units[l+1], units[l])`` at ``W[w_off[l]:w_off[l+1]]``; Maxout layers
    have ``mult = 2`` and channel ``k`` of unit ``j`` is row ``2*j + k``.
    ``avg_activation`` (sparse autoencoder running means, one per hidden unit) exists
    only for autoencoders; unused parts have length 0. With ``adam``, EgW/EgB hold Adam's
    second moments, MW/MB its first moments and ``adam_steps`` (one value) the number of
    updates so far: in the buffer, so that ranks average it, checkpoints keep it and
    ``--resume`` continues its bias correction exactly (kernels.train advances it).
    """

    def __init__(
        self,
        units,
        activation: str,
        output: str,
        *,
        adaptive_rate: bool,
        momentum: bool,
        adam: bool = False,
    ):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        units = np.asarray(units, dtype=np.int64)
        if units.ndim != 1 or len(units) < 2 or np.any(units < 1):
            raise ValueError(f"units must list at least 2 positive layer sizes, got {units!r}")
        if output == "autoencoder" and units[-1] != units[0]:
            raise ValueError("an autoencoder needs units[-1] == units[0]")
        if output == "linear" and units[-1] != 1:
            raise ValueError("a linear (regression) output has exactly 1 unit")
        if output == "softmax" and units[-1] < 2:
            raise ValueError("a softmax output needs at least 2 units")
        if adam and (adaptive_rate or momentum):
            raise ValueError("a Net with adam=True has neither adaptive_rate nor momentum state")
        self.units = units
        self.activation = activation
        self.output = output
        self.adaptive_rate = bool(adaptive_rate)
        self.momentum = bool(momentum)
        self.adam = bool(adam)
        n_layers = len(units) - 1
        self.n_layers = n_layers
        # The autoencoder output uses the hidden activation, so a Maxout autoencoder
        # has a 2-channel output layer too.
        self.mult = np.array(
            [
                2 if activation == "Maxout" and (l < n_layers - 1 or output == "autoencoder") else 1
                for l in range(n_layers)
            ],
            dtype=np.int64,
        )
        rows = self.mult * units[1:]
        self.w_off = np.concatenate([[0], np.cumsum(rows * units[:-1])]).astype(np.int64)
        self.b_off = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
        n_w, n_b = int(self.w_off[-1]), int(self.b_off[-1])
        n_hidden_units = int(units[1:-1].sum()) if output == "autoencoder" else 0
        sizes = {
            "W": n_w,
            "B": n_b,
            "EgW": n_w if self.adaptive_rate or self.adam else 0,
            "EdW": n_w if self.adaptive_rate else 0,
            "EgB": n_b if self.adaptive_rate or self.adam else 0,
            "EdB": n_b if self.adaptive_rate else 0,
            "MW": n_w if self.momentum or self.adam else 0,
            "MB": n_b if self.momentum or self.adam else 0,
            "avg_activation": n_hidden_units,
            "adam_steps": 1 if self.adam else 0,
        }
        self._sizes = sizes
        self.part_offsets = {}
        off = 0
        for name in PARTS:
            self.part_offsets[name] = (off, off + sizes[name])
            off += -(-sizes[name] // ALIGN) * ALIGN  # the padding stays 0 (an MPI average keeps it 0)
        self.buffer = aligned_zeros(off, np.float32)
        self.packed_size = sum(sizes.values())

    # Views are recomputed from the buffer on every access so that they stay valid
    # even if a caller swaps in a new buffer (e.g. after an MPI average).
    def _part(self, name: str) -> np.ndarray:
        lo, hi = self.part_offsets[name]
        return self.buffer[lo:hi]

    def packed(self, buffer: np.ndarray | None = None) -> np.ndarray:
        """The parts of ``buffer`` (default: this net's) one after the other, without the
        alignment padding: the layout of model files, which does not depend on ALIGN."""
        buffer = self.buffer if buffer is None else buffer
        return np.concatenate([buffer[lo:hi] for lo, hi in (self.part_offsets[n] for n in PARTS)])

    def unpacked(self, flat: np.ndarray) -> np.ndarray:
        """A buffer laid out like this net's, from ``packed`` values."""
        if flat.shape != (self.packed_size,):
            raise ValueError(f"expected {self.packed_size} packed values, got shape {flat.shape}")
        buffer = aligned_zeros(self.buffer.size, np.float32)
        at = 0
        for name in PARTS:
            lo, hi = self.part_offsets[name]
            buffer[lo:hi] = flat[at : at + hi - lo]
            at += hi - lo
        return buffer

    W = property(lambda self: self._part("W"))
    B = property(lambda self: self._part("B"))
    EgW = property(lambda self: self._part("EgW"))
    EdW = property(lambda self: self._part("EdW"))
    EgB = property(lambda self: self._part("EgB"))
    EdB = property(lambda self: self._part("EdB"))
    MW = property(lambda self: self._part("MW"))
    MB = property(lambda self: self._part("MB"))
    avg_activation = property(lambda self: self._part("avg_activation"))
    adam_steps = property(lambda self: self._part("adam_steps"))

    def weights(self, l: int) -> np.ndarray:
        """2-D view ``(mult*units[l+1], units[l])`` of weight layer ``l``."""
        return self.W[self.w_off[l] : self.w_off[l + 1]].reshape(-1, int(self.units[l]))

    def biases(self, l: int) -> np.ndarray:
        return self.B[self.b_off[l] : self.b_off[l + 1]]

    def initialize(self, distribution: str = "UniformAdaptive", scale: float = 1.0, seed: int = 0) -> None:
        """Random weights (docs/kernels.md), initial biases, optimizer state and running means zeroed."""
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
        self.buffer[:] = 0.0
        for l in range(self.n_layers):
            n_in, n_out = int(self.units[l]), int(self.units[l + 1])
            rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, l])
            w = self.weights(l)
            if distribution == "UniformAdaptive":
                r = math.sqrt(6.0 / (n_in + n_out))  # Maxout's doubled rows do not enter r
                if l == self.n_layers - 1 and self.output == "softmax":
                    r *= 4.0
                w[:] = rng.uniform(-r, r, size=w.shape)
            elif distribution == "Uniform":
                w[:] = rng.uniform(-scale, scale, size=w.shape)
            else:
                w[:] = rng.normal(0.0, scale, size=w.shape)
            is_hidden = l < self.n_layers - 1
            if is_hidden and self.activation in ("Rectifier", "Maxout"):
                self.biases(l)[:] = 0.5 if l == 0 else 1.0

    def copy(self) -> Net:
        other = Net.__new__(Net)
        other.__dict__.update(self.__dict__)
        for name in ("units", "mult", "w_off", "b_off"):
            setattr(other, name, getattr(self, name).copy())
        other.buffer = aligned_zeros(self.buffer.size, np.float32)
        other.buffer[...] = self.buffer
        other.part_offsets = dict(self.part_offsets)
        other._sizes = dict(self._sizes)
        return other

    def __repr__(self) -> str:
        return (
            f"Net(units={self.units.tolist()}, activation={self.activation!r}, output={self.output!r}, "
            f"adaptive_rate={self.adaptive_rate}, momentum={self.momentum}, adam={self.adam}, "
            f"n_weights={int(self.w_off[-1])})"
        )


@dataclass(frozen=True)
class Hyper:
    """Everything the per-sample step needs, as plain numbers (H2O parameter names). No defaults of
    its own: a run's comes from its parameters' record (``model.hyper_from_params``)."""

    loss: str
    huber_delta: float
    quantile_alpha: float
    input_dropout_ratio: float
    hidden_dropout_ratios: tuple  # one per hidden layer, 0 = none
    # H2O-3 draws every hidden layer's mask from one seed: unit j is kept or dropped in
    # all hidden layers together (False: an independent mask per layer)
    shared_dropout_masks: bool
    l1: float
    l2: float
    max_w2: float
    adaptive_rate: bool
    rho: float
    epsilon: float
    rate: float
    rate_annealing: float
    rate_decay: float
    momentum_start: float
    momentum_ramp: float
    momentum_stable: float
    nesterov_accelerated_gradient: bool
    # "Adam" (an hpcdl extension; adaptive_rate must be False), else H2O's choice from
    # adaptive_rate and momentum_*. Adam uses rate (with rate_annealing and rate_decay), epsilon, l1, l2.
    optimizer: str
    beta1: float
    beta2: float
    weight_decay: float  # decoupled (AdamW): w -= rate * weight_decay * w per update
    fast_mode: bool
    sparsity_beta: float
    average_activation: float

    @property
    def adam(self) -> bool:
        return self.optimizer == "Adam"

    @property
    def has_momentum(self) -> bool:
        if self.adam:
            return False
        return (not self.adaptive_rate) and (self.momentum_start != 0.0 or self.momentum_stable != 0.0)

    def momentum_at(self, n: float) -> float:
        """Momentum after n training samples: linear ramp from start to stable."""
        if n < self.momentum_ramp:
            return self.momentum_start + (self.momentum_stable - self.momentum_start) * n / self.momentum_ramp
        return self.momentum_stable

    def rate_at(self, n: float, layer: int) -> float:
        """Manual learning rate after n samples for weight layer ``layer`` (0-based, input side first)."""
        return self.rate / (1.0 + self.rate_annealing * n) * self.rate_decay**layer


# A Hyper to compile and time the kernels alone (kernels.compile_engine): a kernel's types do not
# depend on these values (Config casts every field), and no run trains with them.
PROBE_HYPER = Hyper(
    loss="CrossEntropy",
    huber_delta=1.0,
    quantile_alpha=0.5,
    input_dropout_ratio=0.0,
    hidden_dropout_ratios=(),
    shared_dropout_masks=True,
    l1=0.0,
    l2=0.0,
    max_w2=float("inf"),
    adaptive_rate=True,
    rho=0.99,
    epsilon=1e-8,
    rate=0.005,
    rate_annealing=1e-6,
    rate_decay=1.0,
    momentum_start=0.0,
    momentum_ramp=1e6,
    momentum_stable=0.0,
    nesterov_accelerated_gradient=True,
    optimizer="AUTO",
    beta1=0.9,
    beta2=0.999,
    weight_decay=0.0,
    fast_mode=True,
    sparsity_beta=0.0,
    average_activation=0.0,
)
