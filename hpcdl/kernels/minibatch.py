"""Mini-batch HOGWILD! at BLAS speed (mini_batch_size > 1).

Same semantics as the loop engine in ``_core`` (docs/kernels.md, "Mini-batch"): each
thread takes its next B rows, runs all of them forward and backward with the weights
as they are at the start of the batch, and applies **one** update per layer with the
data gradient averaged over the batch plus L1/L2, the same optimizer (ADADELTA, SGD,
momentum, Nesterov, Adam), max_w2, fast_mode skips and sparsity rules. Dropout masks and
schedules are keyed exactly as in the loop engine, so both give the same result up to
float32 summation order inside the matrix products.

What is different is how: a batch is a (B, n) matrix per layer and the three products
per layer (forward ``A W^T``, weight gradient ``D^T A``, back-propagated error ``D W``)
are ``np.dot`` calls on float32 2-D arrays, which Numba lowers to BLAS ``sgemm``
(scipy's OpenBLAS). Several threads each run their own batches against the one shared
buffer without locks, so BLAS itself must run single-threaded inside them: the caller
pins it with ``hpcdl.threads.blas_threads(1)`` (otherwise OpenBLAS starts its own
threads inside every Numba thread and speed drops 4x).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import _core as C
from .rng import hidden_mask_key, layer_key, unit_uniform

JIT = C.JIT
ZERO = C.ZERO
ONE = C.ONE
AVG_KEEP = C.AVG_KEEP
AVG_NEW = C.AVG_NEW


@njit(**JIT)
def _offsets(units):
    """uoff[l] = units[1] + ... + units[l-1]: column of unit 0 of layer l (1..L) in the
    per-sample mask and Maxout-winner arrays."""
    n_layers = len(units) - 1
    uoff = np.zeros(n_layers + 2, dtype=np.int64)
    for l in range(1, n_layers + 1):
        uoff[l + 1] = uoff[l] + units[l]
    return uoff


@njit(**JIT)
def _inputs_and_masks(cfg, lay, X, rows, k0, nb, gidx0, uoff, key_seed, A0, M):
    """A0[b] = input row with input dropout; M[b, uoff[h+1] + j] = keep (1) / drop (0) of
    hidden unit j of hidden layer h; keyed by the global sample index gidx0 + b (and by
    the layer unless shared masks, see rng.hidden_mask_key)."""
    units = lay.units
    n0 = units[0]
    in_drop = cfg.input_dropout_ratio
    p_in = np.float32(in_drop)
    for b in range(nb):
        row = rows[k0 + b]
        gidx = gidx0 + b
        a = A0[b]
        x = X[row]
        if in_drop > 0.0:
            key = layer_key(key_seed, gidx, C.ZERO_I)
            for i in range(n0):
                a[i] = ZERO if unit_uniform(key, i) < p_in else x[i]
        else:
            for i in range(n0):
                a[i] = x[i]
        for h in range(len(units) - 2):
            o = uoff[h + 1]
            n = units[h + 1]
            p = np.float32(cfg.hidden_dropout_ratios[h])
            mrow = M[b, o : o + n]
            if p > ZERO:
                key = hidden_mask_key(key_seed, gidx, h, cfg.shared_masks)
                for j in range(n):
                    mrow[j] = ZERO if unit_uniform(key, j) < p else ONE
            else:
                for j in range(n):
                    mrow[j] = ONE


@njit(**JIT)
def _layer_weights(W, lay, l):
    return W[lay.w_off[l] : lay.w_off[l + 1]].reshape((lay.mult[l] * lay.units[l + 1], lay.units[l]))


@njit(**JIT)
def _forward_batch(state, lay, cfg, A0, M, WIN, uoff):
    """Activations of every layer for the batch (acts[0] = A0), training mode."""
    units, mult = lay.units, lay.mult
    act, out = cfg.activation, cfg.output
    n_layers = len(units) - 1
    nb = A0.shape[0]
    acts = [A0]
    for l in range(n_layers):
        n_out = units[l + 1]
        m = mult[l]
        Z = np.dot(acts[l], _layer_weights(state.W, lay, l).T)
        bl = state.B[lay.b_off[l] : lay.b_off[l + 1]]
        last = l == n_layers - 1
        if last and out != C.AUTOENCODER:
            for b in range(nb):
                z = Z[b]
                for j in range(n_out):
                    z[j] += bl[j]
                if out == C.SOFTMAX:
                    mx = z[0]
                    for j in range(1, n_out):
                        mx = max(mx, z[j])
                    tot = 0.0
                    for j in range(n_out):
                        tot += math.exp(float(z[j] - mx))
                    for j in range(n_out):
                        z[j] = np.float32(math.exp(float(z[j] - mx)) / tot)
            acts.append(Z)
            continue
        o = uoff[l + 1]
        if m == 1:
            for b in range(nb):
                z = Z[b]
                if last:
                    for j in range(n_out):
                        z[j] = C._activate(act, z[j] + bl[j])
                else:
                    keep = M[b, o : o + n_out]
                    for j in range(n_out):
                        z[j] = C._activate(act, z[j] + bl[j]) * keep[j]
            acts.append(Z)
        else:
            A = np.empty((nb, n_out), dtype=np.float32)
            for b in range(nb):
                for j in range(n_out):
                    s = ONE if last else M[b, o + j]
                    z0 = Z[b, 2 * j] + bl[2 * j]
                    z1 = Z[b, 2 * j + 1] + bl[2 * j + 1]
                    if z1 > z0:  # ties go to channel 0
                        WIN[b, o + j] = 1
                        A[b, j] = z1 * s
                    else:
                        WIN[b, o + j] = 0
                        A[b, j] = z0 * s
            acts.append(A)
    return acts


@njit(**JIT)
def _hidden_delta_batch(act, E, A, M, WIN, o, n, m, D):
    """Row deltas D (nb, m*n) of a hidden layer from the error E (nb, n) at its units."""
    nb = E.shape[0]
    for b in range(nb):
        e = E[b]
        a = A[b]
        keep = M[b, o : o + n]
        d = D[b]
        if act == C.TANH:
            for j in range(n):
                d[j] = e[j] * (ONE - a[j] * a[j]) * keep[j]
        elif act == C.RECTIFIER:
            for j in range(n):
                d[j] = e[j] if a[j] > ZERO and keep[j] != ZERO else ZERO
        else:
            for j in range(n):
                w = WIN[b, o + j]
                g = e[j] if keep[j] != ZERO else ZERO
                d[2 * j + w] = g
                d[2 * j + 1 - w] = ZERO


@njit(**JIT)
def _update_layer(state, lay, cfg, l, GW, GB, active, u, inv, upd, rstep, first):
    """One update of weight layer l from the summed gradients GW (n_rows, n_in), GB;
    rows are visited from ``first`` on (wrapping), as in _core.train_sample."""
    n_in = lay.units[l]
    m = lay.mult[l]
    n_rows = m * lay.units[l + 1]
    g = GW.reshape(-1)
    for rr in range(n_rows):
        r = rr + first
        if r >= n_rows:
            r -= n_rows
        upd[r] = False
        if active[r] == 0:
            continue  # dropped in every sample of the batch
        if GB[r] == ZERO and u.keep_zero:
            continue
        upd[r] = True
        C.update_row(state.W, state.EgW, state.EdW, state.MW, lay.w_off[l] + r * n_in, g, r * n_in, n_in, inv, u)
    C.update_biases(state, lay.b_off[l], GB, 0, inv, upd, n_rows, u, rstep)
    if cfg.sparse and l < len(lay.units) - 2:
        C.sparsity_pull(state, cfg, lay.b_off[l], lay.a_off[l + 1] - lay.units[0], m, upd, n_rows, rstep)


@njit(**JIT)
def _kept_rows(M, o, n, m, nb, active):
    """active[r] = samples of the batch in which the unit of row r was kept."""
    for r in range(n * m):
        active[r] = 0
    for b in range(nb):
        keep = M[b, o : o + n]
        for j in range(n):
            kept = 1 if keep[j] != ZERO else 0
            for c in range(m):
                active[j * m + c] += kept


@njit(**JIT)
def train_batch(state, lay, cfg, X, T, rows, k0, nb, gidx0, n, key_seed, part, n_parts, uoff):
    """Forward, backward and one update for rows[k0:k0+nb] (global samples gidx0...)."""
    units, mult = lay.units, lay.mult
    act = cfg.activation
    n_layers = len(units) - 1
    A0 = np.empty((nb, units[0]), dtype=np.float32)
    M = np.ones((nb, max(1, uoff[n_layers + 1])), dtype=np.float32)
    WIN = np.zeros((nb, max(1, uoff[n_layers + 1])), dtype=np.int64)
    _inputs_and_masks(cfg, lay, X, rows, k0, nb, gidx0, uoff, key_seed, A0, M)
    acts = _forward_batch(state, lay, cfg, A0, M, WIN, uoff)
    if cfg.sparse:
        for b in range(nb):
            for l in range(1, n_layers):
                a = acts[l][b]
                o = uoff[l]
                for j in range(units[l]):
                    state.AVG[o + j] = AVG_KEEP * state.AVG[o + j] + AVG_NEW * a[j]
    # output deltas, one sample at a time through the per-sample code
    D = np.empty((nb, mult[n_layers - 1] * units[n_layers]), dtype=np.float32)
    o_out = uoff[n_layers]
    for b in range(nb):
        row = rows[k0 + b]
        C.output_delta(
            cfg, acts[n_layers][b], 0, units[n_layers], 0, units[n_layers], WIN[b, o_out:], T[row], X, row, D[b]
        )
    rate_t, mom64 = C.schedule(cfg, n)
    inv = np.float32(1.0 / nb)
    max_rows = 0
    for l in range(n_layers):
        max_rows = max(max_rows, mult[l] * units[l + 1])
    upd = np.zeros(max_rows, dtype=np.bool_)
    rstep = np.zeros(max_rows, dtype=np.float32)
    GB = np.zeros(max_rows, dtype=np.float32)
    active = np.zeros(max_rows, dtype=np.int64)
    for l in range(n_layers - 1, -1, -1):
        n_in = units[l]
        m = mult[l]
        n_rows = m * units[l + 1]
        A = acts[l]
        GW = np.dot(D.T, A)  # (n_rows, n_in): summed data gradient
        for r in range(n_rows):
            GB[r] = ZERO
        for b in range(nb):
            d = D[b]
            for r in range(n_rows):
                GB[r] += d[r]
        if l < n_layers - 1:
            _kept_rows(M, uoff[l + 1], units[l + 1], m, nb, active)
        else:
            for r in range(n_rows):
                active[r] = nb
        if l > 0:
            E = np.dot(D, _layer_weights(state.W, lay, l))  # error with the pre-update weights
        u = C.row_update(cfg, np.float32(rate_t * cfg.rate_decay**l), np.float32(mom64), n)
        first = (units[l + 1] * part) // n_parts * m
        _update_layer(state, lay, cfg, l, GW, GB, active, u, inv, upd, rstep, first)
        if l > 0:
            Dn = np.empty((nb, mult[l - 1] * n_in), dtype=np.float32)
            _hidden_delta_batch(act, E, acts[l], M, WIN, uoff[l], n_in, mult[l - 1], Dn)
            D = Dn


@njit(**C.ENTRY)
def train_block(state, lay, cfg, X, T, rows, start, stop, samples_before, n_threads, key_seed, part):
    """One thread's rows[start:stop] in batches of mini_batch_size; schedules and masks
    are keyed as in _core.train_block."""
    batch = cfg.mini_batch_size
    uoff = _offsets(lay.units)
    for k0 in range(start, stop, batch):
        nb = min(batch, stop - k0)
        n = float(samples_before + n_threads * (k0 - start))
        train_batch(state, lay, cfg, X, T, rows, k0, nb, samples_before + k0, n, key_seed, part, n_threads, uoff)


# ---------------------------------------------------------------- inference in batches (scoring while training)


@njit(**C.ENTRY)
def infer_batches(state, lay, cfg, X, result, lo, hi):
    """Inference-mode outputs of rows lo..hi-1 (float64) into the same rows of ``result``, as
    _core.infer, but the block at once through the batch forward pass (sgemm on BLAS's one
    thread in each of hogwild.in_blocks's threads): about 3x faster on the Fashion-MNIST race
    net, which makes frequent scoring affordable. Hidden layers are scaled by their keep
    probability; equal to _core.infer up to float32 summation order inside the products."""
    units = lay.units
    n_layers = len(units) - 1
    uoff = _offsets(units)
    width = max(1, uoff[n_layers + 1])
    keep = np.ones((hi - lo, width), dtype=np.float32)
    for h in range(n_layers - 1):
        keep[:, uoff[h + 1] : uoff[h + 1] + units[h + 1]] = np.float32(1.0 - cfg.hidden_dropout_ratios[h])
    WIN = np.zeros((hi - lo, width), dtype=np.int64)
    out = _forward_batch(state, lay, cfg, np.ascontiguousarray(X[lo:hi]), keep, WIN, uoff)[n_layers]
    for b in range(hi - lo):
        for j in range(units[n_layers]):
            result[lo + b, j] = out[b, j]
