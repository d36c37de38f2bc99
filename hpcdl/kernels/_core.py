"""Numba kernels: forward pass, output delta, per-sample backprop with immediate updates,
mini-batch accumulation (loop engine), and inference.

All arithmetic on weights is float32; every literal used inside a loop is a float32
module constant, because a float64 literal would silently promote the loop to float64
and halve the SIMD width. The network arrives as typed records (``records.py``):
``State`` (the trainable arrays), ``Layout`` (where each layer lives), ``Config`` (the
hyper-parameters as numbers) and per-thread ``Scratch``; every call has the same types,
so the kernels compile once.
"""

import math

import numpy as np
from numba import njit

from .records import Grad, Layout, RowUpdate, Scratch, Team
from .rng import hidden_mask_key, layer_key, unit_uniform
from .sync import SYNC_STRIDE, arrive, barrier, cycles, load_acquire, store_release, wait

# fastmath without 'nnan'/'ninf': max_w2 defaults to +inf and must compare correctly.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
# Functions called from Python get a CPython wrapper (PY); the kernels called only by other
# kernels (JIT) get none, and no C-callable wrapper either: each wrapper is compiled with the
# whole code under it, ~20% of a first job's compile (docs/kernels.md, "Compiling").
PY = {"cache": True, "error_model": "numpy", "fastmath": FASTMATH}
JIT = {**PY, "no_cpython_wrapper": True, "no_cfunc_wrapper": True}
# Entry points that hogwild.py's Python threads call: they release the GIL (no parallel=True
# driver, whose lowering compiled everything a second time; docs/kernels.md, "Compiling").
ENTRY = {**PY, "nogil": True}
# The per-sample call tree (train_rows and everything it calls) is compiled without NRT
# reference counting: called without inlining, every function incremented and later
# decremented the count of each array it was handed (~40 atomic calls on entering
# backward_part, whose records hold ~30 arrays), and that was ~30% of a hidden=[32] sample
# (2.65 -> 1.88 us; docs/performance.md, "Small nets"). Safe only for functions that
# allocate no array and return none: their arrays are all borrowed from a caller that keeps
# them alive (an allocation would not compile). Results are bit-identical.
NO_RC = {**JIT, "_nrt": False}

# activation / output / loss / optimizer codes (Config fields)
TANH, RECTIFIER, MAXOUT = 0, 1, 2
SOFTMAX, LINEAR, AUTOENCODER = 0, 1, 2
CROSSENTROPY, QUADRATIC, HUBER, ABSOLUTE, QUANTILE = 0, 1, 2, 3, 4
ADADELTA, SGD, MOMENTUM, NESTEROV, ADAM = 0, 1, 2, 3, 4

ZERO = np.float32(0.0)
ONE = np.float32(1.0)
TWO = np.float32(2.0)
AVG_KEEP = np.float32(0.999)
AVG_NEW = np.float32(0.001)
ZERO_I = np.int64(0)  # a zero that Numba types as int64, not as the literal 0
ONE_I = np.int64(1)  # (a literal argument compiles a callee a second time; docs/kernels.md)
P_MIN = 1e-15


# ---------------------------------------------------------------- small helpers


@njit(**JIT)
def _sign(w):
    return ONE if w > ZERO else (-ONE if w < ZERO else ZERO)


@njit(**NO_RC)
def _dot(W, o, a, ai, n):
    w = W[o : o + n]
    x = a[ai : ai + n]
    s = ZERO
    for i in range(n):
        s += w[i] * x[i]
    return s


@njit(**NO_RC)
def _axpy(y, yi, alpha, x, xi, n):
    yv = y[yi : yi + n]
    xv = x[xi : xi + n]
    for i in range(n):
        yv[i] += alpha * xv[i]


@njit(**NO_RC)
def _zero(x, o, n):
    xv = x[o : o + n]
    for i in range(n):
        xv[i] = ZERO


@njit(**JIT)
def _activate(act, z):
    if act == TANH:
        return np.tanh(z)
    return max(ZERO, z)


@njit(**JIT)
def _rows_of(n_rows, n, dtype):
    """(n_rows, >= n) C-contiguous zeros; each row starts on a 64-byte boundary (a cache
    line, one AVX-512 vector), so rows used by different threads share no line."""
    per_line = 64 // np.zeros(0, dtype).itemsize
    stride = (n + per_line - 1) // per_line * per_line
    return aligned_zeros(n_rows * stride, dtype).reshape((n_rows, stride))


@njit(**PY)
def scratches(lay, n):
    """Working arrays for n threads: a Scratch whose fields are (n, size) arrays; thread
    t works on row t (scratch_of)."""
    units, mult = lay.units, lay.mult
    n_total = lay.a_off[len(units)]
    max_rows = 0
    for l in range(len(units) - 1):
        max_rows = max(max_rows, mult[l] * units[l + 1])
    hscale = _rows_of(n, n_total, np.float32)
    hscale[:] = ONE
    return Scratch(
        _rows_of(n, n_total, np.float32),
        _rows_of(n, n_total, np.int64),
        hscale,
        _rows_of(n, max_rows, np.float32),
        _rows_of(n, n_total, np.float32),
        _rows_of(n, max_rows, np.bool_),
        _rows_of(n, max_rows, np.float32),
        _rows_of(n, max_rows, np.int64),
    )


@njit(**JIT)
def scratch_of(rows, t):
    """Thread t's Scratch from scratches(): views, nothing allocated."""
    return Scratch(
        rows.a[t], rows.win[t], rows.hscale[t], rows.d[t], rows.e[t], rows.upd[t], rows.rstep[t], rows.todo[t]
    )


@njit(**NO_RC)
def _member_scratch(rows, t):
    """scratch_of for a function compiled without reference counts (NO_RC): the views are
    not counted, so they must not outlive ``rows`` (scratch_of's, returned to a counting
    caller, are counted)."""
    return Scratch(
        rows.a[t], rows.win[t], rows.hscale[t], rows.d[t], rows.e[t], rows.upd[t], rows.rstep[t], rows.todo[t]
    )


@njit(**JIT)
def scratch(lay):
    """Fresh working arrays for one thread."""
    return scratch_of(scratches(lay, ONE_I), ZERO_I)


@njit(**PY)
def aligned_zeros(n, dtype):
    """Zeros starting on a 128-byte boundary (two cache lines, which the adjacent-line
    prefetcher moves in pairs; NumPy only promises 16 bytes). Net.buffer uses it too."""
    buf = np.zeros(n + 128, dtype=dtype)
    item = buf.itemsize
    off = ((-buf.ctypes.data) % 128) // item
    return buf[off : off + n]


# ---------------------------------------------------------------- forward
#
# Activations live in one vector per thread, layer l at a_off[l]. A layer reads its
# input from ``src`` and writes its units to ``dst`` (the same vector on one thread;
# in a team, the hidden and output units go to the team's shared vector).


@njit(**NO_RC)
def _linear_units(state, lay, l, src, dst, j0, j1):
    """z of units j0..j1-1 of a softmax or linear output layer l."""
    W, B = state.W, state.B
    n_in, ai, ao, wo, bo = lay.units[l], lay.a_off[l], lay.a_off[l + 1], lay.w_off[l], lay.b_off[l]
    for j in range(j0, j1):
        dst[ao + j] = _dot(W, wo + j * n_in, src, ai, n_in) + B[bo + j]


@njit(**NO_RC)
def _softmax(z, p, o, n):
    """p[o:o+n] = softmax(z[o:o+n]), summed in float64 (z and p may be one array)."""
    mx = z[o]
    for j in range(1, n):
        mx = max(mx, z[o + j])
    tot = 0.0
    for j in range(n):
        tot += math.exp(float(z[o + j] - mx))
    for j in range(n):
        p[o + j] = np.float32(math.exp(float(z[o + j] - mx)) / tot)


@njit(**NO_RC)
def _activated_units(state, lay, l, src, dst, s, act, scaled, j0, j1):
    """Activations of units j0..j1-1 of hidden layer l + 1 (or the autoencoder output).

    With ``scaled``, ``s.hscale[ao+j]`` multiplies unit j: the 0/1 dropout mask in
    training, (1 - ratio) at inference; a unit with scale 0 is not computed (a = 0 and
    its Maxout winner is left as is; it is never read for a dropped unit)."""
    W, B, hscale, win = state.W, state.B, s.hscale, s.win
    n_in, m, ai, ao = lay.units[l], lay.mult[l], lay.a_off[l], lay.a_off[l + 1]
    wo, bo = lay.w_off[l], lay.b_off[l]
    if scaled and m == 1:
        _kept_units(state, lay, l, src, dst, s, act, j0, j1)
        return
    for j in range(j0, j1):
        sc = hscale[ao + j] if scaled else ONE
        if sc == ZERO:
            dst[ao + j] = ZERO
            continue
        # written out here: a function call per unit made inference 40% slower
        if m == 1:
            z = _dot(W, wo + j * n_in, src, ai, n_in) + B[bo + j]
            dst[ao + j] = _activate(act, z) * sc
        else:
            r = 2 * j
            z0 = _dot(W, wo + r * n_in, src, ai, n_in) + B[bo + r]
            z1 = _dot(W, wo + (r + 1) * n_in, src, ai, n_in) + B[bo + r + 1]
            if z1 > z0:  # ties go to channel 0
                win[ao + j] = 1
                dst[ao + j] = z1 * sc
            else:
                win[ao + j] = 0
                dst[ao + j] = z0 * sc


@njit(**NO_RC)
def _kept_units(state, lay, l, src, dst, s, act, j0, j1):
    """_activated_units for a hidden layer without Maxout: first the list of the units
    dropout kept (no branch), then their activations. Skipping dropped units inside the
    unit loop branched on the random mask, and half of those branches were mispredicted
    (+6% samples/s on one thread, booklet net, without them)."""
    W, B, hscale, kept = state.W, state.B, s.hscale, s.todo
    n_in, ai, ao, wo, bo = lay.units[l], lay.a_off[l], lay.a_off[l + 1], lay.w_off[l], lay.b_off[l]
    n_kept = 0
    for j in range(j0, j1):
        dst[ao + j] = ZERO
        kept[n_kept] = j
        n_kept += 1 if hscale[ao + j] != ZERO else 0
    for q in range(n_kept):
        j = kept[q]
        z = _dot(W, wo + j * n_in, src, ai, n_in) + B[bo + j]
        dst[ao + j] = _activate(act, z) * hscale[ao + j]


@njit(**NO_RC)
def forward(state, lay, act, out, s):
    """Forward pass of one row whose input is already in ``s.a[0:units[0]]``, on one
    thread (inference, loop mini-batch engine). ``out = -1`` treats the last layer as
    hidden (inference of a hidden layer)."""
    a = s.a
    n_layers = len(lay.units) - 1
    for l in range(n_layers):
        n_out = lay.units[l + 1]
        last = l == n_layers - 1 and out >= 0  # out = -1: a truncated net ending in a hidden layer
        if last and out != AUTOENCODER:
            _linear_units(state, lay, l, a, a, ZERO_I, n_out)
            if out == SOFTMAX:
                _softmax(a, a, lay.a_off[l + 1], n_out)
        else:
            _activated_units(state, lay, l, a, a, s, act, not last, ZERO_I, n_out)


# ---------------------------------------------------------------- loss and output delta


@njit(**JIT)
def _dloss(loss, f, y, huber_delta, alpha):
    """d loss / d f for one output value f and target y (regression-type losses)."""
    r = f - y
    if loss == QUADRATIC:
        return TWO * r
    if loss == HUBER:
        if abs(r) <= huber_delta:
            return TWO * r
        return TWO * huber_delta * _sign(r)
    if loss == ABSOLUTE:
        return _sign(r)
    # QUANTILE (pinball): alpha*(y-f) if y > f else (1-alpha)*(f-y)
    return -alpha if y > f else ONE - alpha


@njit(**JIT)
def _loss_value(loss, f, y, huber_delta, alpha):
    r = float(f) - float(y)
    if loss == QUADRATIC:
        return r * r
    if loss == HUBER:
        if abs(r) <= huber_delta:
            return r * r
        return 2.0 * huber_delta * abs(r) - huber_delta * huber_delta
    if loss == ABSOLUTE:
        return abs(r)
    if float(y) > float(f):
        return alpha * (float(y) - float(f))
    return (1.0 - alpha) * (float(f) - float(y))


@njit(**NO_RC)
def output_delta(cfg, a, ao, k_out, k0, k1, win, t, x, xr, d):
    """d[r] = dE/dz for the rows r of output units k0..k1-1, whose activations are
    ``a[ao:ao+k_out]`` (Maxout winners ``win[ao:]``), for target t (class index or
    value) or, for the autoencoder, the un-dropped input row ``x[xr]``."""
    act, loss = cfg.activation, cfg.loss
    huber_delta = np.float32(cfg.huber_delta)
    alpha = np.float32(cfg.quantile_alpha)
    if cfg.output == SOFTMAX:
        y = int(t)
        if loss == CROSSENTROPY:
            for k in range(k0, k1):
                d[k] = a[ao + k] - (ONE if k == y else ZERO)
        else:  # Quadratic through the full softmax Jacobian: d_i = p_i (q_i - sum_k q_k p_k)
            qp = ZERO
            for k in range(k_out):
                q = TWO * (a[ao + k] - (ONE if k == y else ZERO))
                qp += q * a[ao + k]
            for k in range(k0, k1):
                q = TWO * (a[ao + k] - (ONE if k == y else ZERO))
                d[k] = a[ao + k] * (q - qp)
    elif cfg.output == LINEAR:
        if k0 < k1:
            d[0] = _dloss(loss, a[ao], t, huber_delta, alpha)
    else:
        for k in range(k0, k1):
            o = a[ao + k]
            g = _dloss(loss, o, x[xr, k], huber_delta, alpha)
            if act == TANH:
                d[k] = g * (ONE - o * o)
            elif act == RECTIFIER:
                d[k] = g if o > ZERO else ZERO
            else:
                w = win[ao + k]
                d[2 * k + w] = g
                d[2 * k + 1 - w] = ZERO


@njit(**JIT)
def row_loss_value(cfg, a, ao, k_out, t, x, xr):
    """Per-row loss (float64) of the output activations ``a[ao:ao+k_out]``."""
    loss = cfg.loss
    if cfg.output == SOFTMAX:
        p = float(a[ao + int(t)])
        if loss == CROSSENTROPY:
            return -math.log(max(P_MIN, p))
        tot = 0.0
        for k in range(k_out):
            r = float(a[ao + k]) - (1.0 if k == int(t) else 0.0)
            tot += r * r
        return tot
    if cfg.output == LINEAR:
        return _loss_value(loss, a[ao], t, cfg.huber_delta, cfg.quantile_alpha)
    tot = 0.0
    for k in range(k_out):
        tot += _loss_value(loss, a[ao + k], x[xr, k], cfg.huber_delta, cfg.quantile_alpha)
    return tot


@njit(**NO_RC)
def hidden_delta(act, s, a, ao, j0, j1, m):
    """Row deltas ``s.d`` of hidden units j0..j1-1 (activations ``a[ao:]``, m rows
    each) from the error ``s.e[j]`` arriving at them."""
    e, win, hscale, d = s.e, s.win, s.hscale, s.d
    if m == 1:
        # Tanh and Rectifier: selects, no branch on the random dropout mask (half of those
        # branches were mispredicted; +2% samples/s on one thread without them).
        for j in range(j0, j1):
            ej = e[j] if hscale[ao + j] != ZERO else ZERO  # dropped: no gradient flows through it
            aj = a[ao + j]
            d[j] = ej * (ONE - aj * aj) if act == TANH else (ej if aj > ZERO else ZERO)
        return
    for j in range(j0, j1):  # Maxout: the winning channel's row gets the error
        if hscale[ao + j] == ZERO:
            d[2 * j] = ZERO
            d[2 * j + 1] = ZERO
            continue
        w = win[ao + j]
        d[2 * j + w] = e[j]
        d[2 * j + 1 - w] = ZERO


# ---------------------------------------------------------------- updates of one weight row
#
# Data gradient of weight i is g * x[xi + i]: per sample x is the previous layer's
# activation and g the row delta; in a mini-batch x is the accumulated gradient and g
# 1/batch. ``keep_zero`` (fast_mode) leaves weights with x == 0 completely untouched.
# The loops compute every lane and blend, so they vectorize.


@njit(**JIT)
def row_update(cfg, lr, mom, n):
    """The float32 update settings of one weight layer (lr, mom: this sample's schedule
    after n samples); Adam's come from adam_update."""
    if cfg.optimizer == ADAM:
        return adam_update(cfg, lr, n)
    return RowUpdate(
        cfg.optimizer,
        np.float32(cfg.l1),
        np.float32(cfg.l2),
        np.float32(cfg.rho),
        np.float32(cfg.epsilon),
        lr,
        mom,
        cfg.fast_mode,
        cfg.has_max_w2,
        np.float32(cfg.max_w2),
        ZERO,
    )


@njit(**JIT)
def adam_update(cfg, lr, n):
    """Adam's settings for the update after n samples: step t = adam_steps + (n - adam_samples)
    / mini_batch_size + 1 (per sample: the sample's place in the call; a HOGWILD! mini-batch
    thread: the estimate of the updates all threads made, as for the rate schedule). The bias
    corrections fold into the rate and epsilon, so that the row loops stay one multiply-add:
    lr / c1 * m / (sqrt(v) / sqrt(c2) + eps) = (lr sqrt(c2) / c1) * m / (sqrt(v) + eps sqrt(c2)),
    with c_i = 1 - beta_i^t (PyTorch's Adam)."""
    t = cfg.adam_steps + (n - cfg.adam_samples) / cfg.mini_batch_size + 1.0
    root_c2 = math.sqrt(1.0 - cfg.beta2**t)
    c1 = 1.0 - cfg.beta1**t
    return RowUpdate(
        ADAM,
        np.float32(cfg.l1),
        np.float32(cfg.l2),
        np.float32(cfg.beta2),
        np.float32(cfg.epsilon * root_c2),
        np.float32(lr * root_c2 / c1),
        np.float32(cfg.beta1),
        cfg.fast_mode,
        cfg.has_max_w2,
        np.float32(cfg.max_w2),
        np.float32(lr * cfg.weight_decay),
    )


@njit(**NO_RC)
def _row_adadelta(W, EgW, EdW, o, x, xi, n, g, l1, l2, rho, eps, keep_zero):
    one_m_rho = ONE - rho
    Wr, Eg, Ed, xr = W[o : o + n], EgW[o : o + n], EdW[o : o + n], x[xi : xi + n]
    for i in range(n):
        xv = xr[i]
        w = Wr[i]
        grad = g * xv + l1 * _sign(w) + l2 * w
        eg0 = Eg[i]
        eg = rho * eg0 + one_m_rho * grad * grad
        ed0 = Ed[i]
        step = np.sqrt((ed0 + eps) / (eg + eps)) * grad
        ed = rho * ed0 + one_m_rho * step * step
        skip = keep_zero and xv == ZERO
        Wr[i] = w if skip else w - step
        Eg[i] = eg0 if skip else eg
        Ed[i] = ed0 if skip else ed


@njit(**NO_RC)
def _row_sgd(W, o, x, xi, n, g, l1, l2, lr, keep_zero):
    Wr, xr = W[o : o + n], x[xi : xi + n]
    for i in range(n):
        xv = xr[i]
        w = Wr[i]
        grad = g * xv + l1 * _sign(w) + l2 * w
        skip = keep_zero and xv == ZERO
        Wr[i] = w if skip else w - lr * grad


@njit(**NO_RC)
def _row_momentum(W, MW, o, x, xi, n, g, l1, l2, lr, mom, keep_zero):
    Wr, Mr, xr = W[o : o + n], MW[o : o + n], x[xi : xi + n]
    for i in range(n):
        xv = xr[i]
        w = Wr[i]
        grad = g * xv + l1 * _sign(w) + l2 * w
        step = -lr * grad
        v = Mr[i]
        skip = keep_zero and xv == ZERO
        Wr[i] = w if skip else w + step + mom * v
        Mr[i] = v if skip else step


@njit(**NO_RC)
def _row_nesterov(W, MW, o, x, xi, n, g, l1, l2, lr, mom, keep_zero):
    Wr, Mr, xr = W[o : o + n], MW[o : o + n], x[xi : xi + n]
    for i in range(n):
        xv = xr[i]
        w = Wr[i]
        grad = g * xv + l1 * _sign(w) + l2 * w
        v0 = Mr[i]
        v = mom * v0 - grad
        skip = keep_zero and xv == ZERO
        Wr[i] = w if skip else w + lr * v
        Mr[i] = v0 if skip else v


@njit(**NO_RC)
def _row_adam(W, V, M, o, x, xi, n, g, l1, l2, beta1, beta2, lr, eps, decay, keep_zero):
    """Adam (AdamW with decay > 0): V, M are the running second and first moments; lr and
    eps carry the bias corrections (adam_update)."""
    one_m_b1, one_m_b2 = ONE - beta1, ONE - beta2
    Wr, Vr, Mr, xr = W[o : o + n], V[o : o + n], M[o : o + n], x[xi : xi + n]
    for i in range(n):
        xv = xr[i]
        w = Wr[i]
        grad = g * xv + l1 * _sign(w) + l2 * w
        m0 = Mr[i]
        v0 = Vr[i]
        m = beta1 * m0 + one_m_b1 * grad
        v = beta2 * v0 + one_m_b2 * grad * grad
        skip = keep_zero and xv == ZERO
        Wr[i] = w if skip else w - decay * w - lr * m / (np.sqrt(v) + eps)
        Mr[i] = m0 if skip else m
        Vr[i] = v0 if skip else v


@njit(**NO_RC)
def _max_w2(W, o, n, max_w2):
    Wr = W[o : o + n]
    s = ZERO
    for i in range(n):
        s += Wr[i] * Wr[i]
    if s > max_w2:
        f = np.sqrt(max_w2 / s)
        for i in range(n):
            Wr[i] *= f


@njit(**NO_RC)
def update_row(W, EgW, EdW, MW, o, x, xi, n, g, u):
    """Update the weight row W[o:o+n] (a unit, or one Maxout channel) from the data
    gradient g * x[xi:xi+n] with the settings u, then apply max_w2 to it.

    It runs once per row, so it takes only the arrays it touches, and the vector loops
    below take plain numbers: handing them the State or the RowUpdate record made
    per-sample training 3-9% slower (benchmarks/kernel_speed.py, A/B in one process)."""
    if u.optimizer == ADADELTA:
        _row_adadelta(W, EgW, EdW, o, x, xi, n, g, u.l1, u.l2, u.rho, u.epsilon, u.keep_zero)
    elif u.optimizer == SGD:
        _row_sgd(W, o, x, xi, n, g, u.l1, u.l2, u.lr, u.keep_zero)
    elif u.optimizer == MOMENTUM:
        _row_momentum(W, MW, o, x, xi, n, g, u.l1, u.l2, u.lr, u.momentum, u.keep_zero)
    elif u.optimizer == ADAM:  # v lives in EgW, m in MW (net.py)
        _row_adam(W, EgW, MW, o, x, xi, n, g, u.l1, u.l2, u.momentum, u.rho, u.lr, u.epsilon, u.decay, u.keep_zero)
    else:
        _row_nesterov(W, MW, o, x, xi, n, g, u.l1, u.l2, u.lr, u.momentum, u.keep_zero)
    if u.has_max_w2:
        _max_w2(W, o, n, u.max_w2)


@njit(**NO_RC)
def update_biases(state, bo, G, go, scale, upd, n, u, rstep):
    """Update the n biases B[bo:bo+n] whose upd flag is set, with gradient G[go+r]*scale
    (biases are not regularized). rstep[r] receives the step size used (sparsity term).
    One vectorized pass per layer: a bias never influences the weight updates."""
    opt, rho, eps, lr, mom = u.optimizer, u.rho, u.epsilon, u.lr, u.momentum
    Bv = state.B[bo : bo + n]
    Gv = G[go : go + n]
    if opt == ADADELTA:
        one_m_rho = ONE - rho
        Eg = state.EgB[bo : bo + n]
        Ed = state.EdB[bo : bo + n]
        for r in range(n):
            gb = Gv[r] * scale
            eg0 = Eg[r]
            ed0 = Ed[r]
            eg = rho * eg0 + one_m_rho * gb * gb
            rate = np.sqrt((ed0 + eps) / (eg + eps))
            step = rate * gb
            ed = rho * ed0 + one_m_rho * step * step
            ok = upd[r]
            Bv[r] = Bv[r] - step if ok else Bv[r]
            Eg[r] = eg if ok else eg0
            Ed[r] = ed if ok else ed0
            rstep[r] = rate
    elif opt == SGD:
        for r in range(n):
            Bv[r] = Bv[r] - lr * (Gv[r] * scale) if upd[r] else Bv[r]
            rstep[r] = lr
    elif opt == ADAM:
        _biases_adam(Bv, state.EgB[bo : bo + n], state.MB[bo : bo + n], Gv, scale, upd, n, u, rstep)
    elif opt == MOMENTUM:
        M = state.MB[bo : bo + n]
        for r in range(n):
            step = -lr * (Gv[r] * scale)
            v = M[r]
            ok = upd[r]
            Bv[r] = Bv[r] + step + mom * v if ok else Bv[r]
            M[r] = step if ok else v
            rstep[r] = lr
    else:
        M = state.MB[bo : bo + n]
        for r in range(n):
            v0 = M[r]
            v = mom * v0 - Gv[r] * scale
            ok = upd[r]
            Bv[r] = Bv[r] + lr * v if ok else Bv[r]
            M[r] = v if ok else v0
            rstep[r] = lr


@njit(**NO_RC)
def _biases_adam(Bv, V, M, Gv, scale, upd, n, u, rstep):
    """Adam on the biases whose upd flag is set; no weight decay (biases are not regularized).
    rstep[r]: the bias's own rate lr / (sqrt(v) + eps), as ADADELTA's (sparsity term)."""
    beta1, beta2, lr, eps = u.momentum, u.rho, u.lr, u.epsilon
    one_m_b1, one_m_b2 = ONE - beta1, ONE - beta2
    for r in range(n):
        gb = Gv[r] * scale
        m0 = M[r]
        v0 = V[r]
        m = beta1 * m0 + one_m_b1 * gb
        v = beta2 * v0 + one_m_b2 * gb * gb
        rate = lr / (np.sqrt(v) + eps)
        ok = upd[r]
        Bv[r] = Bv[r] - rate * m if ok else Bv[r]
        M[r] = m if ok else m0
        V[r] = v if ok else v0
        rstep[r] = rate


@njit(**NO_RC)
def sparsity_pull(state, cfg, bo, avg_o, m, upd, n, rstep):
    """Sparse autoencoder: after the bias update, b -= step * beta * (mean activation - target)."""
    beta = np.float32(cfg.sparsity_beta)
    target = np.float32(cfg.average_activation)
    B, AVG = state.B, state.AVG
    for r in range(n):
        if upd[r]:
            B[bo + r] -= rstep[r] * beta * (AVG[avg_o + r // m] - target)


# ---------------------------------------------------------------- one training sample


@njit(**JIT)
def schedule(cfg, n):
    """(rate_t, momentum) after n samples; the manual rate is not used by ADADELTA."""
    rate_t = cfg.rate / (1.0 + cfg.rate_annealing * n)
    mom = 0.0
    if cfg.optimizer == MOMENTUM or cfg.optimizer == NESTEROV:
        if n < cfg.momentum_ramp:
            mom = cfg.momentum_start + (cfg.momentum_stable - cfg.momentum_start) * n / cfg.momentum_ramp
        else:
            mom = cfg.momentum_stable
        rate_t *= 1.0 - mom  # H2O's effective step size rate * (1 - momentum)
    return rate_t, mom


LINE_FLOATS = 16  # float32s in a 64-byte cache line


@njit(**PY)
def split_units(lay, n_members):
    """Which units of every layer each member of a team owns: member t has units
    [split[h, t], split[h, t + 1]) of layer h (contiguous, nearly even; see _line_boundary).
    With one member, everything."""
    units = lay.units
    split = np.zeros((len(units), n_members + 1), dtype=np.int64)
    for h in range(len(units)):
        split[h, n_members] = units[h]
        for t in range(1, n_members):
            even = (units[h] * t) // n_members
            split[h, t] = even if h == 0 else _line_boundary(lay, h - 1, even, split[h, t - 1])
    return split


@njit(**JIT)
def _line_boundary(lay, l, even, lo):
    """The unit nearest to ``even`` (and not below ``lo``, the previous member's first) at
    which weight layer l's rows start on a new cache line, so that no line of W or its
    optimizer state is written by two members; if none is within max(n // 16, 8) units,
    ``even`` (or ``lo``). A slice may be empty (small layers). On the Fashion-MNIST nets
    this is the even split except on the 10-unit output layer (4/6). Biases are left out:
    aligning them too gave the booklet net 96/104 splits, and the bigger side cost ~1 us a
    sample, while a bias line written by both members costs little (a store does not wait
    for its line)."""
    n, m, n_in = lay.units[l + 1], lay.mult[l], lay.units[l]
    for step in range(max(n // 16, 8) + 1):
        for c in (even - step, even + step):
            rows_aligned = (lay.w_off[l] + m * c * n_in) % LINE_FLOATS == 0
            if lo <= c <= n and rows_aligned:
                return c
    return max(even, lo)


@njit(**PY)
def unit_range(split, h, member, n_members):
    """The units [lo, hi) of layer h that team member ``member`` owns: slice ``member`` of
    split_units in odd layers, counted from the other end in even ones, so that the line
    where one layer's activations (and biases) end and the next one's begin has one
    writer (the last member's last units, then its first units of the next layer). With
    one member (a team that went on alone, or no team), all of them."""
    if n_members == 1:
        return 0, split[h, split.shape[1] - 1]
    member = np.int64(member)  # a prange index may be unsigned: int64 - uint64 would be a float
    t = member if h % 2 == 1 else n_members - 1 - member
    return split[h, t], split[h, t + 1]


@njit(**NO_RC)
def prepare_sample(cfg, lay, split, s, X, row, gidx, key_seed, member, n_members):
    """Copy the input row into s.a (with input dropout) and draw the hidden dropout masks
    of the member's own units into s.hscale (one key for all hidden layers when shared,
    see rng.hidden_mask_key)."""
    units, a, hscale = lay.units, s.a, s.hscale
    n0 = units[0]
    in_drop = cfg.input_dropout_ratio
    if in_drop > 0.0:
        key = layer_key(key_seed, gidx, ZERO_I)
        p = np.float32(in_drop)
        for i in range(n0):
            a[i] = ZERO if unit_uniform(key, i) < p else X[row, i]
    else:
        for i in range(n0):
            a[i] = X[row, i]
    for h in range(len(units) - 2):
        ao = lay.a_off[h + 1]
        j0, j1 = unit_range(split, h + 1, member, n_members)
        p = np.float32(cfg.hidden_dropout_ratios[h])
        if p > ZERO:
            key = hidden_mask_key(key_seed, gidx, h, cfg.shared_masks)
            for j in range(j0, j1):
                hscale[ao + j] = ZERO if unit_uniform(key, j) < p else ONE
        else:
            for j in range(j0, j1):
                hscale[ao + j] = ONE


@njit(**NO_RC)
def track_activation(state, lay, split, a, member, n_members):
    """Sparse autoencoder running mean of each of the member's hidden units' activation."""
    avg, a_off, units = state.AVG, lay.a_off, lay.units
    for h in range(1, len(units) - 1):
        j0, j1 = unit_range(split, h, member, n_members)
        o = a_off[h] - units[0]
        for j in range(j0, j1):
            avg[o + j] = AVG_KEEP * avg[o + j] + AVG_NEW * a[a_off[h] + j]


# ---------------------------------------------------------------- per-sample engine: a team of threads
#
# All n_members threads train on every sample, one sample after the other, as one
# thread would (docs/kernels.md, "Threads"). Member t owns a contiguous slice of every
# layer's units (unit_range): it computes their activations, their deltas and the
# updates of their weight rows and biases, so each weight and optimizer-state cache
# line is only ever touched by one core. What they share: the hidden and output
# activations (Team.a) and, per layer, each member's part of the error sent to the
# layer below (Team.e). A barrier (sync.barrier) separates a layer's writes from the
# reads of the next step; with one member there are no barriers and Team.a is the
# member's own Scratch.a.


@njit(**PY)
def team_buffers(lay, n_members):
    """The arrays the members share; every member's part starts on its own cache lines.
    Activations alternate between two rows by sample: a member still using sample k's
    after arriving at a barrier must not see them overwritten by a faster member's
    sample k + 1."""
    units = lay.units
    n_layers = len(units) - 1
    width = 32
    for l in range(1, n_layers):
        width = max(width, (units[l] + 31) // 32 * 32)  # 128-byte rows
    e = aligned_zeros(n_members * n_layers * width, np.float32).reshape((n_members * n_layers, width))
    a = _rows_of(np.int64(2), lay.a_off[len(units)], np.float32)
    return Team(a, e, aligned_zeros(n_members * SYNC_STRIDE, np.int64), split_units(lay, n_members))


@njit(**NO_RC)
def _sync(team, member, n_members, epoch, waits):
    """Barrier of the team; (epoch, waits) count the barriers and the cycles waited."""
    if n_members == 1:
        return epoch, waits
    epoch, waited = barrier(team.sync, member, n_members, epoch)
    return epoch, waits + waited


@njit(**NO_RC)
def _wait(team, member, n_members, epoch, waits):
    """The waiting half of a barrier whose arrive came earlier; returns waits."""
    return waits + wait(team.sync, member, n_members, epoch)


@njit(**NO_RC)
def forward_part(state, lay, cfg, s, A, team, member, n_members, epoch, waits):
    """The member's units of every layer for the sample whose input is in s.a; the
    softmax probabilities go to the member's own s.a (everyone needs all of them).

    After its units of a hidden layer a member waits at a barrier: every row of the
    next layer needs all of them. (Summing first over its own inputs, to hide the wait,
    cost more than it hid: the wait is ~0.1 us, but two dots of n/2 cost nearly as much
    per row as two of n, each ending in a remainder loop; the forward pass of a 200-unit
    layer went from 1.9 to 1.0 us without it.)"""
    units, a_off = lay.units, lay.a_off
    act, out = cfg.activation, cfg.output
    a = s.a
    n_layers = len(units) - 1
    for l in range(n_layers):
        n_out = units[l + 1]
        j0, j1 = unit_range(team.split, l + 1, member, n_members)
        last = l == n_layers - 1
        linear = last and out != AUTOENCODER
        src = a if l == 0 else A
        if linear:
            _linear_units(state, lay, l, src, A, j0, j1)
        else:
            _activated_units(state, lay, l, src, A, s, act, not last, j0, j1)
        if not last or out == SOFTMAX:
            epoch, waits = _sync(team, member, n_members, epoch, waits)
        if last and out == SOFTMAX:
            _softmax(A, a, a_off[l + 1], n_out)
    return epoch, waits


@njit(**NO_RC)
def _rows(state, lay, l, s, src, e, u, r0, r1, errors):
    """Update rows r0..r1-1 of weight layer l for one sample, with deltas s.d and inputs
    ``src[a_off[l]:]``. s.upd[r] marks the rows that change: not of a dropped unit and,
    with fast_mode, a non-zero delta. With ``errors``, first adds their d * W[r] (the
    weights before the update) to e, the error for the layer below."""
    W, EgW, EdW, MW = state.W, state.EgW, state.EdW, state.MW  # see update_row
    d, upd, hscale, todo = s.d, s.upd, s.hscale, s.todo
    n_in, m, ai, ao, wo = lay.units[l], lay.mult[l], lay.a_off[l], lay.a_off[l + 1], lay.w_off[l]
    hidden = l < len(lay.units) - 2
    keep_zero = u.keep_zero
    # First the list of rows to update, without branching on the random dropout mask and
    # ReLU pattern (a branch per row mispredicted about half the time), then the updates.
    n_todo = 0
    for r in range(r0, r1):
        g = d[r]
        dropped = hidden and hscale[ao + r // m] == ZERO  # dropped units get no update
        changes = not dropped and not (g == ZERO and keep_zero)
        upd[r] = changes
        todo[n_todo] = r
        n_todo += 1 if changes else 0
    for q in range(n_todo):
        r = todo[q]
        g = d[r]
        o = wo + r * n_in
        if errors and g != ZERO:
            _axpy(e, 0, g, W, o, n_in)
        update_row(W, EgW, EdW, MW, o, src, ai, n_in, g, u)


@njit(**NO_RC)
def backward_part(state, lay, cfg, s, A, team, X, T, row, n, member, n_members, epoch, waits):
    """Backprop of one sample (forward done) with immediate updates of the member's rows:
    output layer first, then hidden layers backwards; the error sent to the previous
    layer uses each weight before its update.

    In a team, each member adds its rows' part of the error for the layer below; after
    a barrier, each sums the parts at its own units (_add_parts). (Computing the parts
    in a pass of their own, to arrive before the row updates, would hide the wait,
    0.1-0.3 us per barrier when both cores are free, but read every row twice.)"""
    units, mult, a_off, b_off = lay.units, lay.mult, lay.a_off, lay.b_off
    a, d, upd, rstep = s.a, s.d, s.upd, s.rstep
    rate_t, mom64 = schedule(cfg, n)
    n_layers = len(units) - 1
    k0, k1 = unit_range(team.split, n_layers, member, n_members)
    probabilities = a if cfg.output == SOFTMAX else A
    output_delta(cfg, probabilities, a_off[n_layers], units[n_layers], k0, k1, s.win, T[row], X, row, d)
    for l in range(n_layers - 1, -1, -1):
        n_in = units[l]
        m = mult[l]
        ao = a_off[l + 1]
        src = a if l == 0 else A
        hidden = l < n_layers - 1
        propagate = l > 0
        exchange = propagate and n_members > 1  # the members' error parts cross at a barrier
        e = team.e[member * n_layers + l] if exchange else s.e  # this member's part of the error
        if propagate:
            _zero(e, 0, n_in)
        u = row_update(cfg, np.float32(rate_t * cfg.rate_decay**l), np.float32(mom64), n)
        j0, j1 = unit_range(team.split, l + 1, member, n_members)
        r0, r1 = m * j0, m * j1
        _rows(state, lay, l, s, src, e, u, r0, r1, propagate)
        if exchange:
            epoch = arrive(team.sync, member, epoch)  # the bias updates below hide part of the wait
        update_biases(state, b_off[l] + r0, d, r0, ONE, upd[r0:r1], r1 - r0, u, rstep[r0:r1])
        if cfg.sparse and hidden:
            sparsity_pull(state, cfg, b_off[l] + r0, ao - units[0] + j0, m, upd[r0:r1], r1 - r0, rstep[r0:r1])
        if propagate:
            i0, i1 = unit_range(team.split, l, member, n_members)
            if exchange:
                waits = _wait(team, member, n_members, epoch, waits)
                _add_parts(team.e, n_layers, l, n_members, s.e, i0, i1)
            hidden_delta(cfg.activation, s, A, a_off[l], i0, i1, mult[l - 1])
    return epoch, waits


@njit(**NO_RC)
def _add_parts(E, n_layers, l, n_members, e, i0, i1):
    """e[i] = sum over members of their part of the error at unit i of layer l."""
    for i in range(i0, i1):
        e[i] = E[l, i]
    for t in range(1, n_members):
        part = E[t * n_layers + l]
        for i in range(i0, i1):
            e[i] += part[i]


# Solo fallback: every SOLO_CHECK_EVERY samples the members add up the time they spent
# waiting at barriers and the time that passed since the window began; a window ends
# once SOLO_WINDOW_CYCLES have passed (sync.cycles: about 40 ms of x86's time-stamp
# counter, 100 ms of nanoseconds elsewhere). On a machine with
# more runnable threads than cores, a member often waits for one that is not running;
# if the members waited more than SOLO_WAITING of the time in SOLO_STRIKES windows in a
# row, member 0 trains the rest of the rows alone. (A quiet machine: about 5%.) The
# first SOLO_WARMUP samples do not count: threads waking up and caches refilling after
# other work make them wait in every call. Why windows of time, not of samples: on the
# 2-core benchmark VM a member is preempted for 1-10 ms every 50-100 ms even when
# nothing else runs (kernel threads; the other core is busy with its partner), and in
# a short window one such stall is a third of the time (windows of 192 and then 2 x 512
# samples, 4-11 ms, still sent a call in ten or twenty on alone at one thread's speed).
# Oversubscribed, 512 samples take far longer than a window (every barrier costs a
# time slice), so the team goes on alone at sample 1,024.
SOLO_WARMUP = 64
SOLO_CHECK_EVERY = 512
SOLO_WINDOW_CYCLES = 100_000_000
SOLO_STRIKES = 2
SOLO_EARLIEST = SOLO_CHECK_EVERY * SOLO_STRIKES  # the first sample a team can go on alone
SOLO_WAITING = 0.3
SOLO_AT = 2  # Team.sync[SOLO_AT]: the sample at which member 0 went on alone (0: never)
WINDOW_OPEN, WINDOW_QUIET, WINDOW_WAITED = 0, 1, 2


@njit(**NO_RC)
def _window_verdict(team, member, n_members, epoch, waits, elapsed):
    """Collective verdict on the window so far (the same on every member, from the sums
    of all members' numbers): WINDOW_OPEN (not long enough yet), WINDOW_QUIET, or
    WINDOW_WAITED (more than SOLO_WAITING of it spent waiting). ``waits``: cycles this
    member waited in the window, ``elapsed``: cycles since it began."""
    sync = team.sync
    store_release(sync, member * SYNC_STRIDE + 1, waits)
    store_release(sync, member * SYNC_STRIDE + 3, elapsed)
    epoch, waits = _sync(team, member, n_members, epoch, waits)
    waited, passed = 0, 0
    for t in range(n_members):
        waited += load_acquire(sync, t * SYNC_STRIDE + 1)
        passed += load_acquire(sync, t * SYNC_STRIDE + 3)
    epoch, waits = _sync(team, member, n_members, epoch, waits)  # all have read before anyone writes again
    if passed < SOLO_WINDOW_CYCLES * n_members:
        return WINDOW_OPEN, epoch
    return (WINDOW_WAITED if waited > SOLO_WAITING * passed else WINDOW_QUIET), epoch


@njit(**ENTRY, _nrt=False)
def train_rows(state, lay, cfg, team, rows_scratch, X, T, rows, samples_before, key_seed, member, n_members):
    """Member ``member`` of the team: train on rows in order together with the others;
    its working arrays are row ``member`` of ``rows_scratch`` (scratches()).

    Sample k has the global index samples_before + k for its dropout masks and the
    schedules (rate annealing, momentum ramp): exactly as on one thread. Nothing is
    allocated here: a member that failed to would leave the others at a barrier."""
    s = _member_scratch(rows_scratch, member)
    # int64 zeros, not literals: a literal 0 compiled forward_part, _sync and the barrier
    # a second time, for Literal[int](0) (numba 0.68; docs/kernels.md, "Compiling")
    epoch, waits, since, strikes = ZERO_I, ZERO_I, cycles(), 0
    for k in range(len(rows)):
        if k == SOLO_WARMUP:
            waits, since = ZERO_I, cycles()
        if n_members > 1 and k > 0 and k % SOLO_CHECK_EVERY == 0:
            verdict, epoch = _window_verdict(team, member, n_members, epoch, waits, cycles() - since)
            if verdict != WINDOW_OPEN:
                waits, since = ZERO_I, cycles()
                strikes = strikes + 1 if verdict == WINDOW_WAITED else 0
            if strikes == SOLO_STRIKES:
                if member > 0:
                    return
                store_release(team.sync, SOLO_AT, k)
                n_members = 1
        row = rows[k]
        A = s.a if n_members == 1 else team.a[k & 1]  # two samples' activations, see team_buffers
        gidx = samples_before + k
        prepare_sample(cfg, lay, team.split, s, X, row, gidx, key_seed, member, n_members)
        epoch, waits = forward_part(state, lay, cfg, s, A, team, member, n_members, epoch, waits)
        if cfg.sparse:
            track_activation(state, lay, team.split, A, member, n_members)
        epoch, waits = backward_part(
            state, lay, cfg, s, A, team, X, T, row, float(gidx), member, n_members, epoch, waits
        )


# ---------------------------------------------------------------- mini-batch (loop engine)


@njit(**JIT)
def accumulate_sample(state, lay, cfg, s, X, T, row, G):
    """Add one sample's data gradient to G.GW/G.GB (weights unchanged) and count, per
    row, the samples in which its unit was not dropped."""
    units, mult, a_off = lay.units, lay.mult, lay.a_off
    a, d, e, hscale = s.a, s.d, s.e, s.hscale
    GW, GB, active = G.GW, G.GB, G.active
    n_layers = len(units) - 1
    output_delta(cfg, a, a_off[n_layers], units[n_layers], 0, units[n_layers], s.win, T[row], X, row, d)
    for l in range(n_layers - 1, -1, -1):
        n_in = units[l]
        m = mult[l]
        ai = a_off[l]
        ao = a_off[l + 1]
        hidden = l < n_layers - 1
        propagate = l > 0
        if propagate:
            _zero(e, 0, n_in)
        for r in range(m * units[l + 1]):
            if hidden and hscale[ao + r // m] == ZERO:
                continue
            bk = lay.b_off[l] + r
            active[bk] += 1
            g = d[r]
            if g == ZERO:
                continue
            o = lay.w_off[l] + r * n_in
            GB[bk] += g
            _axpy(GW, o, g, a, ai, n_in)
            if propagate:
                _axpy(e, 0, g, state.W, o, n_in)
        if propagate:
            hidden_delta(cfg.activation, s, a, ai, 0, n_in, mult[l - 1])


@njit(**JIT)
def apply_batch(state, lay, cfg, s, n, nb, G):
    """One update from the gradient averaged over nb samples; clears G."""
    units, mult = lay.units, lay.mult
    GW, GB, active, upd, rstep = G.GW, G.GB, G.active, s.upd, s.rstep
    inv = np.float32(1.0 / nb)
    rate_t, mom64 = schedule(cfg, n)
    n_layers = len(units) - 1
    for l in range(n_layers - 1, -1, -1):
        n_in = units[l]
        m = mult[l]
        hidden = l < n_layers - 1
        u = row_update(cfg, np.float32(rate_t * cfg.rate_decay**l), np.float32(mom64), n)
        n_rows = m * units[l + 1]
        for r in range(n_rows):
            bk = lay.b_off[l] + r
            o = lay.w_off[l] + r * n_in
            upd[r] = False
            if active[bk] == 0:
                continue  # dropped in every sample of the batch
            active[bk] = 0
            if GB[bk] == ZERO and u.keep_zero:
                _zero(GW, o, n_in)
                continue
            upd[r] = True
            update_row(state.W, state.EgW, state.EdW, state.MW, o, GW, o, n_in, inv, u)
            _zero(GW, o, n_in)
        update_biases(state, lay.b_off[l], GB, lay.b_off[l], inv, upd, n_rows, u, rstep)
        if cfg.sparse and hidden:
            sparsity_pull(state, cfg, lay.b_off[l], lay.a_off[l + 1] - units[0], m, upd, n_rows, rstep)
        _zero(GB, lay.b_off[l], n_rows)


# ---------------------------------------------------------------- one thread's rows (mini-batch, loop engine)


@njit(**ENTRY)
def train_block(state, lay, cfg, X, T, rows, start, stop, samples_before, n_threads, key_seed):
    """Train on rows[start:stop] in mini-batches, updating the shared state in place
    (HOGWILD!: other threads update it at the same time without locks).

    Sample k's dropout masks use its global index samples_before + k; the schedules
    (rate annealing, momentum ramp) use samples_before + n_threads * (k - start), an
    estimate of the samples processed by all threads so far.
    """
    s = scratch(lay)
    whole = split_units(lay, ONE_I)
    batch = cfg.mini_batch_size
    G = Grad(
        np.zeros(len(state.W), dtype=np.float32),
        np.zeros(len(state.B), dtype=np.float32),
        np.zeros(len(state.B), dtype=np.int64),
    )
    for k0 in range(start, stop, batch):
        k1 = min(k0 + batch, stop)
        for k in range(k0, k1):
            row = rows[k]
            prepare_sample(cfg, lay, whole, s, X, row, samples_before + k, key_seed, ZERO_I, ONE_I)
            forward(state, lay, cfg.activation, cfg.output, s)
            if cfg.sparse:
                track_activation(state, lay, whole, s.a, ZERO_I, ONE_I)
            accumulate_sample(state, lay, cfg, s, X, T, row, G)
        n = float(samples_before + n_threads * (k0 - start))
        apply_batch(state, lay, cfg, s, n, k1 - k0, G)


# ---------------------------------------------------------------- inference


@njit(**JIT)
def _inference_scratch(lay, cfg):
    """Scratch whose hidden scales are the keep probabilities (1 - dropout ratio)."""
    s = scratch(lay)
    for h in range(len(lay.units) - 2):
        for j in range(lay.units[h + 1]):
            s.hscale[lay.a_off[h + 1] + j] = np.float32(1.0 - cfg.hidden_dropout_ratios[h])
    return s


@njit(**ENTRY)
def infer(state, lay, cfg, X, layer, result, lo, hi):
    """Inference-mode activations of layer ``layer`` (1..n_layers) of rows lo..hi-1 of X into
    the same rows of ``result`` (float64, (n, units[layer])); hogwild.in_blocks runs blocks of
    rows on threads. Hidden layers are scaled by (1 - dropout ratio); no input dropout."""
    units = lay.units
    width = units[layer]
    # Truncated nets stop at `layer`; a hidden layer reached as the last one keeps
    # its activation (out=-1 marks "no output layer").
    sub = Layout(units[: layer + 1], lay.mult[:layer], lay.w_off, lay.b_off, lay.a_off)
    sub_out = cfg.output if layer == len(units) - 1 else -1
    s = _inference_scratch(lay, cfg)
    a = s.a
    ao = lay.a_off[layer]
    for row in range(lo, hi):
        for i in range(units[0]):
            a[i] = X[row, i]
        forward(state, sub, cfg.activation, sub_out, s)
        for j in range(width):
            result[row, j] = a[ao + j]


@njit(**ENTRY)
def infer_loss(state, lay, cfg, X, T, result, lo, hi):
    """Per-row loss in inference mode (float64) of rows lo..hi-1 into result[lo:hi]."""
    units = lay.units
    n_layers = len(units) - 1
    s = _inference_scratch(lay, cfg)
    a = s.a
    for row in range(lo, hi):
        for i in range(units[0]):
            a[i] = X[row, i]
        forward(state, lay, cfg.activation, cfg.output, s)
        result[row] = row_loss_value(cfg, a, lay.a_off[n_layers], units[n_layers], T[row], X, row)
