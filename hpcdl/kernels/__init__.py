"""Training kernels of hpcdl: per-sample SGD / ADADELTA with HOGWILD! threads (Numba).

The trainer calls only what is exported here. Semantics and the deliberate
differences from H2O-3 are in docs/kernels.md.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import numpy as np

from . import _cache, _linking

_cache.install()  # before any module with cached Numba functions is imported
_linking.install()  # kernels that only kernels call: compiled for linking only

from numba.core import event  # noqa: E402

from ..threads import blas_threads, use_all_threads, use_threads  # noqa: E402
from . import _core, hogwild, minibatch  # noqa: E402
from .net import ACTIVATIONS, ALLOWED_LOSSES, LOSSES, OUTPUTS, PROBE_HYPER, Hyper, Net  # noqa: E402
from .records import Config, Layout, State  # noqa: E402
from .rng import seed_to_uint64  # noqa: E402

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
    "warm_up",
]

# Seconds to compile each engine and the inference kernel with an empty Numba cache on the
# 2-core benchmark machine (docs/kernels.md, "Compiling"; measured 2026-12-08 with internal
# kernels compiled for linking only: per-sample 7.6-9.9 s in all with the helper process,
# the mini-batch training kernels 8-9 s alone): the notice's estimate, not a limit.
COMPILE_SECONDS = {"per-sample": 7, "blas": 8, "loop": 9, "inference": 3}


def optimizer_code(hyper: Hyper) -> int:
    if hyper.optimizer not in ("AUTO", "Adam"):
        raise ValueError(f"optimizer must be 'AUTO' or 'Adam', got {hyper.optimizer!r}")
    if hyper.adam:
        return _core.ADAM
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
    return np.asarray(ratios, dtype=np.float64).reshape(n_hidden)  # ranges: params.py (the gate) owns them


def _check_loss(net: Net, hyper: Hyper) -> None:
    # The loss a model may have is params.py's rule (the gate); this guards direct kernel calls only.
    if hyper.loss not in ALLOWED_LOSSES[net.output]:
        raise ValueError(
            f"loss {hyper.loss!r} is not available for a {net.output} output (use one of {ALLOWED_LOSSES[net.output]})"
        )


def _check_training(net: Net, hyper: Hyper, mini_batch_size: int) -> None:
    opt = optimizer_code(hyper)
    if opt == _core.ADADELTA and not net.adaptive_rate:
        raise ValueError("adaptive_rate training needs a Net built with adaptive_rate=True")
    if opt in (_core.MOMENTUM, _core.NESTEROV) and not net.momentum:
        raise ValueError("momentum training needs a Net built with momentum=True")
    if (opt == _core.ADAM) != net.adam:
        raise ValueError(f"optimizer {hyper.optimizer!r} does not fit a Net built with adam={net.adam}")
    if opt == _core.ADAM and hyper.adaptive_rate:
        raise ValueError("optimizer 'Adam' needs adaptive_rate=False")
    if opt == _core.ADAM and not (0.0 <= hyper.beta1 < 1.0 and 0.0 <= hyper.beta2 < 1.0 and hyper.epsilon > 0.0):
        raise ValueError("Adam needs beta1 and beta2 in [0, 1) and epsilon > 0")
    if hyper.sparsity_beta > 0.0 and net.output != "autoencoder":
        raise ValueError("sparsity_beta applies to autoencoders only")
    if mini_batch_size < 1:
        raise ValueError(f"mini_batch_size must be >= 1, got {mini_batch_size}")
    if opt == _core.ADADELTA and not (hyper.rho > 0.0 and hyper.epsilon > 0.0):
        raise ValueError("ADADELTA needs rho > 0 and epsilon > 0")


def _config(net: Net, hyper: Hyper, mini_batch_size: int = 1, samples_before: int = 0) -> Config:
    """Hyper as the kernels' Config; every field cast so that its Numba type never changes."""
    loss = LOSSES.index(hyper.loss) if hyper.loss in LOSSES else 0  # inference ignores an unknown loss
    return Config(
        activation=ACTIVATIONS.index(net.activation),
        output=OUTPUTS.index(net.output),
        loss=loss,
        optimizer=optimizer_code(hyper),
        fast_mode=bool(hyper.fast_mode),
        mini_batch_size=int(mini_batch_size),
        has_max_w2=bool(math.isfinite(hyper.max_w2)),
        sparse=bool(hyper.sparsity_beta > 0.0),
        shared_masks=bool(hyper.shared_dropout_masks),
        huber_delta=float(hyper.huber_delta),
        quantile_alpha=float(hyper.quantile_alpha),
        input_dropout_ratio=float(hyper.input_dropout_ratio),
        hidden_dropout_ratios=_hidden_dropout(net, hyper),
        l1=float(hyper.l1),
        l2=float(hyper.l2),
        max_w2=float(hyper.max_w2) if math.isfinite(hyper.max_w2) else 0.0,
        rho=float(hyper.rho),
        epsilon=float(hyper.epsilon),
        rate=float(hyper.rate),
        rate_annealing=float(hyper.rate_annealing),
        rate_decay=float(hyper.rate_decay),
        momentum_start=float(hyper.momentum_start),
        momentum_ramp=float(hyper.momentum_ramp),
        momentum_stable=float(hyper.momentum_stable),
        sparsity_beta=float(hyper.sparsity_beta),
        average_activation=float(hyper.average_activation),
        beta1=float(hyper.beta1),
        beta2=float(hyper.beta2),
        weight_decay=float(hyper.weight_decay),
        adam_steps=float(net.adam_steps[0]) if net.adam else 0.0,
        adam_samples=float(samples_before),
    )


def _state(net: Net) -> State:
    return State(net.W, net.B, net.EgW, net.EdW, net.EgB, net.EdB, net.MW, net.MB, net.avg_activation)


def _layout(net: Net) -> Layout:
    a_off = np.concatenate([[0], np.cumsum(net.units)]).astype(np.int64)
    return Layout(net.units, net.mult, net.w_off, net.b_off, a_off)


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
    team: bool | None = None,
) -> int:
    """Train net in place on X[rows] (in that order) with n_threads threads.

    ``samples_before`` is the number of samples processed before this call (rate
    annealing, momentum ramp, and the global sample index that keys the dropout masks
    together with ``seed``). Per sample (``mini_batch_size = 1``) the threads train
    every row together, each updating its own slice of every layer (on nets with fewer
    than TEAM_MIN_WEIGHTS weights thread t trains the t-th block of rows, HOGWILD!); with
    ``mini_batch_size > 1`` thread t takes the t-th contiguous block of ``rows``
    (HOGWILD!) and the BLAS engine (``minibatch.py``) runs (``engine="auto"``/``"blas"``);
    ``engine="loop"`` forces the plain loops. Returns how many rows all threads trained
    together (fewer when an oversubscribed machine made the team fall back to one
    thread; see docs/kernels.md, "Threads"). ``team`` (per sample, several threads):
    True a team, False HOGWILD! threads on different rows, None (default) by the net's
    size (:func:`team_size`).
    """
    if engine not in ("auto", "blas", "loop"):
        raise ValueError(f"engine must be 'auto', 'blas' or 'loop', got {engine!r}")
    _check_loss(net, hyper)
    _check_training(net, hyper, mini_batch_size)
    cfg = _config(net, hyper, mini_batch_size, samples_before)
    X = _inputs(net, X)
    T = _targets(net, T, X.shape[0])
    rows = np.ascontiguousarray(rows, dtype=np.int64).reshape(-1)
    if len(rows) == 0:
        return 0
    if rows.min() < 0 or rows.max() >= X.shape[0]:
        raise IndexError("rows holds an index outside X")
    n_threads = use_threads(n_threads)
    with blas_threads(1):
        lay = _layout(net)
        args = (_state(net), lay, cfg)
        data = (X, T, rows, np.int64(samples_before), np.int64(n_threads), seed_to_uint64(seed))
        if mini_batch_size <= 1:
            buffers = (_core.team_buffers(lay, team_size(net, n_threads, team)), _core.scratches(lay, n_threads))
            drive = hogwild.train_team if _as_team(net, team) else hogwild.train_rows_apart
            together = drive(*args, *buffers, *data)
        elif engine == "loop":
            together = hogwild.train_blocks_loop(*args, *data)
        else:
            together = hogwild.train_blocks_blas(*args, *data)
    if net.adam:
        net.adam_steps[0] += np.float32(_updates(len(rows), n_threads, mini_batch_size))
    return int(together)


# A per-sample team pays 2 to 3 barriers per layer and sample (~0.1-0.5 us each on the
# benchmark VM): worth it when a sample's arithmetic is large (784-200-200-200-10:
# 1.5-1.7x one thread), not when it is a few microseconds (14-32-2, 512 weights: the
# team 0.9-1.0x one thread, HOGWILD! threads on different rows 1.2-1.8x; docs/performance.md,
# "Small nets"). Below this many weights the threads train different rows instead.
TEAM_MIN_WEIGHTS = 10_000


def team_size(net: Net, n_threads: int, team: bool | None = None) -> int:
    """Members of the per-sample team: all n_threads, or 1 (HOGWILD! threads on different
    rows); ``team=None`` picks 1 for nets with fewer than TEAM_MIN_WEIGHTS weights."""
    return n_threads if _as_team(net, team) else 1


def scoring_engine(net: Net) -> str:
    """The inference engine scoring during training uses: BLAS blocks on nets big enough for
    a team (~3x faster there), the row loop below (no second inference kernel to compile
    for a small net's first job; docs/kernels.md, "Compiling")."""
    return "blas" if _as_team(net, None) else "loop"


def _as_team(net: Net, team: bool | None) -> bool:
    """Whether per-sample threads form a team (else train_rows_apart), decided by the net
    alone so that warm_up on one thread compiles the driver a run on several uses."""
    return int(net.w_off[-1]) >= TEAM_MIN_WEIGHTS if team is None else team


def _updates(n_rows: int, n_threads: int, mini_batch_size: int) -> int:
    """How many updates training n_rows makes (Adam's step count): one per row per sample,
    else one per mini-batch of each thread's block (hogwild.train_blocks_*'s split)."""
    if mini_batch_size <= 1:
        return n_rows
    blocks = [(n_rows * (t + 1)) // n_threads - (n_rows * t) // n_threads for t in range(n_threads)]
    return sum(-(-b // mini_batch_size) for b in blocks)


def _infer(net: Net, hyper: Hyper, X, layer: int) -> np.ndarray:
    cfg = _config(net, hyper)
    X = _inputs(net, X)
    result = np.empty((X.shape[0], int(net.units[layer])), dtype=np.float64)
    args = (_state(net), _layout(net), cfg, X, np.int64(layer), result)
    hogwild.in_blocks(_core.infer, X.shape[0], use_all_threads(), *args)
    return result


def predict(net: Net, hyper: Hyper, X, engine: str = "loop") -> np.ndarray:
    """Inference-mode outputs (n, n_out), float64: softmax probabilities, the linear
    value, or the reconstruction. ``engine="blas"``: in blocks of rows through BLAS
    (minibatch.infer_batches; the same up to float32 summation order, ~3x faster on
    wide nets), which scoring during training uses; BLAS stays on one thread in each thread."""
    if engine not in ("loop", "blas"):
        raise ValueError(f"engine must be 'loop' or 'blas', got {engine!r}")
    if engine == "loop":
        return _infer(net, hyper, X, net.n_layers)
    X = _inputs(net, X)
    result = np.empty((X.shape[0], int(net.units[-1])), dtype=np.float64)
    with blas_threads(1):
        args = (_state(net), _layout(net), _config(net, hyper), X, result)
        hogwild.in_blocks(minibatch.infer_batches, X.shape[0], use_all_threads(), *args)
    return result


def hidden_activations(net: Net, hyper: Hyper, X, layer: int) -> np.ndarray:
    """Inference-mode activations of hidden layer ``layer`` (0-based), float64."""
    if not 0 <= layer < net.n_layers - 1:
        raise ValueError(f"layer must be in [0, {net.n_layers - 2}], got {layer}")
    return _infer(net, hyper, X, layer + 1)


def row_loss(net: Net, hyper: Hyper, X, T) -> np.ndarray:
    """Per-row loss in inference mode (float64); T is ignored for autoencoders."""
    _check_loss(net, hyper)
    cfg = _config(net, hyper)
    X = _inputs(net, X)
    T = _targets(net, None if net.output == "autoencoder" else T, X.shape[0])
    result = np.empty(X.shape[0], dtype=np.float64)
    hogwild.in_blocks(_core.infer_loss, X.shape[0], use_all_threads(), _state(net), _layout(net), cfg, X, T, result)
    return result


def engine_of(mini_batch_size: int, engine: str = "auto") -> str:
    """The engine ``train`` runs: "per-sample", "blas" or "loop"."""
    if mini_batch_size <= 1:
        return "per-sample"
    return "loop" if engine == "loop" else "blas"


class _CompileWatch:
    """Listens to Numba's compile events (a cache miss; a load from the cache sends none):
    calls ``on_compile`` once, at the first, and adds up the seconds spent compiling."""

    def __init__(self, on_compile) -> None:
        self.on_compile, self.depth, self.started, self.seconds = on_compile, 0, 0.0, 0.0
        watch = self

        class Listener(event.Listener):
            def on_start(self, ev):
                if watch.depth == 0:
                    watch.started = time.perf_counter()
                    if watch.on_compile is not None:
                        watch.on_compile()
                        watch.on_compile = None
                watch.depth += 1

            def on_end(self, ev):
                watch.depth -= 1
                if watch.depth == 0:
                    watch.seconds += time.perf_counter() - watch.started

        self.listener = Listener()

    def compiling(self) -> None:
        """Compiling goes on elsewhere (a helper process): the notice, as at a compile event."""
        if self.on_compile is not None:
            self.on_compile()
            self.on_compile = None

    def wait_for(self, helper) -> None:
        """Wait for the helper process; its time counts as compile time. Its failure is not an
        error: what it did not write to the cache compiles here."""
        started = time.perf_counter()
        try:
            helper.wait()
        finally:
            if helper.poll() is None:
                helper.kill()
        self.seconds += time.perf_counter() - started

    def __enter__(self):
        event.register("numba:compile", self.listener)
        return self

    def __exit__(self, *exc) -> None:
        event.unregister("numba:compile", self.listener)


def warm_up(net: Net, hyper: Hyper, *, mini_batch_size: int = 1, engine: str = "auto", on_compile=None) -> float:
    """Compile, or load from Numba's cache, the kernels a training run of ``net`` uses: its
    engine and inference (``predict``), and nothing else. Runs them on two zero rows of a
    copy of ``net``. Every net and Hyper gives the kernels the same types, so this is the
    only compile of the run. ``on_compile()`` is called once, before the first kernel that
    is not in the cache compiles. Returns the seconds spent compiling (0.0: all cached).

    With an empty cache and a second core, a helper process compiles the training kernel
    into the cache (:func:`compile_engine`) while this one compiles inference; training then
    loads it (docs/kernels.md, "Compiling")."""
    probe = net.copy()
    X = np.zeros((2, net.units[0]), dtype=np.float32)
    T = np.zeros(2, dtype=np.float32)
    used = engine_of(mini_batch_size, engine)
    with _CompileWatch(on_compile) as watch:
        helper = _compile_elsewhere(used, watch)
        predict(probe, hyper, X, engine=scoring_engine(net))
        if helper is not None:
            watch.wait_for(helper)
        train(
            probe, hyper, X, T, np.arange(2), seed=1, samples_before=0, n_threads=1,
            mini_batch_size=mini_batch_size, engine=engine,
        )  # fmt: skip
    return watch.seconds


def _training_kernel(engine: str):
    return {"per-sample": _core.train_rows, "blas": minibatch.train_block, "loop": _core.train_block}[engine]


def _compile_elsewhere(engine: str, watch: _CompileWatch):
    """A helper process compiling ``engine``'s training kernel into Numba's cache, or None: when
    the kernel's cache has no index yet (a first run; a cache of another CPU type or an older
    source is not guessed at, it compiles here) and this process may run on a second core."""
    index = _training_kernel(engine)._cache._cache_file._index_path
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if os.path.exists(index) or cores < 2:
        return None
    watch.compiling()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    code = "import sys; from hpcdl.kernels import compile_engine; compile_engine(sys.argv[1])"
    try:
        return subprocess.Popen(
            [sys.executable, "-c", code, engine], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    except OSError:
        return None  # compiled here instead


def compile_engine(engine: str) -> None:
    """Compile (or load) ``engine``'s training kernel on a two-row net: the helper process of
    :func:`warm_up`. The kernel's types do not depend on the net, so the cache entry is the one
    the run loads."""
    net = Net([2, 2, 2], "Tanh", "softmax", adaptive_rate=True, momentum=False)
    X, T = np.zeros((2, 2), dtype=np.float32), np.zeros(2, dtype=np.float32)
    mini_batch_size = 1 if engine == "per-sample" else 2
    train(
        net, PROBE_HYPER, X, T, np.arange(2), seed=1, samples_before=0, n_threads=1,
        mini_batch_size=mini_batch_size, engine="loop" if engine == "loop" else "auto",
    )  # fmt: skip
