"""Numba kernels: forward pass, output delta, per-sample backprop with immediate updates,
mini-batch accumulation, and the HOGWILD! driver.

All arithmetic on weights is float32; every literal used inside a loop is a float32
module constant, because a float64 literal would silently promote the loop to float64
and halve the SIMD width. Configuration arrives as two small arrays (``ip`` ints,
``fp`` floats, layouts below) so that every call has the same argument types and the
kernels compile once.
"""

import math

import numpy as np
from numba import njit, prange

from .rng import hidden_mask_key, layer_key, unit_uniform

# fastmath without 'nnan'/'ninf': max_w2 defaults to +inf and must compare correctly.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
JIT = {"cache": True, "error_model": "numpy", "fastmath": FASTMATH}

# activation / output / loss / optimizer codes
TANH, RECTIFIER, MAXOUT = 0, 1, 2
SOFTMAX, LINEAR, AUTOENCODER = 0, 1, 2
CROSSENTROPY, QUADRATIC, HUBER, ABSOLUTE, QUANTILE = 0, 1, 2, 3, 4
ADADELTA, SGD, MOMENTUM, NESTEROV = 0, 1, 2, 3

# ip layout
I_ACT, I_OUT, I_LOSS, I_OPT, I_FAST, I_BATCH, I_MAXW2, I_SPARSE, I_SHARED_MASKS = range(9)
N_IP = 9
# fp layout
(
    F_HUBER,
    F_QALPHA,
    F_INDROP,
    F_L1,
    F_L2,
    F_MAXW2,
    F_RHO,
    F_EPS,
    F_RATE,
    F_ANNEAL,
    F_DECAY,
    F_MSTART,
    F_MRAMP,
    F_MSTABLE,
    F_BETA,
    F_AVGACT,
) = range(16)
N_FP = 16

ZERO = np.float32(0.0)
ONE = np.float32(1.0)
TWO = np.float32(2.0)
AVG_KEEP = np.float32(0.999)
AVG_NEW = np.float32(0.001)
P_MIN = 1e-15


# ---------------------------------------------------------------- small helpers


@njit(**JIT)
def _sign(w):
    return ONE if w > ZERO else (-ONE if w < ZERO else ZERO)


@njit(**JIT)
def _dot(W, o, a, ai, n):
    w = W[o : o + n]
    x = a[ai : ai + n]
    s = ZERO
    for i in range(n):
        s += w[i] * x[i]
    return s


@njit(**JIT)
def _axpy(y, yi, alpha, x, xi, n):
    yv = y[yi : yi + n]
    xv = x[xi : xi + n]
    for i in range(n):
        yv[i] += alpha * xv[i]


@njit(**JIT)
def _activate(act, z):
    if act == TANH:
        return np.tanh(z)
    return max(ZERO, z)


# ---------------------------------------------------------------- forward


@njit(**JIT)
def forward(W, B, units, mult, w_off, b_off, act, out, a, a_off, win, hscale, part, n_parts):
    """Forward pass of one row whose input is already in ``a[0:units[0]]``.

    ``hscale[a_off[l]+j]`` multiplies hidden unit j of layer l: the 0/1 dropout mask in
    training, (1 - ratio) at inference. A unit with scale 0 is not computed (a = 0 and
    its Maxout winner is left as is; it is never read for a dropped unit).
    ``out = -1`` treats the last layer as hidden (inference of a hidden layer).
    Units are visited starting at fraction part/n_parts of each layer (see train_block).
    """
    n_layers = len(units) - 1
    for l in range(n_layers):
        n_in = units[l]
        n_out = units[l + 1]
        m = mult[l]
        ai = a_off[l]
        ao = a_off[l + 1]
        wo = w_off[l]
        bo = b_off[l]
        last = l == n_layers - 1 and out >= 0  # out = -1: a truncated net ending in a hidden layer
        if last and out != AUTOENCODER:
            for j in range(n_out):
                a[ao + j] = _dot(W, wo + j * n_in, a, ai, n_in) + B[bo + j]
            if out == SOFTMAX:
                mx = a[ao]
                for j in range(1, n_out):
                    mx = max(mx, a[ao + j])
                tot = 0.0
                for j in range(n_out):
                    tot += math.exp(float(a[ao + j] - mx))
                for j in range(n_out):
                    a[ao + j] = np.float32(math.exp(float(a[ao + j] - mx)) / tot)
            continue
        first = (n_out * part) // n_parts
        for jj in range(n_out):
            j = jj + first
            if j >= n_out:
                j -= n_out
            s = ONE if last else hscale[ao + j]
            if s == ZERO:
                a[ao + j] = ZERO
                continue
            if m == 1:
                z = _dot(W, wo + j * n_in, a, ai, n_in) + B[bo + j]
                a[ao + j] = _activate(act, z) * s
            else:
                r = 2 * j
                z0 = _dot(W, wo + r * n_in, a, ai, n_in) + B[bo + r]
                z1 = _dot(W, wo + (r + 1) * n_in, a, ai, n_in) + B[bo + r + 1]
                if z1 > z0:  # ties go to channel 0
                    win[ao + j] = 1
                    a[ao + j] = z1 * s
                else:
                    win[ao + j] = 0
                    a[ao + j] = z0 * s


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


@njit(**JIT)
def output_delta(a, a_off, units, win, act, out, loss, t, x, xr, huber_delta, alpha, d):
    """d[r] = dE/dz for each row r of the output layer, for target t (class index or value)
    or, for the autoencoder, the un-dropped input row ``x[xr]``."""
    n_layers = len(units) - 1
    ao = a_off[n_layers]
    k_out = units[n_layers]
    if out == SOFTMAX:
        y = int(t)
        if loss == CROSSENTROPY:
            for k in range(k_out):
                d[k] = a[ao + k] - (ONE if k == y else ZERO)
        else:  # Quadratic through the full softmax Jacobian: d_i = p_i (q_i - sum_k q_k p_k)
            qp = ZERO
            for k in range(k_out):
                q = TWO * (a[ao + k] - (ONE if k == y else ZERO))
                qp += q * a[ao + k]
            for k in range(k_out):
                q = TWO * (a[ao + k] - (ONE if k == y else ZERO))
                d[k] = a[ao + k] * (q - qp)
    elif out == LINEAR:
        d[0] = _dloss(loss, a[ao], t, huber_delta, alpha)
    else:
        for k in range(k_out):
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
def row_loss_value(a, a_off, units, out, loss, t, x, xr, huber_delta, alpha):
    n_layers = len(units) - 1
    ao = a_off[n_layers]
    k_out = units[n_layers]
    if out == SOFTMAX:
        p = float(a[ao + int(t)])
        if loss == CROSSENTROPY:
            return -math.log(max(P_MIN, p))
        tot = 0.0
        for k in range(k_out):
            r = float(a[ao + k]) - (1.0 if k == int(t) else 0.0)
            tot += r * r
        return tot
    if out == LINEAR:
        return _loss_value(loss, a[ao], t, huber_delta, alpha)
    tot = 0.0
    for k in range(k_out):
        tot += _loss_value(loss, a[ao + k], x[xr, k], huber_delta, alpha)
    return tot


@njit(**JIT)
def hidden_delta(act, e, a, ao, win, hscale, n, m, d):
    """Row deltas of a hidden layer from the error e arriving at its n units."""
    for j in range(n):
        if hscale[ao + j] == ZERO:  # dropped: no gradient flows through it
            for c in range(m):
                d[j * m + c] = ZERO
            continue
        ej = e[j]
        aj = a[ao + j]
        if act == TANH:
            d[j] = ej * (ONE - aj * aj)
        elif act == RECTIFIER:
            d[j] = ej if aj > ZERO else ZERO
        else:
            w = win[ao + j]
            d[2 * j + w] = ej
            d[2 * j + 1 - w] = ZERO


# ---------------------------------------------------------------- updates of one weight row
#
# Data gradient of weight i is g * x[xi + i]: per sample x is the previous layer's
# activation and g the row delta; in a mini-batch x is the accumulated gradient and g
# 1/batch. ``keep_zero`` (fast_mode) leaves weights with x == 0 completely untouched.
# The loops compute every lane and blend, so they vectorize.


@njit(**JIT)
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


@njit(**JIT)
def _row_sgd(W, o, x, xi, n, g, l1, l2, lr, keep_zero):
    Wr, xr = W[o : o + n], x[xi : xi + n]
    for i in range(n):
        xv = xr[i]
        w = Wr[i]
        grad = g * xv + l1 * _sign(w) + l2 * w
        skip = keep_zero and xv == ZERO
        Wr[i] = w if skip else w - lr * grad


@njit(**JIT)
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


@njit(**JIT)
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


@njit(**JIT)
def _max_w2(W, o, n, max_w2):
    Wr = W[o : o + n]
    s = ZERO
    for i in range(n):
        s += Wr[i] * Wr[i]
    if s > max_w2:
        f = np.sqrt(max_w2 / s)
        for i in range(n):
            Wr[i] *= f


@njit(**JIT)
def update_row(
    W,
    EgW,
    EdW,
    MW,
    o,
    x,
    xi,
    n,
    g,
    opt,
    l1,
    l2,
    rho,
    eps,
    lr,
    mom,
    keep_zero,
    has_max_w2,
    max_w2,
):
    """Update one weight row (a unit, or one Maxout channel) and apply max_w2 to it."""
    if opt == ADADELTA:
        _row_adadelta(W, EgW, EdW, o, x, xi, n, g, l1, l2, rho, eps, keep_zero)
    elif opt == SGD:
        _row_sgd(W, o, x, xi, n, g, l1, l2, lr, keep_zero)
    elif opt == MOMENTUM:
        _row_momentum(W, MW, o, x, xi, n, g, l1, l2, lr, mom, keep_zero)
    else:
        _row_nesterov(W, MW, o, x, xi, n, g, l1, l2, lr, mom, keep_zero)
    if has_max_w2:
        _max_w2(W, o, n, max_w2)


@njit(**JIT)
def update_biases(B, EgB, EdB, MB, bo, G, go, scale, upd, n, opt, rho, eps, lr, mom, rstep):
    """Update the n biases B[bo:bo+n] whose upd flag is set, with gradient G[go+r]*scale
    (biases are not regularized). rstep[r] receives the step size used (sparsity term).
    One vectorized pass per layer: a bias never influences the weight updates."""
    Bv = B[bo : bo + n]
    Gv = G[go : go + n]
    if opt == ADADELTA:
        one_m_rho = ONE - rho
        Eg = EgB[bo : bo + n]
        Ed = EdB[bo : bo + n]
        for r in range(n):
            gb = Gv[r] * scale
            eg0 = Eg[r]
            ed0 = Ed[r]
            eg = rho * eg0 + one_m_rho * gb * gb
            rate = np.sqrt((ed0 + eps) / (eg + eps))
            step = rate * gb
            ed = rho * ed0 + one_m_rho * step * step
            u = upd[r]
            Bv[r] = Bv[r] - step if u else Bv[r]
            Eg[r] = eg if u else eg0
            Ed[r] = ed if u else ed0
            rstep[r] = rate
    elif opt == SGD:
        for r in range(n):
            Bv[r] = Bv[r] - lr * (Gv[r] * scale) if upd[r] else Bv[r]
            rstep[r] = lr
    elif opt == MOMENTUM:
        M = MB[bo : bo + n]
        for r in range(n):
            step = -lr * (Gv[r] * scale)
            v = M[r]
            u = upd[r]
            Bv[r] = Bv[r] + step + mom * v if u else Bv[r]
            M[r] = step if u else v
            rstep[r] = lr
    else:
        M = MB[bo : bo + n]
        for r in range(n):
            v0 = M[r]
            v = mom * v0 - Gv[r] * scale
            u = upd[r]
            Bv[r] = Bv[r] + lr * v if u else Bv[r]
            M[r] = v if u else v0
            rstep[r] = lr


@njit(**JIT)
def sparsity_pull(B, bo, AVG, avg_o, m, upd, n, rstep, beta, target):
    """Sparse autoencoder: after the bias update, b -= step * beta * (mean activation - target)."""
    for r in range(n):
        if upd[r]:
            B[bo + r] -= rstep[r] * beta * (AVG[avg_o + r // m] - target)


# ---------------------------------------------------------------- one training sample


@njit(**JIT)
def _schedule(fp, opt, n):
    """(rate_t, momentum) after n samples; the manual rate is not used by ADADELTA."""
    rate_t = fp[F_RATE] / (1.0 + fp[F_ANNEAL] * n)
    mom = 0.0
    if opt == MOMENTUM or opt == NESTEROV:
        if n < fp[F_MRAMP]:
            mom = fp[F_MSTART] + (fp[F_MSTABLE] - fp[F_MSTART]) * n / fp[F_MRAMP]
        else:
            mom = fp[F_MSTABLE]
        rate_t *= 1.0 - mom  # H2O's effective step size rate * (1 - momentum)
    return rate_t, mom


@njit(**JIT)
def prepare_sample(X, row, gidx, units, a, a_off, hscale, in_drop, hdrop, key_seed, shared_masks):
    """Copy the input row into a (with input dropout) and draw the hidden dropout masks
    (one key for all hidden layers when shared_masks, see rng.hidden_mask_key)."""
    n0 = units[0]
    if in_drop > 0.0:
        key = layer_key(key_seed, gidx, 0)
        p = np.float32(in_drop)
        for i in range(n0):
            a[i] = ZERO if unit_uniform(key, i) < p else X[row, i]
    else:
        for i in range(n0):
            a[i] = X[row, i]
    for h in range(len(units) - 2):
        ao = a_off[h + 1]
        p = np.float32(hdrop[h])
        if p > ZERO:
            key = hidden_mask_key(key_seed, gidx, h, shared_masks)
            for j in range(units[h + 1]):
                hscale[ao + j] = ZERO if unit_uniform(key, j) < p else ONE
        else:
            for j in range(units[h + 1]):
                hscale[ao + j] = ONE


@njit(**JIT)
def _track_activation(avg, a, a_off, units):
    """Sparse autoencoder running mean of each hidden unit's activation."""
    n0 = units[0]
    for i in range(a_off[1], a_off[len(units) - 1]):
        avg[i - n0] = AVG_KEEP * avg[i - n0] + AVG_NEW * a[i]


@njit(**JIT)
def train_sample(
    W,
    B,
    EgW,
    EdW,
    EgB,
    EdB,
    MW,
    MB,
    AVG,
    units,
    mult,
    w_off,
    b_off,
    ip,
    fp,
    X,
    T,
    row,
    n,
    a,
    a_off,
    win,
    hscale,
    d,
    e,
    upd,
    rstep,
    part,
    n_parts,
):
    """Backprop of one sample (forward already done) with immediate per-unit updates:
    output layer first, then hidden layers backwards; the error sent to the previous
    layer uses each weight before its update."""
    act = ip[I_ACT]
    opt = ip[I_OPT]
    keep_zero = ip[I_FAST] != 0
    has_max_w2 = ip[I_MAXW2] != 0
    sparse = ip[I_SPARSE] != 0
    l1 = np.float32(fp[F_L1])
    l2 = np.float32(fp[F_L2])
    rho = np.float32(fp[F_RHO])
    eps = np.float32(fp[F_EPS])
    max_w2 = np.float32(fp[F_MAXW2])
    beta = np.float32(fp[F_BETA])
    target_act = np.float32(fp[F_AVGACT])
    rate_t, mom64 = _schedule(fp, opt, n)
    mom = np.float32(mom64)
    output_delta(
        a,
        a_off,
        units,
        win,
        act,
        ip[I_OUT],
        ip[I_LOSS],
        T[row],
        X,
        row,
        np.float32(fp[F_HUBER]),
        np.float32(fp[F_QALPHA]),
        d,
    )
    n_layers = len(units) - 1
    n0 = units[0]
    for l in range(n_layers - 1, -1, -1):
        n_in = units[l]
        m = mult[l]
        ai = a_off[l]
        ao = a_off[l + 1]
        hidden = l < n_layers - 1
        propagate = l > 0
        if propagate:
            for i in range(n_in):
                e[i] = ZERO
        lr = np.float32(rate_t * fp[F_DECAY] ** l)
        n_rows = m * units[l + 1]
        first = (units[l + 1] * part) // n_parts * m
        for rr in range(n_rows):
            r = rr + first
            if r >= n_rows:
                r -= n_rows
            g = d[r]
            upd[r] = False
            if hidden and hscale[ao + r // m] == ZERO:
                continue  # dropped units get no update
            if g == ZERO and keep_zero:
                continue
            upd[r] = True
            o = w_off[l] + r * n_in
            if propagate and g != ZERO:
                _axpy(e, 0, g, W, o, n_in)
            update_row(
                W,
                EgW,
                EdW,
                MW,
                o,
                a,
                ai,
                n_in,
                g,
                opt,
                l1,
                l2,
                rho,
                eps,
                lr,
                mom,
                keep_zero,
                has_max_w2,
                max_w2,
            )
        update_biases(
            B,
            EgB,
            EdB,
            MB,
            b_off[l],
            d,
            0,
            ONE,
            upd,
            n_rows,
            opt,
            rho,
            eps,
            lr,
            mom,
            rstep,
        )
        if sparse and hidden:
            sparsity_pull(B, b_off[l], AVG, ao - n0, m, upd, n_rows, rstep, beta, target_act)
        if propagate:
            hidden_delta(act, e, a, ai, win, hscale, n_in, mult[l - 1], d)


# ---------------------------------------------------------------- mini-batch


@njit(**JIT)
def accumulate_sample(
    W,
    units,
    mult,
    w_off,
    b_off,
    ip,
    fp,
    X,
    T,
    row,
    a,
    a_off,
    win,
    hscale,
    d,
    e,
    GW,
    GB,
    active,
):
    """Add one sample's data gradient to GW/GB (weights unchanged) and count, per row,
    the samples in which its unit was not dropped."""
    act = ip[I_ACT]
    output_delta(
        a,
        a_off,
        units,
        win,
        act,
        ip[I_OUT],
        ip[I_LOSS],
        T[row],
        X,
        row,
        np.float32(fp[F_HUBER]),
        np.float32(fp[F_QALPHA]),
        d,
    )
    n_layers = len(units) - 1
    for l in range(n_layers - 1, -1, -1):
        n_in = units[l]
        m = mult[l]
        ai = a_off[l]
        ao = a_off[l + 1]
        hidden = l < n_layers - 1
        propagate = l > 0
        if propagate:
            for i in range(n_in):
                e[i] = ZERO
        for r in range(m * units[l + 1]):
            if hidden and hscale[ao + r // m] == ZERO:
                continue
            bk = b_off[l] + r
            active[bk] += 1
            g = d[r]
            if g == ZERO:
                continue
            o = w_off[l] + r * n_in
            GB[bk] += g
            _axpy(GW, o, g, a, ai, n_in)
            if propagate:
                _axpy(e, 0, g, W, o, n_in)
        if propagate:
            hidden_delta(act, e, a, ai, win, hscale, n_in, mult[l - 1], d)


@njit(**JIT)
def apply_batch(
    W,
    B,
    EgW,
    EdW,
    EgB,
    EdB,
    MW,
    MB,
    AVG,
    units,
    mult,
    w_off,
    b_off,
    a_off,
    ip,
    fp,
    n,
    nb,
    GW,
    GB,
    active,
    upd,
    rstep,
):
    """One update from the gradient averaged over nb samples; clears GW, GB and active."""
    opt = ip[I_OPT]
    keep_zero = ip[I_FAST] != 0
    has_max_w2 = ip[I_MAXW2] != 0
    sparse = ip[I_SPARSE] != 0
    l1 = np.float32(fp[F_L1])
    l2 = np.float32(fp[F_L2])
    rho = np.float32(fp[F_RHO])
    eps = np.float32(fp[F_EPS])
    max_w2 = np.float32(fp[F_MAXW2])
    beta = np.float32(fp[F_BETA])
    target_act = np.float32(fp[F_AVGACT])
    inv = np.float32(1.0 / nb)
    rate_t, mom64 = _schedule(fp, opt, n)
    mom = np.float32(mom64)
    n_layers = len(units) - 1
    for l in range(n_layers - 1, -1, -1):
        n_in = units[l]
        m = mult[l]
        hidden = l < n_layers - 1
        lr = np.float32(rate_t * fp[F_DECAY] ** l)
        n_rows = m * units[l + 1]
        for r in range(n_rows):
            bk = b_off[l] + r
            o = w_off[l] + r * n_in
            upd[r] = False
            if active[bk] == 0:
                continue  # dropped in every sample of the batch
            active[bk] = 0
            if GB[bk] == ZERO and keep_zero:
                _zero(GW, o, n_in)
                continue
            upd[r] = True
            update_row(
                W,
                EgW,
                EdW,
                MW,
                o,
                GW,
                o,
                n_in,
                inv,
                opt,
                l1,
                l2,
                rho,
                eps,
                lr,
                mom,
                keep_zero,
                has_max_w2,
                max_w2,
            )
            _zero(GW, o, n_in)
        update_biases(
            B,
            EgB,
            EdB,
            MB,
            b_off[l],
            GB,
            b_off[l],
            inv,
            upd,
            n_rows,
            opt,
            rho,
            eps,
            lr,
            mom,
            rstep,
        )
        if sparse and hidden:
            sparsity_pull(
                B,
                b_off[l],
                AVG,
                a_off[l + 1] - units[0],
                m,
                upd,
                n_rows,
                rstep,
                beta,
                target_act,
            )
        _zero(GB, b_off[l], n_rows)


@njit(**JIT)
def _zero(x, o, n):
    xv = x[o : o + n]
    for i in range(n):
        xv[i] = ZERO


# ---------------------------------------------------------------- drivers


@njit(**JIT)
def _scratch(units, mult):
    n_total = 0
    max_rows = 0
    for l in range(len(units)):
        n_total += units[l]
    for l in range(len(units) - 1):
        max_rows = max(max_rows, mult[l] * units[l + 1])
    a_off = np.zeros(len(units) + 1, dtype=np.int64)
    for l in range(len(units)):
        a_off[l + 1] = a_off[l] + units[l]
    a = np.zeros(n_total, dtype=np.float32)
    win = np.zeros(n_total, dtype=np.int64)
    hscale = np.ones(n_total, dtype=np.float32)
    d = np.zeros(max_rows, dtype=np.float32)
    e = np.zeros(n_total, dtype=np.float32)
    upd = np.zeros(max_rows, dtype=np.bool_)
    rstep = np.zeros(max_rows, dtype=np.float32)
    return a_off, a, win, hscale, d, e, upd, rstep


@njit(**JIT)
def train_block(
    W,
    B,
    EgW,
    EdW,
    EgB,
    EdB,
    MW,
    MB,
    AVG,
    units,
    mult,
    w_off,
    b_off,
    ip,
    fp,
    hdrop,
    X,
    T,
    rows,
    start,
    stop,
    samples_before,
    n_threads,
    key_seed,
    part,
):
    """Train on rows[start:stop] in order, updating the shared state in place.

    Sample k's dropout masks use its global index samples_before + k; the schedules
    (rate annealing, momentum ramp) use samples_before + n_threads * (k - start), an
    estimate of the samples processed by all threads so far.

    Thread ``part`` visits the units of every layer starting at fraction part/n_threads
    (the order of units within a layer does not change the result). Without this all
    threads walk the same rows in lock-step and fight over the same cache lines; with
    Tanh (every unit updated every sample) that made 2 threads 3x slower than one.
    """
    a_off, a, win, hscale, d, e, upd, rstep = _scratch(units, mult)
    act = ip[I_ACT]
    out = ip[I_OUT]
    sparse = ip[I_SPARSE] != 0
    batch = ip[I_BATCH]
    in_drop = fp[F_INDROP]
    shared_masks = ip[I_SHARED_MASKS] != 0
    if batch <= 1:
        for k in range(start, stop):
            row = rows[k]
            prepare_sample(
                X,
                row,
                samples_before + k,
                units,
                a,
                a_off,
                hscale,
                in_drop,
                hdrop,
                key_seed,
                shared_masks,
            )
            forward(
                W,
                B,
                units,
                mult,
                w_off,
                b_off,
                act,
                out,
                a,
                a_off,
                win,
                hscale,
                part,
                n_threads,
            )
            if sparse:
                _track_activation(AVG, a, a_off, units)
            n = float(samples_before + n_threads * (k - start))
            train_sample(
                W,
                B,
                EgW,
                EdW,
                EgB,
                EdB,
                MW,
                MB,
                AVG,
                units,
                mult,
                w_off,
                b_off,
                ip,
                fp,
                X,
                T,
                row,
                n,
                a,
                a_off,
                win,
                hscale,
                d,
                e,
                upd,
                rstep,
                part,
                n_threads,
            )
        return
    GW = np.zeros(len(W), dtype=np.float32)
    GB = np.zeros(len(B), dtype=np.float32)
    active = np.zeros(len(B), dtype=np.int64)
    for k0 in range(start, stop, batch):
        k1 = min(k0 + batch, stop)
        for k in range(k0, k1):
            row = rows[k]
            prepare_sample(
                X,
                row,
                samples_before + k,
                units,
                a,
                a_off,
                hscale,
                in_drop,
                hdrop,
                key_seed,
                shared_masks,
            )
            forward(
                W,
                B,
                units,
                mult,
                w_off,
                b_off,
                act,
                out,
                a,
                a_off,
                win,
                hscale,
                part,
                n_threads,
            )
            if sparse:
                _track_activation(AVG, a, a_off, units)
            accumulate_sample(
                W,
                units,
                mult,
                w_off,
                b_off,
                ip,
                fp,
                X,
                T,
                row,
                a,
                a_off,
                win,
                hscale,
                d,
                e,
                GW,
                GB,
                active,
            )
        n = float(samples_before + n_threads * (k0 - start))
        apply_batch(
            W,
            B,
            EgW,
            EdW,
            EgB,
            EdB,
            MW,
            MB,
            AVG,
            units,
            mult,
            w_off,
            b_off,
            a_off,
            ip,
            fp,
            n,
            k1 - k0,
            GW,
            GB,
            active,
            upd,
            rstep,
        )


@njit(parallel=True, **JIT)
def train_hogwild(
    W,
    B,
    EgW,
    EdW,
    EgB,
    EdB,
    MW,
    MB,
    AVG,
    units,
    mult,
    w_off,
    b_off,
    ip,
    fp,
    hdrop,
    X,
    T,
    rows,
    samples_before,
    n_threads,
    key_seed,
):
    """HOGWILD!: n_threads contiguous blocks of rows, trained concurrently without locks."""
    n_rows = len(rows)
    for t in prange(n_threads):
        start = (n_rows * t) // n_threads
        stop = (n_rows * (t + 1)) // n_threads
        train_block(
            W,
            B,
            EgW,
            EdW,
            EgB,
            EdB,
            MW,
            MB,
            AVG,
            units,
            mult,
            w_off,
            b_off,
            ip,
            fp,
            hdrop,
            X,
            T,
            rows,
            start,
            stop,
            samples_before,
            n_threads,
            key_seed,
            t,
        )


@njit(parallel=True, **JIT)
def infer(W, B, units, mult, w_off, b_off, act, out, hdrop, X, layer, n_blocks):
    """Inference-mode activations of layer ``layer`` (1..n_layers) for every row, float64.
    Hidden layers are scaled by (1 - dropout ratio); no input dropout."""
    n_rows = X.shape[0]
    width = units[layer]
    result = np.empty((n_rows, width), dtype=np.float64)
    sub_units = units[: layer + 1]
    sub_mult = mult[:layer]
    for blk in prange(n_blocks):
        a_off, a, win, hscale, _d, _e, _upd, _rstep = _scratch(units, mult)
        for h in range(len(units) - 2):
            for j in range(units[h + 1]):
                hscale[a_off[h + 1] + j] = np.float32(1.0 - hdrop[h])
        # Truncated nets stop at `layer`; a hidden layer reached as the last one keeps
        # its activation (out=-1 marks "no output layer").
        sub_out = out if layer == len(units) - 1 else -1
        lo = (n_rows * blk) // n_blocks
        hi = (n_rows * (blk + 1)) // n_blocks
        for row in range(lo, hi):
            for i in range(units[0]):
                a[i] = X[row, i]
            forward(
                W,
                B,
                sub_units,
                sub_mult,
                w_off,
                b_off,
                act,
                sub_out,
                a,
                a_off,
                win,
                hscale,
                0,
                1,
            )
            ao = a_off[layer]
            for j in range(width):
                result[row, j] = a[ao + j]
    return result


@njit(parallel=True, **JIT)
def infer_loss(W, B, units, mult, w_off, b_off, ip, fp, hdrop, X, T, n_blocks):
    """Per-row loss in inference mode (float64)."""
    n_rows = X.shape[0]
    result = np.empty(n_rows, dtype=np.float64)
    for blk in prange(n_blocks):
        a_off, a, win, hscale, _d, _e, _upd, _rstep = _scratch(units, mult)
        for h in range(len(units) - 2):
            for j in range(units[h + 1]):
                hscale[a_off[h + 1] + j] = np.float32(1.0 - hdrop[h])
        lo = (n_rows * blk) // n_blocks
        hi = (n_rows * (blk + 1)) // n_blocks
        for row in range(lo, hi):
            for i in range(units[0]):
                a[i] = X[row, i]
            forward(
                W,
                B,
                units,
                mult,
                w_off,
                b_off,
                ip[I_ACT],
                ip[I_OUT],
                a,
                a_off,
                win,
                hscale,
                0,
                1,
            )
            result[row] = row_loss_value(
                a,
                a_off,
                units,
                ip[I_OUT],
                ip[I_LOSS],
                T[row],
                X,
                row,
                fp[F_HUBER],
                fp[F_QALPHA],
            )
    return result
