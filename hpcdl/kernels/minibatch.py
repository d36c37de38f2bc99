"""Mini-batch HOGWILD! at BLAS speed (mini_batch_size > 1).

Same semantics as the loop path in ``_core`` (docs/kernels.md, "Mini-batch"): each
thread takes its next B rows, runs all of them forward and backward with the weights
as they are at the start of the batch, and applies **one** update per layer with the
data gradient averaged over the batch plus L1/L2, the same optimizer (ADADELTA, SGD,
momentum, Nesterov), max_w2, fast_mode skips and sparsity rules. Dropout masks and
schedules are keyed exactly as in the loop path, so both give the same result up to
float32 summation order inside the matrix products.

What is different is how: a batch is a (B, n) matrix per layer and the three products
per layer (forward ``A W^T``, weight gradient ``D^T A``, back-propagated error ``D W``)
are ``np.dot`` calls on float32 2-D arrays, which Numba lowers to BLAS ``sgemm``
(scipy's OpenBLAS). Several threads (``prange``) each run their own batches against the
one shared buffer without locks, so BLAS itself must run single-threaded inside them:
``blas_threads(1)`` pins it for the duration of a training call (otherwise OpenBLAS
starts its own threads inside every Numba thread and speed drops 4x).
"""

from __future__ import annotations

import contextlib
import ctypes
import math

import numpy as np
from numba import njit, prange

from . import _core as C
from .rng import hidden_mask_key, layer_key, unit_uniform

JIT = C.JIT
ZERO = C.ZERO
ONE = C.ONE
AVG_KEEP = C.AVG_KEEP
AVG_NEW = C.AVG_NEW


# ---------------------------------------------------------------- BLAS threads


_SETTERS: list | None = None


def _blas_setters() -> list:
    """(get, set) thread-count functions of every OpenBLAS loaded in this process
    (scipy's, which Numba's np.dot calls, and numpy's); found once from /proc/self/maps."""
    global _SETTERS
    if _SETTERS is not None:
        return _SETTERS
    import scipy.linalg.cython_blas  # noqa: F401 - loads the BLAS Numba's np.dot uses

    found, seen = [], set()
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "blas" in line.lower() and ".so" in line}
    except OSError:  # not Linux: leave BLAS threads alone
        paths = set()
    for path in sorted(paths):
        if path in seen:
            continue
        seen.add(path)
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas", "scipy_openblas64_", "openblas64_"):
            get = getattr(lib, f"{prefix}_get_num_threads", None)
            put = getattr(lib, f"{prefix}_set_num_threads", None)
            if get is not None and put is not None:
                get.restype = ctypes.c_int
                put.argtypes = [ctypes.c_int]
                found.append((get, put))
                break
    _SETTERS = found
    return found


@contextlib.contextmanager
def blas_threads(n: int):
    """Run the block with every loaded OpenBLAS limited to n threads, then restore."""
    setters = _blas_setters()
    before = [get() for get, _ in setters]
    for _, put in setters:
        put(int(n))
    try:
        yield
    finally:
        for (_, put), old in zip(setters, before):
            put(int(old))


def available() -> bool:
    """np.dot inside Numba needs scipy (its cython BLAS)."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- one batch


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
def _inputs_and_masks(X, rows, k0, nb, gidx0, units, uoff, in_drop, hdrop, key_seed, shared_masks, A0, M):
    """A0[b] = input row with input dropout; M[b, uoff[h+1] + j] = keep (1) / drop (0) of
    hidden unit j of hidden layer h; keyed by the global sample index gidx0 + b (and by
    the layer unless shared_masks, see rng.hidden_mask_key)."""
    n0 = units[0]
    p_in = np.float32(in_drop)
    for b in range(nb):
        row = rows[k0 + b]
        gidx = gidx0 + b
        a = A0[b]
        x = X[row]
        if in_drop > 0.0:
            key = layer_key(key_seed, gidx, 0)
            for i in range(n0):
                a[i] = ZERO if unit_uniform(key, i) < p_in else x[i]
        else:
            for i in range(n0):
                a[i] = x[i]
        for h in range(len(units) - 2):
            o = uoff[h + 1]
            n = units[h + 1]
            p = np.float32(hdrop[h])
            mrow = M[b, o : o + n]
            if p > ZERO:
                key = hidden_mask_key(key_seed, gidx, h, shared_masks)
                for j in range(n):
                    mrow[j] = ZERO if unit_uniform(key, j) < p else ONE
            else:
                for j in range(n):
                    mrow[j] = ONE


@njit(**JIT)
def _layer_weights(W, w_off, units, mult, l):
    return W[w_off[l] : w_off[l + 1]].reshape((mult[l] * units[l + 1], units[l]))


@njit(**JIT)
def _forward_batch(W, B, units, mult, w_off, b_off, act, out, A0, M, WIN, uoff):
    """Activations of every layer for the batch (acts[0] = A0), training mode."""
    n_layers = len(units) - 1
    nb = A0.shape[0]
    acts = [A0]
    for l in range(n_layers):
        n_out = units[l + 1]
        m = mult[l]
        Z = np.dot(acts[l], _layer_weights(W, w_off, units, mult, l).T)
        bl = B[b_off[l] : b_off[l + 1]]
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
def _update_layer(
    W, B, EgW, EdW, EgB, EdB, MW, MB, AVG, GW, GB, active, l, n_in, n_rows, m, w_off, b_off,
    avg_o, hidden, ip, fp, rate_t, mom, inv, upd, rstep, first,
):  # fmt: skip
    """One update of weight layer l from the summed gradients GW (n_rows, n_in), GB."""
    opt = ip[C.I_OPT]
    keep_zero = ip[C.I_FAST] != 0
    has_max_w2 = ip[C.I_MAXW2] != 0
    sparse = ip[C.I_SPARSE] != 0
    l1 = np.float32(fp[C.F_L1])
    l2 = np.float32(fp[C.F_L2])
    rho = np.float32(fp[C.F_RHO])
    eps = np.float32(fp[C.F_EPS])
    max_w2 = np.float32(fp[C.F_MAXW2])
    lr = np.float32(rate_t * fp[C.F_DECAY] ** l)
    g = GW.reshape(-1)
    for rr in range(n_rows):
        r = rr + first
        if r >= n_rows:
            r -= n_rows
        upd[r] = False
        if active[r] == 0:
            continue  # dropped in every sample of the batch
        if GB[r] == ZERO and keep_zero:
            continue
        upd[r] = True
        C.update_row(
            W, EgW, EdW, MW, w_off[l] + r * n_in, g, r * n_in, n_in, inv, opt, l1, l2,
            rho, eps, lr, mom, keep_zero, has_max_w2, max_w2,
        )  # fmt: skip
    C.update_biases(B, EgB, EdB, MB, b_off[l], GB, 0, inv, upd, n_rows, opt, rho, eps, lr, mom, rstep)
    if sparse and hidden:
        C.sparsity_pull(
            B, b_off[l], AVG, avg_o, m, upd, n_rows, rstep, np.float32(fp[C.F_BETA]), np.float32(fp[C.F_AVGACT])
        )


@njit(**JIT)
def train_batch(
    W, B, EgW, EdW, EgB, EdB, MW, MB, AVG, units, mult, w_off, b_off, ip, fp, hdrop,
    X, T, rows, k0, nb, gidx0, n, key_seed, part, n_parts, uoff,
):  # fmt: skip
    """Forward, backward and one update for rows[k0:k0+nb] (global samples gidx0...)."""
    act = ip[C.I_ACT]
    out = ip[C.I_OUT]
    n_layers = len(units) - 1
    A0 = np.empty((nb, units[0]), dtype=np.float32)
    M = np.ones((nb, max(1, uoff[n_layers + 1])), dtype=np.float32)
    WIN = np.zeros((nb, max(1, uoff[n_layers + 1])), dtype=np.int64)
    _inputs_and_masks(
        X, rows, k0, nb, gidx0, units, uoff, fp[C.F_INDROP], hdrop, key_seed, ip[C.I_SHARED_MASKS] != 0, A0, M
    )
    acts = _forward_batch(W, B, units, mult, w_off, b_off, act, out, A0, M, WIN, uoff)
    if ip[C.I_SPARSE] != 0:
        for b in range(nb):
            for l in range(1, n_layers):
                a = acts[l][b]
                o = uoff[l]
                for j in range(units[l]):
                    AVG[o + j] = AVG_KEEP * AVG[o + j] + AVG_NEW * a[j]
    # output deltas, one sample at a time through the per-sample code
    n_out_rows = mult[n_layers - 1] * units[n_layers]
    D = np.empty((nb, n_out_rows), dtype=np.float32)
    zero_off = np.zeros(n_layers + 1, dtype=np.int64)
    huber = np.float32(fp[C.F_HUBER])
    alpha = np.float32(fp[C.F_QALPHA])
    o_out = uoff[n_layers]
    for b in range(nb):
        row = rows[k0 + b]
        C.output_delta(
            acts[n_layers][b], zero_off, units, WIN[b, o_out:], act, out, ip[C.I_LOSS], T[row], X, row,
            huber, alpha, D[b],
        )  # fmt: skip
    rate_t, mom64 = C._schedule(fp, ip[C.I_OPT], n)
    mom = np.float32(mom64)
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
        hidden = l < n_layers - 1
        A = acts[l]
        GW = np.dot(D.T, A)  # (n_rows, n_in): summed data gradient
        for r in range(n_rows):
            GB[r] = ZERO
        for b in range(nb):
            d = D[b]
            for r in range(n_rows):
                GB[r] += d[r]
        if hidden:
            o = uoff[l + 1]
            for r in range(n_rows):
                active[r] = 0
            for b in range(nb):
                keep = M[b, o : o + units[l + 1]]
                for j in range(units[l + 1]):
                    kept = 1 if keep[j] != ZERO else 0
                    for c in range(m):
                        active[j * m + c] += kept
        else:
            for r in range(n_rows):
                active[r] = nb
        if l > 0:
            E = np.dot(D, _layer_weights(W, w_off, units, mult, l))  # error with the pre-update weights
        first = (units[l + 1] * part) // n_parts * m
        _update_layer(
            W, B, EgW, EdW, EgB, EdB, MW, MB, AVG, GW, GB, active, l, n_in, n_rows, m, w_off, b_off,
            uoff[l + 1], hidden, ip, fp, rate_t, mom, inv, upd, rstep, first,
        )  # fmt: skip
        if l > 0:
            Dn = np.empty((nb, mult[l - 1] * n_in), dtype=np.float32)
            _hidden_delta_batch(act, E, acts[l], M, WIN, uoff[l], n_in, mult[l - 1], Dn)
            D = Dn


@njit(**JIT)
def train_block(
    W, B, EgW, EdW, EgB, EdB, MW, MB, AVG, units, mult, w_off, b_off, ip, fp, hdrop,
    X, T, rows, start, stop, samples_before, n_threads, key_seed, part,
):  # fmt: skip
    """One thread's rows[start:stop] in batches of ip[I_BATCH]; schedules and masks
    are keyed as in _core.train_block."""
    batch = ip[C.I_BATCH]
    uoff = _offsets(units)
    for k0 in range(start, stop, batch):
        nb = min(batch, stop - k0)
        n = float(samples_before + n_threads * (k0 - start))
        train_batch(
            W, B, EgW, EdW, EgB, EdB, MW, MB, AVG, units, mult, w_off, b_off, ip, fp, hdrop,
            X, T, rows, k0, nb, samples_before + k0, n, key_seed, part, n_threads, uoff,
        )  # fmt: skip


@njit(parallel=True, **JIT)
def train_hogwild(
    W, B, EgW, EdW, EgB, EdB, MW, MB, AVG, units, mult, w_off, b_off, ip, fp, hdrop,
    X, T, rows, samples_before, n_threads, key_seed,
):  # fmt: skip
    """HOGWILD! over n_threads contiguous blocks of rows, each in BLAS mini-batches."""
    n_rows = len(rows)
    for t in prange(n_threads):
        start = (n_rows * t) // n_threads
        stop = (n_rows * (t + 1)) // n_threads
        train_block(
            W, B, EgW, EdW, EgB, EdB, MW, MB, AVG, units, mult, w_off, b_off, ip, fp, hdrop,
            X, T, rows, start, stop, samples_before, n_threads, key_seed, t,
        )  # fmt: skip
