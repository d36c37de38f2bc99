"""Plain NumPy twin of the kernels, for tests: one training step, one mini-batch step,
inference, the per-row objective and its gradient. Written for reading, not speed;
everything is float64 and per layer (lists of matrices), independent of the flat
buffer and of the Numba code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


# ------------------------------------------------------------------ dropout randomness


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer on uint64 arrays (multiplications wrap modulo 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def dropout_uniforms(seed: int, sample: int, layer: int, n: int) -> np.ndarray:
    """The n uniforms in [0, 1) that decide dropout of units 0..n-1 of `layer`
    (0 = input, h+1 = hidden layer h) for global sample index `sample`."""

    def one(v):
        return np.array([v & MASK64], dtype=np.uint64)

    key = _mix64(one(seed))
    key = _mix64(key ^ one(sample))
    key = _mix64(key ^ one(((layer + 1) * GOLDEN) & MASK64))
    counters = (np.arange(1, n + 1, dtype=np.uint64) * np.uint64(GOLDEN)) + key
    bits = _mix64(counters) >> np.uint64(40)
    return bits.astype(np.float64) / float(1 << 24)


# ------------------------------------------------------------------ network as matrices


@dataclass
class RefNet:
    activation: str
    output: str
    W: list  # W[l]: (rows, units[l]) float64; Maxout rows 2j, 2j+1 are unit j's channels
    b: list
    EgW: list | None = None
    EdW: list | None = None
    EgB: list | None = None
    EdB: list | None = None
    MW: list | None = None
    MB: list | None = None
    avg: list | None = None  # sparse autoencoder running mean per hidden layer
    # Adam: first and second moments per weight and bias, and the updates made so far
    AmW: list | None = None
    AvW: list | None = None
    AmB: list | None = None
    AvB: list | None = None
    t: int = 0

    @classmethod
    def from_net(cls, net) -> RefNet:
        L = net.n_layers

        def copy(arr, off, shape):
            return [arr[off[l] : off[l + 1]].astype(np.float64).reshape(shape(l)) for l in range(L)]

        def wshape(l):
            return (-1, int(net.units[l]))

        def bshape(l):
            return (-1,)

        ref = cls(
            net.activation,
            net.output,
            copy(net.W, net.w_off, wshape),
            copy(net.B, net.b_off, bshape),
        )
        adam = getattr(net, "adam", False)
        if len(net.EgW) and not adam:
            ref.EgW, ref.EdW = (
                copy(net.EgW, net.w_off, wshape),
                copy(net.EdW, net.w_off, wshape),
            )
            ref.EgB, ref.EdB = (
                copy(net.EgB, net.b_off, bshape),
                copy(net.EdB, net.b_off, bshape),
            )
        if len(net.MW) and not adam:
            ref.MW, ref.MB = (
                copy(net.MW, net.w_off, wshape),
                copy(net.MB, net.b_off, bshape),
            )
        if adam:
            ref.AmW, ref.AvW = copy(net.MW, net.w_off, wshape), copy(net.EgW, net.w_off, wshape)
            ref.AmB, ref.AvB = copy(net.MB, net.b_off, bshape), copy(net.EgB, net.b_off, bshape)
            ref.t = int(net.adam_steps[0])
        if len(net.avg_activation):
            sizes = np.cumsum([0] + [int(u) for u in net.units[1:-1]])
            ref.avg = [net.avg_activation[sizes[h] : sizes[h + 1]].astype(np.float64) for h in range(len(sizes) - 1)]
        return ref

    @property
    def n_layers(self) -> int:
        return len(self.W)

    def is_maxout(self, l: int) -> bool:
        return self.activation == "Maxout" and (l < self.n_layers - 1 or self.output == "autoencoder")


# ------------------------------------------------------------------ forward


def _activation(name: str, z: np.ndarray) -> np.ndarray:
    return np.tanh(z) if name == "Tanh" else np.maximum(z, 0.0)


def _derivative(name: str, a: np.ndarray) -> np.ndarray:
    """f'(z) written in terms of a = f(z)."""
    return 1.0 - a * a if name == "Tanh" else (a > 0).astype(np.float64)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def forward(ref: RefNet, x: np.ndarray, hidden_scale: list | None = None):
    """Activations of every layer (a[0] = x) and the Maxout winning channel per layer.

    hidden_scale[h] multiplies hidden layer h: the 0/1 keep mask in training,
    (1 - ratio) at inference, None for 1."""
    acts, winners = [np.asarray(x, dtype=np.float64)], []
    L = ref.n_layers
    for l in range(L):
        z = ref.W[l] @ acts[-1] + ref.b[l]
        winner = None
        if l == L - 1 and ref.output == "softmax":
            a = _softmax(z)
        elif l == L - 1 and ref.output == "linear":
            a = z
        elif ref.is_maxout(l):
            channels = z.reshape(-1, 2)
            winner = (channels[:, 1] > channels[:, 0]).astype(int)  # ties -> channel 0
            a = channels[np.arange(len(channels)), winner]
        else:
            a = _activation(ref.activation, z)
        if l < L - 1 and hidden_scale is not None:
            a = a * hidden_scale[l]
        acts.append(a)
        winners.append(winner)
    return acts, winners


def predict(ref: RefNet, hyper, X: np.ndarray) -> np.ndarray:
    scale = [1.0 - r for r in _hidden_ratios(ref, hyper)]
    return np.array([forward(ref, x, scale)[0][-1] for x in np.asarray(X, dtype=np.float64)])


def _hidden_ratios(ref: RefNet, hyper) -> list:
    ratios = list(hyper.hidden_dropout_ratios)
    return ratios if ratios else [0.0] * (ref.n_layers - 1)


# ------------------------------------------------------------------ loss and gradient


def _pointwise_loss(hyper, f, y):
    """Regression-type loss and its derivative d/df, elementwise."""
    r = f - y
    if hyper.loss == "Quadratic":
        return r * r, 2 * r
    if hyper.loss == "Huber":
        dh = hyper.huber_delta
        inside = np.abs(r) <= dh
        return np.where(inside, r * r, 2 * dh * np.abs(r) - dh * dh), np.where(inside, 2 * r, 2 * dh * np.sign(r))
    if hyper.loss == "Absolute":
        return np.abs(r), np.sign(r)
    if hyper.loss == "Quantile":
        alpha = hyper.quantile_alpha
        return np.where(y > f, alpha * (y - f), (1 - alpha) * (f - y)), np.where(y > f, -alpha, 1 - alpha)
    raise ValueError(hyper.loss)


def loss_and_output_delta(ref: RefNet, hyper, acts, winners, t, x):
    """Per-row loss and dE/dz of the output layer (one value per output row)."""
    out = acts[-1]
    if ref.output == "softmax":
        onehot = np.zeros_like(out)
        onehot[int(t)] = 1.0
        if hyper.loss == "CrossEntropy":
            return -np.log(max(1e-15, out[int(t)])), out - onehot
        q = 2 * (out - onehot)  # dL/dp of sum (p - t)^2, then the softmax Jacobian
        jacobian = np.diag(out) - np.outer(out, out)
        return np.sum((out - onehot) ** 2), jacobian @ q
    if ref.output == "linear":
        value, grad = _pointwise_loss(hyper, out, np.array([t], dtype=np.float64))
        return float(value.sum()), grad
    value, grad = _pointwise_loss(hyper, out, np.asarray(x, dtype=np.float64))
    L = ref.n_layers
    if ref.is_maxout(L - 1):
        delta = np.zeros(2 * len(out))
        delta[2 * np.arange(len(out)) + winners[-1]] = grad
        return float(value.sum()), delta
    return float(value.sum()), grad * _derivative(ref.activation, out)


def row_deltas(ref: RefNet, hyper, acts, winners, keeps, t, x):
    """dE/dz for every row of every layer, backpropagated with the current weights.
    Dropped hidden units pass no gradient."""
    L = ref.n_layers
    loss, delta = loss_and_output_delta(ref, hyper, acts, winners, t, x)
    deltas = [None] * L
    deltas[L - 1] = delta
    for l in range(L - 1, 0, -1):
        error = ref.W[l].T @ deltas[l]  # arrives at the units of layer l (hidden layer l-1)
        keep = keeps[l - 1] if keeps is not None else np.ones_like(error)
        if ref.is_maxout(l - 1):
            d = np.zeros(2 * len(error))
            d[2 * np.arange(len(error)) + winners[l - 1]] = error * keep
        else:
            d = error * _derivative(ref.activation, acts[l]) * keep
        deltas[l - 1] = d
    return loss, deltas


def objective(ref: RefNet, hyper, x, t, input_keep=None, hidden_keep=None) -> float:
    """E = loss + l1 * sum|w| + l2/2 * sum w^2 (weights only), for fixed dropout masks."""
    xin = np.asarray(x, dtype=np.float64) * (1.0 if input_keep is None else input_keep)
    acts, winners = forward(ref, xin, hidden_keep)
    loss, _ = loss_and_output_delta(ref, hyper, acts, winners, t, x)
    reg = sum(hyper.l1 * np.abs(w).sum() + 0.5 * hyper.l2 * (w * w).sum() for w in ref.W)
    return float(loss + reg)


def gradients(ref: RefNet, hyper, x, t, input_keep=None, hidden_keep=None):
    """(dE/dW per layer, dE/db per layer) of `objective` by backprop."""
    xin = np.asarray(x, dtype=np.float64) * (1.0 if input_keep is None else input_keep)
    acts, winners = forward(ref, xin, hidden_keep)
    _, deltas = row_deltas(ref, hyper, acts, winners, hidden_keep, t, x)
    gW = [
        np.outer(deltas[l], acts[l]) + hyper.l1 * np.sign(ref.W[l]) + hyper.l2 * ref.W[l] for l in range(ref.n_layers)
    ]
    return gW, [d.copy() for d in deltas]


# ------------------------------------------------------------------ optimizer


def momentum_at(hyper, n: float) -> float:
    if n < hyper.momentum_ramp:
        return hyper.momentum_start + (hyper.momentum_stable - hyper.momentum_start) * n / hyper.momentum_ramp
    return hyper.momentum_stable


def uses_momentum(hyper) -> bool:
    return not hyper.adaptive_rate and (hyper.momentum_start != 0 or hyper.momentum_stable != 0)


def _step(hyper, value, grad, Eg, Ed, M, lr, mom):
    """New (value, Eg, Ed, M) after one update with gradient grad, and the step size used."""
    if hyper.adaptive_rate:
        rho, eps = hyper.rho, hyper.epsilon
        Eg = rho * Eg + (1 - rho) * grad**2
        r = np.sqrt((Ed + eps) / (Eg + eps))
        Ed = rho * Ed + (1 - rho) * (r * grad) ** 2
        return value - r * grad, Eg, Ed, M, r
    if not uses_momentum(hyper):
        return value - lr * grad, Eg, Ed, M, lr
    if hyper.nesterov_accelerated_gradient:
        M = mom * M - grad
        return value + lr * M, Eg, Ed, M, lr
    step = -lr * grad
    return value + step + mom * M, Eg, Ed, step, lr


def _adam_step(hyper, value, grad, m, v, lr, t, decay):
    """Adam (PyTorch's form, bias-corrected moments) with decoupled weight decay (AdamW)
    at step t: new (value, m, v) and the step size lr / c1 / (sqrt(v_hat) + eps)."""
    b1, b2, eps = hyper.beta1, hyper.beta2, hyper.epsilon
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad**2
    v_hat = v / (1 - b2**t)
    size = lr / (1 - b1**t) / (np.sqrt(v_hat) + eps)
    return value - lr * decay * value - size * m, m, v, size


def _update_layer_adam(ref: RefNet, hyper, l, data_gW, gb, row_active, weight_touched, lr):
    """_update_layer for Adam at step ref.t + 1; biases are not decayed."""
    t = ref.t + 1
    W, b = ref.W[l], ref.b[l]
    for r in np.flatnonzero(row_active):
        touched = weight_touched[r]
        grad = data_gW[r] + hyper.l1 * np.sign(W[r]) + hyper.l2 * W[r]
        w, m, v, _ = _adam_step(hyper, W[r], grad, ref.AmW[l][r], ref.AvW[l][r], lr, t, hyper.weight_decay)
        W[r] = np.where(touched, w, W[r])
        ref.AmW[l][r] = np.where(touched, m, ref.AmW[l][r])
        ref.AvW[l][r] = np.where(touched, v, ref.AvW[l][r])
        if np.isfinite(hyper.max_w2):
            s = np.sum(W[r] ** 2)
            if s > hyper.max_w2:
                W[r] *= np.sqrt(hyper.max_w2 / s)
        b[r], ref.AmB[l][r], ref.AvB[l][r], size = _adam_step(
            hyper, b[r], gb[r], ref.AmB[l][r], ref.AvB[l][r], lr, t, 0.0
        )
        if hyper.sparsity_beta > 0 and l < ref.n_layers - 1:
            unit = r // 2 if ref.is_maxout(l) else r
            b[r] -= size * hyper.sparsity_beta * (ref.avg[l][unit] - hyper.average_activation)


def _update_layer(ref: RefNet, hyper, l, data_gW, gb, row_active, weight_touched, n):
    """Apply one update to layer l. data_gW: data gradient per weight, gb: per bias.
    row_active[r]: False for rows that must not change (dropped unit, or fast_mode and
    zero delta); weight_touched[r, i]: False for weights fast_mode leaves untouched."""
    lr = hyper.rate / (1 + hyper.rate_annealing * n) * hyper.rate_decay**l
    if getattr(hyper, "optimizer", "AUTO") == "Adam":
        _update_layer_adam(ref, hyper, l, data_gW, gb, row_active, weight_touched, lr)
        return
    mom = momentum_at(hyper, n) if uses_momentum(hyper) else 0.0
    lr *= 1 - mom  # H2O's effective step size with momentum
    W, b = ref.W[l], ref.b[l]
    zeros = np.zeros_like(W)
    EgW = ref.EgW[l] if ref.EgW else zeros
    EdW = ref.EdW[l] if ref.EdW else zeros
    MW = ref.MW[l] if ref.MW else zeros
    for r in np.flatnonzero(row_active):
        touched = weight_touched[r]
        grad = data_gW[r] + hyper.l1 * np.sign(W[r]) + hyper.l2 * W[r]
        w, eg, ed, m, _ = _step(hyper, W[r], grad, EgW[r], EdW[r], MW[r], lr, mom)
        W[r] = np.where(touched, w, W[r])
        EgW[r], EdW[r], MW[r] = (np.where(touched, new, old) for new, old in ((eg, EgW[r]), (ed, EdW[r]), (m, MW[r])))
        if np.isfinite(hyper.max_w2):
            s = np.sum(W[r] ** 2)
            if s > hyper.max_w2:
                W[r] *= np.sqrt(hyper.max_w2 / s)
        Egb = ref.EgB[l][r] if ref.EgB else 0.0
        Edb = ref.EdB[l][r] if ref.EdB else 0.0
        Mb = ref.MB[l][r] if ref.MB else 0.0
        b[r], Egb, Edb, Mb, step_size = _step(hyper, b[r], gb[r], Egb, Edb, Mb, lr, mom)
        if ref.EgB:
            ref.EgB[l][r], ref.EdB[l][r] = Egb, Edb
        if ref.MB:
            ref.MB[l][r] = Mb
        if hyper.sparsity_beta > 0 and l < ref.n_layers - 1:
            unit = r // 2 if ref.is_maxout(l) else r
            b[r] -= step_size * hyper.sparsity_beta * (ref.avg[l][unit] - hyper.average_activation)


def dropout_keeps(ref: RefNet, hyper, seed: int, sample: int, n_inputs: int):
    """(input keep mask, hidden keep masks) of one training sample, as 0/1 floats."""
    input_keep = np.ones(n_inputs)
    if hyper.input_dropout_ratio > 0:
        input_keep = (dropout_uniforms(seed, sample, 0, n_inputs) >= np.float32(hyper.input_dropout_ratio)).astype(
            float
        )
    hidden = []
    for h, ratio in enumerate(_hidden_ratios(ref, hyper)):
        n = len(ref.b[h]) // (2 if ref.is_maxout(h) else 1)
        layer = 1 if hyper.shared_dropout_masks else h + 1  # the rule of rng.hidden_mask_key
        u = dropout_uniforms(seed, sample, layer, n)
        hidden.append((u >= np.float32(ratio)).astype(float) if ratio > 0 else np.ones(n))
    return input_keep, hidden


def _rows_of_units(ref, l, unit_values):
    return np.repeat(unit_values, 2) if ref.is_maxout(l) else unit_values


def _sample_gradient(ref, hyper, x, t, seed, sample):
    """Forward + backprop of one training sample: activations, keeps, row deltas."""
    input_keep, hidden_keep = dropout_keeps(ref, hyper, seed, sample, len(x))
    acts, winners = forward(ref, np.asarray(x, dtype=np.float64) * input_keep, hidden_keep)
    if hyper.sparsity_beta > 0:
        for h in range(ref.n_layers - 1):
            ref.avg[h] = 0.999 * ref.avg[h] + 0.001 * acts[h + 1]
    _, deltas = row_deltas(ref, hyper, acts, winners, hidden_keep, t, x)
    return acts, hidden_keep, deltas


def _unit_kept(ref, l, hidden_keep):
    if l == ref.n_layers - 1:
        return np.ones(len(ref.b[l]), dtype=bool)
    return _rows_of_units(ref, l, hidden_keep[l]) > 0


def train_step(ref: RefNet, hyper, x, t, *, seed: int, sample: int, n: float) -> None:
    """One per-sample training step on ref, in place. `sample` keys the dropout masks,
    `n` (samples seen) drives annealing and the momentum ramp.

    Updating each layer right after computing its deltas, or all of them after the
    full backward pass, is the same thing: the error sent to layer l-1 uses layer l's
    weights before their update either way."""
    acts, hidden_keep, deltas = _sample_gradient(ref, hyper, x, t, seed, sample)
    for l in range(ref.n_layers - 1, -1, -1):
        d = deltas[l]
        active = _unit_kept(ref, l, hidden_keep)
        touched = np.ones((len(d), len(acts[l])), dtype=bool)
        if hyper.fast_mode:
            active &= d != 0
            touched &= (acts[l] != 0)[None, :]
        _update_layer(ref, hyper, l, np.outer(d, acts[l]), d, active, touched, n)
    ref.t += 1


def minibatch_step(ref: RefNet, hyper, xs, ts, *, seed: int, first_sample: int, n: float) -> None:
    """One update from the data gradient averaged over the rows xs (samples
    first_sample, first_sample+1, ...), all computed with the weights before the update.
    fast_mode skips rows whose summed delta is 0 and weights whose summed data gradient is 0;
    a unit dropped in every sample of the batch is not updated."""
    L = ref.n_layers
    gW = [np.zeros_like(w) for w in ref.W]
    gb = [np.zeros_like(b) for b in ref.b]
    kept = [np.zeros(len(b), dtype=bool) for b in ref.b]
    for k, (x, t) in enumerate(zip(xs, ts)):
        acts, hidden_keep, deltas = _sample_gradient(ref, hyper, x, t, seed, first_sample + k)
        for l in range(L):
            gW[l] += np.outer(deltas[l], acts[l])
            gb[l] += deltas[l]
            kept[l] |= _unit_kept(ref, l, hidden_keep)
    nb = len(xs)
    for l in range(L - 1, -1, -1):
        active = kept[l].copy()
        touched = np.ones_like(gW[l], dtype=bool)
        if hyper.fast_mode:
            active &= gb[l] != 0
            touched = gW[l] != 0
        _update_layer(ref, hyper, l, gW[l] / nb, gb[l] / nb, active, touched, n)
    ref.t += 1
