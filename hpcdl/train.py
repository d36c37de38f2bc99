"""The training loop on one rank: take rows, train, average, advance, agree, run hooks.

Every rank runs :meth:`Trainer.run`. In each iteration every training rank takes its rows
(a random sample of about its share of ``train_samples_per_iteration``, tspi, drawn as
H2O-3 draws it: ``hpcdl/rows.py``) and trains them with its HOGWILD! threads
(``hpcdl/kernels``); the ranks average the whole state buffer (weights, biases, optimizer
state); the run state (``hpcdl/runstate.py``) counts the iteration; rank 0's
:class:`Monitor` scores when due and decides whether to go on; the hooks run (checkpoints
and signals: ``hpcdl/lifecycle.py``; the live UI; tests) and may ask to stop; the ranks
agree on the decision, so none is left waiting in a collective (docs/mpi.md, "One
iteration"). How big the iterations are, and which rows they visit, is planned before the
loop by pure functions of row counts and timings (:func:`plan_iterations`).

The ranks talk only through the comm object (``hpcdl/comm.py``); this module writes no file.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

from . import comm as comm_mod
from . import kernels, metrics, scoring
from . import rows as visiting
from .frame import Frame
from .model import Model, base_activation, compute_varimp, hyper_from_params
from .params import DeepLearningParameters
from .prep import DataInfo, balance_classes
from .rows import mix_seed as _mix_seed
from .runstate import MonitorState, RunState, StopReason
from .threads import blas_threads, rank_cores, use_threads


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the model diverged); the message says why."""


# -- what hooks see and do ---------------------------------------------------------------
@dataclass
class TrainContext:
    """What the loop shares with hooks: the model (its counters are ``model.run``) and the last rows."""

    model: Model
    comm: object
    rows: np.ndarray | None = None  # frame row indices this rank trained in the last iteration
    decision: StopReason = StopReason.CONTINUE  # rank 0: this iteration's decision, before the ranks agree
    stop_requested: bool = False  # set by a hook on any rank (e.g. after SIGTERM): every rank stops

    @property
    def state(self) -> RunState:
        return self.model.run

    @property
    def iteration(self) -> int:
        return self.model.run.iterations

    @property
    def samples(self) -> int:
        return self.model.run.samples

    @property
    def epochs(self) -> float:
        return self.model.run.epochs

    @property
    def train_seconds(self) -> float:
        return self.model.run.train_seconds


class TrainHook:
    """A hook into the loop (checkpoints, signals, the live UI, tests): subclass it and override
    the methods you need. Every rank calls each method of each hook, in the order given."""

    def before_average(self, ctx: TrainContext) -> None:
        """This rank has trained its rows; the ranks are about to average (in iterations that do)."""

    def after_iteration(self, ctx: TrainContext) -> None:
        """The iteration is counted and rank 0 has decided (``ctx.decision``), but the ranks have not
        yet agreed: set ``ctx.stop_requested`` to stop every rank after this iteration."""

    def after_training(self, ctx: TrainContext) -> None:
        """Training has ended; every rank holds the final model and its final run state."""


# -- threads --------------------------------------------------------------------------
def resolve_threads(requested: int | None, ranks_per_node: int = 1, node_cores: int | None = None) -> int:
    """Threads per rank: the first that is set of (README "Threads and ranks")

    1. ``HPCDL_THREADS`` (``--threads`` sets it): the user's word for this run;
    2. ``SLURM_CPUS_PER_TASK``: the allocation's CPUs per rank rule over a job file;
    3. ``requested``: the job's ``[job] threads`` or the Python API's ``threads=``;
    4. ``NUMBA_NUM_THREADS``;
    5. the cores available to the process, at most its share of ``node_cores`` (the cores the
       ranks on the node may run on together) / the ranks on the node.

    Rank 0 warns (once per message) when a job's threads or an explicit value differ
    from the allocation: the user asked for one figure and Slurm granted another.
    """
    explicit, allocation = _env_count("HPCDL_THREADS"), _env_count("SLURM_CPUS_PER_TASK")
    if explicit:
        if allocation and explicit != allocation:
            _warn_once(
                f"--threads/HPCDL_THREADS {explicit} differs from the Slurm allocation's --cpus-per-task="
                f"{allocation}: using {explicit} threads per rank"
            )
        return explicit
    if allocation:
        if requested and int(requested) != allocation:
            _warn_once(
                f"the job's threads = {int(requested)} differs from the Slurm allocation's --cpus-per-task="
                f"{allocation}: using {allocation} threads per rank (--threads N overrides the allocation)"
            )
        return allocation
    if requested:
        return int(requested)
    numba_threads = _env_count("NUMBA_NUM_THREADS")
    if numba_threads:
        return numba_threads
    cores = len(rank_cores())  # bound ranks (Open MPI: one core each) have their own cores, unshared
    return max(1, min(cores, (node_cores or cores) // max(1, ranks_per_node)))


def _env_count(var: str) -> int | None:
    value = os.environ.get(var, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _warn_team_fell_back(threads: int) -> None:
    """The per-sample team found its cores busy and trained on with one thread: same model
    (the algorithm is the one-thread algorithm), lower speed; the user should know why."""
    _warn_once(
        f"per-sample training on {threads} threads went on with 1 thread for part of an iteration: "
        "its threads waited for cores that other work kept busy (docs/kernels.md, 'Threads'); "
        "fewer ranks x threads than cores, or a quieter machine, avoids it",
        any_rank=True,
    )


@functools.cache
def _warn_once(message: str, any_rank: bool = False) -> None:
    """Print a warning once per process: rank 0's, or (``any_rank``: about this rank alone) any rank's."""
    world = comm_mod.world()
    if world.rank == 0 or any_rank:
        where = f"rank {world.rank}: " if any_rank and world.size > 1 else ""
        print(f"hpcdl: warning: {where}{message}", file=sys.stderr, flush=True)


# -- the iteration plan: pure functions of row counts and timings (docs/mpi.md) -------------
@dataclass(frozen=True)
class Layout:
    """How the training rows lie on the ranks (the same on every rank)."""

    rows_per_rank: list[int]  # usable training rows of each rank (after class balancing)
    training: list[bool]  # which ranks train (single_node_mode: rank 0 only)
    replicated: bool  # every rank holds all rows
    single_node: bool

    @property
    def n_rows(self) -> int:
        """N, the rows of one epoch, cluster-wide."""
        return self.rows_per_rank[0] if self.replicated else sum(self.rows_per_rank)

    @property
    def n_train_ranks(self) -> int:
        return sum(self.training)


@dataclass(frozen=True)
class IterationPlan:
    """How big the iterations are and how a rank visits its rows (docs/mpi.md)."""

    tspi: int  # train_samples_per_iteration of the next iteration
    tspi_initial: int
    samples_per_rank: list[int]  # per-rank counts to continue from (a resume on the same layout)
    n_chunks: int  # this rank's row chunks
    shuffle: bool
    replicas: int  # training ranks that each hold all rows (1 for sharded data)
    averaging: bool  # several ranks train and average
    auto_tune: bool  # tspi=-2 on several training ranks: corrected after every iteration
    comm_seconds: float  # auto-tuning's communication time per iteration
    target_ratio: float

    def next_tspi(self, tspi: int, iteration: int, iteration_seconds: float) -> int:
        """The tspi after ``iteration``: steered toward the target comm/comp ratio when auto-tuning."""
        if not self.auto_tune or iteration <= 1:
            return tspi
        return corrected_tspi(
            tspi, comm_seconds=self.comm_seconds, iteration_seconds=iteration_seconds, target_ratio=self.target_ratio
        )


def comm_seconds_estimate(n_ranks: int, allreduce_seconds: float) -> float:
    """Auto-tuning's communication time per iteration (``t_comm``, seconds; docs/mpi.md).

    A fixed overhead (10 ms on one rank, 100 ms on several) plus ``q`` collectives
    of the state buffer, q = 1 on one rank and 2*floor(log2 ranks) on several.
    """
    single = n_ranks <= 1
    q = 1 if single else 2 * math.floor(math.log2(n_ranks))
    return (0.01 if single else 0.1) + q * float(allreduce_seconds)


def compute_tspi(
    tspi: int,
    *,
    n_rows: int,
    epochs: float,
    n_ranks: int,
    replicated: bool,
    seconds_per_row: float,
    allreduce_seconds: float,
    target_ratio: float,
) -> int:
    """train_samples_per_iteration resolved as docs/mpi.md says (special values 0, -1, -2).

    ``n_ranks`` is the number of training ranks (1 in single_node_mode); ``n_rows``
    the cluster-wide usable training rows (one epoch); ``seconds_per_row`` the
    measured wall time of one training row on one rank with all its threads;
    ``allreduce_seconds`` the measured time of one Allreduce of the state buffer.
    """
    if tspi == 0 or (tspi == -1 and not replicated):
        return n_rows
    if tspi == -1:
        return n_ranks * n_rows
    if tspi > 0:
        return max(1, min(tspi, int(math.floor(epochs * n_rows))))
    # -2: auto-tune from measured compute time per row and the measured Allreduce time.
    single = n_ranks <= 1
    frac = 1e-3 if single else target_ratio
    t_comm = comm_seconds_estimate(n_ranks, allreduce_seconds)
    t_row = max(seconds_per_row, 1e-9)
    value = math.floor((t_comm / frac - t_comm) / t_row)
    value = min(value, n_ranks * n_rows * 10)  # at most 10x what -1 would do
    if value > n_rows and (value % n_rows) / n_rows < 0.2:
        value -= value % n_rows  # round down to whole epochs
    value = min(value, int(math.floor(epochs * n_rows / 10)))  # at least 10 iterations
    if single:
        value = min(value, 10 * math.floor(1.0 / t_row))  # at most ~10 s of work
    value = max(1, value)
    return min(100000 * n_ranks, value)


def corrected_tspi(tspi: int, *, comm_seconds: float, iteration_seconds: float, target_ratio: float) -> int:
    """Several ranks, tspi=-2, from iteration 2 on: steer tspi toward the target comm/comp ratio.

    docs/mpi.md: ratio = t_comm / iteration wall time; correction =
    clamp(target / ratio, 0.5, 2); tspi /= correction unless 0.8 <= correction <= 1.2.
    """
    ratio = comm_seconds / max(iteration_seconds, 1e-9)
    correction = min(2.0, max(0.5, target_ratio / ratio))
    if correction < 0.8 or correction > 1.2:
        return max(1, int(tspi / correction))
    return int(tspi)


def continued_layout(
    previous: RunState | None, same_setting: bool, rows_per_rank: list[int], tspi: int
) -> tuple[int, int, list[int]]:
    """(tspi, initial tspi, per-rank samples) a run starts with: a resume on the same rows per rank
    continues the checkpoint's (with the same tspi setting, also its tspi); otherwise they start anew."""
    same_layout = (
        previous is not None
        and previous.rows_per_rank == rows_per_rank
        and len(previous.samples_per_rank) == len(rows_per_rank)
    )
    if not same_layout:
        return tspi, tspi, [0] * len(rows_per_rank)
    counts = [int(v) for v in previous.samples_per_rank]
    if not same_setting:
        return tspi, tspi, counts
    return previous.train_samples_per_iteration or tspi, previous.train_samples_per_iteration_initial or tspi, counts


def plan_iterations(
    eff: dict,
    layout: Layout,
    *,
    rank: int,
    threads: int,
    seconds_per_row: float,
    allreduce_seconds: float,
    previous: RunState | None = None,
    previous_tspi_setting: int | None = None,
) -> IterationPlan:
    """The iteration plan of a run from the effective parameters, the row layout and the measured
    timings; ``previous`` is the run state of the checkpoint being continued (if any)."""
    setting = int(eff["train_samples_per_iteration"])
    n_ranks = layout.n_train_ranks if not layout.single_node else 1
    target_ratio = float(eff["target_ratio_comm_to_comp"])
    tspi = compute_tspi(
        setting,
        n_rows=layout.n_rows,
        epochs=float(eff["epochs"]),
        n_ranks=n_ranks,
        replicated=layout.replicated,
        seconds_per_row=seconds_per_row,
        allreduce_seconds=allreduce_seconds,
        target_ratio=target_ratio,
    )
    tspi, tspi_initial, samples_per_rank = continued_layout(
        previous, previous_tspi_setting == setting, layout.rows_per_rank, tspi
    )
    replicas = layout.n_train_ranks if layout.replicated and not layout.single_node else 1
    n_chunks = visiting.chunk_count(
        layout.rows_per_rank[rank],
        threads=threads,
        reproducible=bool(eff.get("reproducible")),
        force_load_balance=bool(eff["force_load_balance"]),
    )
    shuffle = visiting.shuffles(
        eff["shuffle_training_data"],
        tspi=tspi_initial,
        n_rows=layout.n_rows,
        n_chunks=n_chunks,
        replicated_ranks=replicas,
    )
    several = len(layout.rows_per_rank) > 1 and not layout.single_node
    return IterationPlan(
        tspi=tspi,
        tspi_initial=tspi_initial,
        samples_per_rank=samples_per_rank,
        n_chunks=n_chunks,
        shuffle=shuffle,
        replicas=replicas,
        averaging=several,
        auto_tune=setting == -2 and layout.n_train_ranks > 1 and not layout.single_node,
        comm_seconds=comm_seconds_estimate(layout.n_train_ranks, allreduce_seconds),
        target_ratio=target_ratio,
    )


def calibrate(
    net: kernels.Net, hyper: kernels.Hyper, X, T, rows: np.ndarray, threads: int, mini_batch_size: int
) -> float:
    """Seconds per training row on this rank, timed on a throw-away copy of the network (which also
    compiles the kernels): 64 rows to warm up, then up to 2,000 rows timed."""
    probe = net.copy()
    warm = rows[: min(64, rows.size)]
    kernels.train(
        probe,
        hyper,
        X,
        T,
        warm,
        seed=1,
        samples_before=0,
        n_threads=threads,
        mini_batch_size=mini_batch_size,
    )
    sample = rows[: min(2000, rows.size)]
    t0 = time.perf_counter()
    kernels.train(
        probe,
        hyper,
        X,
        T,
        sample,
        seed=2,
        samples_before=0,
        n_threads=threads,
        mini_batch_size=mini_batch_size,
    )
    return (time.perf_counter() - t0) / max(1, sample.size)


GATHER_MAX_BYTES = 32 << 20  # per iteration
GATHER_MAX_ROW_BYTES = 256  # four cache lines: a wider row's sample is long enough to hide its miss


def gather_rows(X: np.ndarray, T: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, targets, positions) to train ``rows`` of X in order: small rows copied into one
    contiguous block first (positions 0, 1, ...), else X itself with ``rows``.

    In the per-sample loop each row was a cache miss that the next 4 us of arithmetic waited
    for (a shuffled row of a 2M-row table: 0.3 us of a hidden=[32] sample); NumPy's copy has
    no work between the rows, so their misses overlap. Only narrow rows, up to GATHER_MAX_BYTES: wide
    rows (784 pixels: a 60 us sample) gain nothing from it."""
    row_bytes = X.shape[1] * X.itemsize
    if row_bytes > GATHER_MAX_ROW_BYTES or rows.size * row_bytes > GATHER_MAX_BYTES:
        return X, T, rows
    return X[rows], T[rows], np.arange(rows.size, dtype=np.int64)


# -- the rows this rank trains on ----------------------------------------------------------
@dataclass
class LocalRows:
    """This rank's part of the training frame, transformed, and the rows of it that it trains."""

    X: np.ndarray  # network inputs of the rank's frame rows
    T: np.ndarray  # targets (zeros for an autoencoder; minus the offset when there is one)
    rows: np.ndarray  # positions in X that training draws from (usable, weight > 0, in the row subset, balanced)
    score_rows: np.ndarray  # positions for the training metrics (the same before class balancing)
    shard: visiting.Shard  # which frame rows X holds (shard.frame_rows maps positions in X to them)
    replicated: bool
    prior: np.ndarray | None = None  # balance_classes: class shares before and after balancing
    sampled: np.ndarray | None = None
    weights: np.ndarray | None = None  # observation weights of X's rows (weights_column), or None
    offsets: np.ndarray | None = None  # offsets of X's rows (offset_column), or None
    truth: np.ndarray | None = None  # the response of X's rows when T holds it minus the offset

    def visit_weights(self) -> np.ndarray | None:
        """The weights of ``rows`` when they differ: equal weights train as no weights (H2O-3 treats
        a constant weights column as none), bit for bit."""
        if self.weights is None or self.rows.size == 0:
            return None
        w = self.weights[self.rows]
        return None if np.all(w == w[0]) else w


@dataclass
class ScoringData:
    """Rank 0's fixed scoring samples and the frames they come from."""

    train_X: np.ndarray
    train_y: np.ndarray | None
    valid_X: np.ndarray | None
    valid_y: np.ndarray | None
    frames: list  # training and validation frame (absolute path, rows): best losses compare only on these
    train_special: tuple = (None, None)  # (weights, offsets) of the training sample's rows
    valid_special: tuple = (None, None)


@dataclass
class _Setup:
    """Everything the loop reads, fixed before the first iteration."""

    model: Model
    eff: dict
    hyper: kernels.Hyper
    threads: int
    data: LocalRows
    plan: IterationPlan
    row_visits: visiting.Visiting  # which of its rows this rank visits in each iteration
    trains: bool  # this rank trains rows
    target_samples: float  # epochs * N
    monitor: Monitor | None  # rank 0 only


class Trainer:
    """One training run on every rank of ``comm``."""

    def __init__(
        self,
        params: DeepLearningParameters,
        dinfo: DataInfo,
        training_frame: Frame,
        validation_frame: Frame | None = None,
        *,
        comm=None,
        threads: int | None = None,
        hooks: list[TrainHook] | None = None,
        checkpoint_model: Model | None = None,
        progress=None,
        training_rows: np.ndarray | None = None,
        validation_rows: np.ndarray | None = None,
    ) -> None:
        self.comm = comm or comm_mod.world()
        self.params = params
        self.dinfo = dinfo
        self.training_frame = training_frame
        self.validation_frame = validation_frame
        self.hooks = list(hooks or [])
        for hook in self.hooks:
            if not isinstance(hook, TrainHook):
                raise TypeError(f"hooks: {hook!r} is not a hpcdl.train.TrainHook (subclass it)")
        self.checkpoint_model = checkpoint_model
        self.progress = progress
        self.threads_requested = threads
        # Row subsets (sorted frame row indices; None = all rows): cross-validation trains a fold model
        # on some rows of the training frame and validates it on others without copying the frame.
        self.training_rows = training_rows
        self.validation_rows = validation_rows

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> Model:
        """Train on every rank until the epochs are done or the ranks agree to stop; returns the model."""
        t_start = time.time()
        setup = self._set_up(t_start)
        ctx = TrainContext(setup.model, self.comm)
        # BLAS on one thread for the whole loop, scoring included: after a call on two
        # threads OpenBLAS's second thread spins ~0.1 s before it sleeps, on the core of a
        # per-sample team member, whose partner then waits at every barrier (measured: the
        # team waited 25-37% of the time after each scoring instead of 5%, and went on
        # with one thread in 3 of 4 ten-epoch runs; 0 of 3 with one BLAS thread). hpcdl's
        # inference runs on Numba's threads, not on BLAS.
        with blas_threads(1):
            decision = self._loop(setup, ctx)
        self._finish(setup, decision, ctx, t_start)
        return setup.model

    def _loop(self, setup: _Setup, ctx: TrainContext) -> StopReason:
        """Iterations until the ranks agree to stop; returns why they stopped."""
        comm, model, eff, hyper = self.comm, setup.model, setup.eff, setup.hyper
        threads, plan = setup.threads, setup.plan
        X, T, state = setup.data.X, setup.data.T, model.run
        tspi, decision = state.train_samples_per_iteration, StopReason.CONTINUE
        while decision is StopReason.CONTINUE:
            iteration, samples = state.iterations + 1, state.samples
            t0 = time.perf_counter()
            mine, counts = self._take_rows(setup, iteration, tspi)
            if mine.size:
                Xi, Ti, at = gather_rows(X, T, mine)
                together = kernels.train(
                    model.net,
                    hyper,
                    Xi,
                    Ti,
                    at,
                    seed=_mix_seed(eff["seed"], iteration, comm.rank),
                    samples_before=samples,
                    n_threads=threads,
                    mini_batch_size=int(eff.get("mini_batch_size", 1)),
                )
                if together < mine.size:
                    _warn_team_fell_back(threads)
            t1 = time.perf_counter()
            ctx.rows = setup.data.shard.frame_rows(mine)
            if plan.averaging and any(counts):  # a mean over the ranks that trained rows this iteration (H2O)
                for hook in self.hooks:
                    hook.before_average(ctx)
                self._average(model.net, mine.size > 0, sum(1 for c in counts if c), bool(eff.get("reproducible")))
            t2 = time.perf_counter()
            state.advance(counts, seconds=t2 - t0, averaging_seconds=t2 - t1)
            next_tspi = tspi
            if setup.monitor is not None:  # rank 0
                ctx.decision = setup.monitor.decide()
                next_tspi = plan.next_tspi(tspi, iteration, t2 - t0)
            for hook in self.hooks:
                hook.after_iteration(ctx)
            decision, tspi = self._agree(ctx.decision, next_tspi, ctx.stop_requested)
            state.train_samples_per_iteration = tspi
        return decision

    def _take_rows(self, setup: _Setup, iteration: int, tspi: int) -> tuple[np.ndarray, list[int]]:
        """This rank's rows of ``iteration`` (positions in its X) and every rank's count, cut so that the
        run ends at exactly ``epochs * N`` samples."""
        comm = self.comm
        mine = setup.data.rows[setup.row_visits.positions(iteration, tspi)] if setup.trains else np.empty(0, np.int64)
        remaining = int(math.ceil(setup.target_samples - setup.model.run.samples))
        counts = visiting.cut_to(comm.allgather(int(mine.size)), remaining)  # never overshoot epochs
        return mine[: counts[comm.rank]], counts

    def _average(self, net: kernels.Net, trains: bool, n_train_ranks: int, reproducible: bool) -> None:
        """Replace every rank's state buffer by the plain mean over the ranks that trained (docs/mpi.md)."""
        buf = net.buffer
        if not trains:
            buf[...] = 0.0
        if reproducible:
            comm_mod.reduce_sum_ordered(self.comm, buf)
        else:
            self.comm.allreduce_sum(buf)
        buf *= np.float32(1.0 / n_train_ranks)

    def _agree(self, decision: StopReason, tspi: int, stop_requested: bool) -> tuple[StopReason, int]:
        """Rank 0's decision and next tspi on every rank; a stop asked for by a hook on any rank stops all."""
        requested = self.comm.allreduce_scalar(int(stop_requested), op="max")
        decision, tspi = self.comm.bcast((decision, tspi) if self.comm.rank == 0 else None)
        if decision is StopReason.CONTINUE and requested:
            decision = StopReason.SIGNAL
        return decision, tspi

    def _finish(self, setup: _Setup, decision: StopReason, ctx: TrainContext, t_start: float) -> None:
        """Rank 0 settles the final model (best or last good); every rank gets it, then the hooks run."""
        comm, model = self.comm, setup.model
        if setup.monitor is not None:
            setup.monitor.finish(decision)
        comm.bcast_array(model.net.buffer, root=0)
        model.scoring_events = comm.bcast(model.scoring_events if comm.rank == 0 else None)
        for key in ("training_metrics", "validation_metrics", "variable_importances"):
            setattr(model, key, comm.bcast(getattr(model, key) if comm.rank == 0 else None))
        run = model.run
        ending = ("stop_reason", "diverged", "best_iteration", "samples_per_second", "monitor", "scoring_seconds_total")
        for key, value in zip(ending, comm.bcast([getattr(run, k) for k in ending] if comm.rank == 0 else None)):
            setattr(run, key, value)
        run.wall_seconds = time.time() - t_start
        for hook in self.hooks:
            hook.after_training(ctx)
        if run.diverged:
            warnings.warn(run.diverged, stacklevel=3)

    # -- set-up ---------------------------------------------------------------------------
    def _set_up(self, t_start: float) -> _Setup:
        """The model to train, this rank's rows, the iteration plan, the run state and rank 0's monitor."""
        comm = self.comm
        eff = self._effective()
        hyper = hyper_from_params(eff, len(eff["hidden"]))
        model, previous, previous_setting = self._start_model(eff, hyper)
        threads = 1 if eff.get("reproducible") else resolve_threads(self.threads_requested)
        threads = use_threads(threads)
        data = self._local_rows(eff)
        layout = self._layout(eff, data)
        self._warm_up(model.net, hyper, eff)
        seconds_per_row = 1e-4
        if int(eff["train_samples_per_iteration"]) == -2 and data.rows.size:
            mini_batch_size = int(eff.get("mini_batch_size", 1))
            seconds_per_row = calibrate(model.net, hyper, data.X, data.T, data.rows, threads, mini_batch_size)
        seconds_per_row = float(comm.allreduce_scalar(seconds_per_row, op="max"))
        allreduce_seconds = comm_mod.timed_allreduce(comm, model.net.buffer.nbytes)
        plan = plan_iterations(
            eff,
            layout,
            rank=comm.rank,
            threads=threads,
            seconds_per_row=seconds_per_row,
            allreduce_seconds=allreduce_seconds,
            previous=previous,
            previous_tspi_setting=previous_setting,
        )
        self._start_state(model.run, data, layout, plan, threads, seconds_per_row, allreduce_seconds)
        target_samples = float(eff["epochs"]) * layout.n_rows
        if model.run.samples >= target_samples:
            raise comm_mod.mark_agreed(  # the same on every rank: the counts are agreed
                TrainingError(
                    f"epochs={eff['epochs']} must be larger than the {model.run.epochs:.4g} epochs "
                    "already trained (on checkpoint restart epochs is the new total)"
                )
            )
        monitor = None
        if comm.rank == 0:  # scoring frames live on rank 0 only
            max_runtime = float(eff.get("max_runtime_secs") or 0.0)
            deadline = t_start + max_runtime if max_runtime else None
            monitor = Monitor(model, eff, self._scoring_data(eff, data), target_samples, deadline, self.progress)
            if model.dinfo.autoencoder and not model.scoring_events:
                monitor.score(0.0, first=True)  # H2O scores the untrained autoencoder once
        row_visits = visiting.Visiting(
            data.rows.size,
            layout.n_rows,
            plan.replicas,
            plan.n_chunks,
            plan.shuffle,
            int(eff["seed"]),
            comm.rank,
            weights=data.visit_weights(),
        )
        trains = layout.training[comm.rank]
        return _Setup(model, eff, hyper, threads, data, plan, row_visits, trains, target_samples, monitor)

    def _warm_up(self, net: kernels.Net, hyper: kernels.Hyper, eff: dict) -> None:
        """Compile (or load) the kernels this run uses before anything is timed, so that samples/s and
        the ETA leave compile time out; the first rank of a node compiles, the others then load."""
        mini_batch_size = int(eff.get("mini_batch_size", 1))
        notice = CompileNotice(kernels.engine_of(mini_batch_size), self.comm, quiet=bool(eff.get("quiet_mode")))
        try:
            work = functools.partial(kernels.warm_up, net, hyper, mini_batch_size=mini_batch_size)
            comm_mod.node_leader_first(self.comm, functools.partial(work, on_compile=notice.start))
        finally:
            notice.stop()

    def _start_model(self, eff: dict, hyper: kernels.Hyper) -> tuple[Model, RunState | None, int | None]:
        """The checkpoint's model (resuming is no restart: its seed, counters and plan continue) or a new
        one; with the checkpoint's run state and tspi setting as they were."""
        if self.checkpoint_model is None:
            return self._new_model(eff, hyper), None, None
        model = self.checkpoint_model
        previous = copy.deepcopy(model.run)
        if self.params.seed in (None, -1):  # keep drawing from the checkpoint's seed
            eff["seed"] = int(model.effective.get("seed", eff["seed"]))
        previous_setting = model.effective.get("train_samples_per_iteration")
        model.params, model.effective = self.params, eff
        return model, previous, previous_setting

    def _effective(self) -> dict:
        dinfo = self.dinfo
        n_classes = len(dinfo.response_domain) if dinfo.classification else None
        eff = self.params.effective(
            classification=bool(dinfo.classification), n_nodes=self.comm.size, n_classes=n_classes
        )
        eff = eff.to_dict() if hasattr(eff, "to_dict") else dict(eff)
        eff["seed"] = comm_mod.shared_seed(self.comm, eff["seed"])
        return eff

    def _new_model(self, eff: dict, hyper: kernels.Hyper) -> Model:
        dinfo = self.dinfo
        units = [dinfo.n_inputs, *eff["hidden"]]
        if dinfo.autoencoder:
            units.append(dinfo.n_inputs)
            output = "autoencoder"
        elif dinfo.classification:
            units.append(len(dinfo.response_domain))
            output = "softmax"
        else:
            units.append(1)
            output = "linear"
        net = kernels.Net(
            units,
            base_activation(eff["activation"]),
            output,
            adaptive_rate=bool(eff["adaptive_rate"]),
            momentum=hyper.has_momentum,
            adam=hyper.adam,
        )
        net.initialize(eff["initial_weight_distribution"], float(eff["initial_weight_scale"]), int(eff["seed"]))
        self.comm.bcast_array(net.buffer, root=0)
        model_id = eff.get("model_id") or comm_mod.from_rank0(self.comm, Model.new_id)
        return Model(model_id=model_id, params=self.params, effective=eff, dinfo=dinfo, net=net)

    def _local_rows(self, eff: dict) -> LocalRows:
        """This rank's part of the training frame (all of it when replicated, else its shard) and the
        rows it trains: the usable ones of the row subset, balanced when balance_classes asks."""
        comm, frame = self.comm, self.training_frame
        replicated = bool(eff["replicate_training_data"]) and comm.size > 1
        shard = visiting.shard(frame.nrow, comm.rank, comm.size, replicated=replicated)  # docs/mpi.md
        part = frame if shard.whole else frame.blocks(shard.first, shard.block, shard.step)
        X, y, valid = self.dinfo.transform(part)
        weights, offsets = self.dinfo.special_rows(part)
        if weights is not None:
            valid &= weights > 0  # a row of weight 0 counts for nothing: not trained, not in N
        rows = np.flatnonzero(valid).astype(np.int64)
        if self.training_rows is not None:
            wanted = np.zeros(frame.nrow, dtype=bool)
            wanted[self.training_rows] = True
            rows = rows[wanted[shard.frame_rows(rows)]]
        if rows.size == 0 and (replicated or comm.size == 1):  # every rank holds the same rows: agreed
            skip = " or a missing predictor (missing_values_handling=Skip)"
            zero = f" or weight 0 in {self.dinfo.weights_column!r}" if weights is not None else ""
            raise comm_mod.mark_agreed(
                TrainingError(
                    f"{frame.display_name}: no usable training rows (all rows have a missing response"
                    f"{skip if eff['missing_values_handling'] == 'Skip' else ''}{zero})"
                )
            )
        T = np.zeros(len(X), np.float32) if y is None else np.nan_to_num(y.astype(np.float32), nan=0.0)
        truth = None
        if offsets is not None:  # the net learns y - offset: every loss here is one of f - y (identity link)
            truth, T = T, (T - offsets * self.dinfo.y_mul).astype(np.float32)
        data = LocalRows(X, T, rows, score_rows=rows, shard=shard, replicated=replicated)
        data.weights, data.offsets, data.truth = weights, offsets, truth
        if not shard.whole and self.dinfo.classification:
            self._warn_unrepresentative(y, rows)
        if eff.get("balance_classes") and self.dinfo.classification:
            self._balance(eff, data, y)
        return data

    def _warn_unrepresentative(self, y: np.ndarray, rows: np.ndarray) -> None:
        """Rank 0 warns once when a class is missing from a rank's shard, or its share there differs
        grossly from the whole frame's: the averaged model then drifts (docs/mpi.md)."""
        n_classes = len(self.dinfo.response_domain)
        counts = self.comm.allgather(np.bincount(y[rows].astype(np.int64), minlength=n_classes))
        problem = visiting.unrepresentative_class(np.array(counts), self.dinfo.response_domain)
        if problem:
            _warn_once(
                f"{self.training_frame.display_name}: {problem}; set replicate_training_data = true, "
                "or shuffle the file's rows"
            )

    def _balance(self, eff: dict, data: LocalRows, y: np.ndarray) -> None:
        """balance_classes: over/under-sample the rows per class. Replicated ranks draw the same balanced
        rows (one balanced frame, as H2O); shards differ, balanced with the ratios of the whole frame."""
        comm = self.comm
        n_classes = len(self.dinfo.response_domain)
        codes = y[data.rows].astype(np.int64)
        sharded = not data.replicated and comm.size > 1
        factors = eff.get("class_sampling_factors")
        counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
        if sharded:
            counts = comm.allreduce_sum(counts)
            if factors is None:
                present = counts > 0
                factors = np.zeros(n_classes)
                factors[present] = (counts.sum() / n_classes) / counts[present]
                factors /= factors[present].min()
        picked, data.prior, data.sampled = balance_classes(
            codes,
            n_classes,
            class_sampling_factors=factors,
            max_after_balance_size=float(eff.get("max_after_balance_size", 5.0)),
            seed=int(eff["seed"]) + (comm.rank if sharded else 0),
        )
        data.rows = data.rows[picked]
        if sharded:
            after = comm.allreduce_sum(np.bincount(codes[picked], minlength=n_classes).astype(np.float64))
            data.prior, data.sampled = counts / counts.sum(), after / max(1.0, after.sum())

    def _layout(self, eff: dict, data: LocalRows) -> Layout:
        comm = self.comm
        single_node = bool(eff.get("single_node_mode")) and data.replicated
        trains = (comm.rank == 0 or not single_node) and data.rows.size > 0
        training = comm.allgather(bool(trains))
        layout = Layout(comm.allgather(int(data.rows.size)), training, data.replicated, single_node)
        if layout.n_rows == 0:
            raise comm_mod.mark_agreed(TrainingError(f"{self.training_frame.display_name}: no usable training rows"))
        return layout

    def _start_state(
        self,
        run: RunState,
        data: LocalRows,
        layout: Layout,
        plan: IterationPlan,
        threads: int,
        seconds_per_row: float,
        allreduce_seconds: float,
    ) -> None:
        """The run state at the start: counters continue (a checkpoint's), the layout is this run's."""
        chunks_and_shuffle = self.comm.allgather((plan.n_chunks, plan.shuffle))  # per rank: shards may differ
        run.stop_reason = run.diverged = run.best_iteration = None  # a run in progress has not ended
        run.ranks, run.threads, run.training_ranks = self.comm.size, threads, layout.n_train_ranks
        run.rows_per_rank, run.n_training_rows = list(layout.rows_per_rank), layout.n_rows
        run.replicated, run.single_node_mode = layout.replicated, layout.single_node
        run.row_chunks_per_rank = [int(c) for c, _ in chunks_and_shuffle]
        run.shuffled_per_rank = [bool(f) for _, f in chunks_and_shuffle]
        run.train_samples_per_iteration, run.train_samples_per_iteration_initial = plan.tspi, plan.tspi_initial
        run.samples_per_rank = list(plan.samples_per_rank)
        run.seconds_per_row_calibrated, run.allreduce_seconds = seconds_per_row, allreduce_seconds
        run.allreduce_seconds_total = 0.0  # this run's time in averaging
        if data.prior is not None:
            run.class_prior = np.asarray(data.prior).tolist()
            run.class_sampled_prior = np.asarray(data.sampled).tolist()

    def _scoring_data(self, eff: dict, data: LocalRows) -> ScoringData:
        """Rank 0's fixed scoring samples: training rows (before balancing) and validation rows."""
        dinfo, seed = self.dinfo, int(eff["seed"])
        n_score = int(eff["score_training_samples"])
        frame = self.training_frame
        if data.replicated or self.comm.size == 1:
            pick = _score_sample(data.score_rows.size, n_score, seed)
            idx = data.score_rows if pick is None else data.score_rows[pick]
            truth = data.T if data.truth is None else data.truth
            train_X, train_y = data.X[idx], None if dinfo.autoencoder else truth[idx]
            train_special = tuple(None if v is None else v[idx] for v in (data.weights, data.offsets))
        else:  # sharded: draw the sample from the whole frame
            subset = self.training_rows
            pick = _score_sample(frame.nrow if subset is None else len(subset), n_score, seed)
            if subset is not None:
                pick = subset if pick is None else subset[pick]
            train_X, train_y, train_special = _usable_rows(dinfo, frame, pick)
        valid_X = valid_y = None
        valid_special: tuple = (None, None)
        vf = self.validation_frame
        if vf is not None:
            Xv, yv, special = _usable_rows(dinfo, vf, self.validation_rows)
            n_valid = int(eff["score_validation_samples"])
            if (
                eff.get("score_validation_sampling") == "Stratified"
                and dinfo.classification
                and eff.get("balance_classes")
            ):
                pick = _stratified_sample(yv, n_valid, seed + 1)
            else:
                pick = _score_sample(len(Xv), n_valid, seed + 1)
            valid_X, valid_y = (Xv, yv) if pick is None else (Xv[pick], None if yv is None else yv[pick])
            valid_special = tuple(v if v is None or pick is None else v[pick] for v in special)
        frames = [
            os.path.abspath(frame.path),
            int(frame.nrow),
            None if vf is None else os.path.abspath(vf.path),
            None if vf is None else int(vf.nrow),
        ]
        return ScoringData(train_X, train_y, valid_X, valid_y, frames, train_special, valid_special)


def _usable_rows(dinfo: DataInfo, frame: Frame, rows: np.ndarray | None) -> tuple:
    """(X, y, (weights, offsets)) of the usable rows among frame rows ``rows`` (None = all)."""
    X, y, valid = dinfo.transform_rows(frame, rows)
    special = dinfo.special_rows(frame, rows)
    return X[valid], None if y is None else y[valid], tuple(None if v is None else v[valid] for v in special)


class CompileNotice:
    """The lines a rank prints while it compiles kernels (a Numba cache miss): one that says so and
    about how long it takes, then one every TICK seconds, so the terminal is never silent for long."""

    TICK = 5.0

    def __init__(self, engine: str, comm, quiet: bool) -> None:
        self.engine, self.quiet = engine, quiet
        self.who = f"rank {comm.rank}: " if comm.size > 1 else ""
        self.started = None
        self.done = None

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(f"hpcdl: {self.who}{text}", file=sys.stderr, flush=True)

    def start(self) -> None:
        import threading

        self.started, self.done = time.perf_counter(), threading.Event()
        estimate = kernels.COMPILE_SECONDS[self.engine] + kernels.COMPILE_SECONDS["inference"]
        self._say(
            f"compiling the {self.engine} training and inference kernels for this CPU (first run of this "
            f"install; about {estimate} s on 2 cores, then loaded from Numba's cache)"
        )
        threading.Thread(target=self._tick, daemon=True).start()

    def _tick(self) -> None:
        while not self.done.wait(self.TICK):
            self._say(f"still compiling ({time.perf_counter() - self.started:.0f} s)")

    def stop(self) -> None:
        if self.started is not None and not self.done.is_set():
            self.done.set()
            self._say(f"kernels compiled in {time.perf_counter() - self.started:.1f} s")


# -- rank 0: scoring, the best model, the stop decision -------------------------------------
class Monitor:
    """Rank 0's watch over a run: scores when due, keeps the best model, decides whether to stop.

    Its memory (best loss, early-stopping window) is ``model.run.monitor`` and the best model
    ``model.best_buffer``, so a checkpoint carries both; they continue only on the same frames.
    """

    def __init__(
        self, model: Model, eff: dict, scoring: ScoringData, target_samples: float, deadline: float | None, progress
    ) -> None:
        self.model, self.eff, self.scoring = model, eff, scoring
        self.target_samples, self.deadline = target_samples, deadline
        self.progress = None if eff.get("quiet_mode") else progress
        last = model.scoring_events[-1] if model.scoring_events else {}
        self.start = time.time() - float(last.get("duration", 0.0))  # durations continue on a restart
        self.last_score_start = 0.0
        self.last_score_duration = 0.0
        # the wait before the next scoring: H2O's score_interval, or what score_progress's rule says
        self.wait = float(eff["score_interval"])
        self.curve: tuple[list[float], list[float]] = ([], [])  # (seconds since start, loss) per scoring
        model.run.scoring_seconds_total = 0.0  # this run's time in scoring, as allreduce_seconds_total
        self.last_good = model.net.buffer.copy()
        self.stop_key, self.higher_better = metrics.metric_for_stopping(eff.get("stopping_metric", "AUTO"), model.kind)
        state = model.run.monitor
        if state.frames != scoring.frames:  # best losses compare only on the same frames
            model.run.monitor = MonitorState(frames=scoring.frames)
        if model.run.monitor.best_row is None:
            model.best_buffer = None

    def score(self, speed: float, first: bool = False) -> None:
        """Metrics on the scoring samples now, as a new scoring-history row."""
        model, run = self.model, self.model.run
        t0 = time.time()
        s = self.scoring
        # wide nets score through batched BLAS inference (3x faster than the row loop there), so
        # scoring can come often within score_duty_cycle; small nets keep the loop (docs/scoring.md)
        engine = kernels.scoring_engine(model.net)
        train_m = model.score_arrays(s.train_X, s.train_y, engine=engine, special=s.train_special)
        valid_m = (
            model.score_arrays(s.valid_X, s.valid_y, engine=engine, special=s.valid_special)
            if s.valid_X is not None
            else {}
        )
        model.training_metrics, model.validation_metrics = train_m, valid_m
        if self.eff.get("variable_importances") and not first:
            model.variable_importances = compute_varimp(model)
        row = {
            "timestamp": _dt.datetime.now().isoformat(timespec="seconds"),
            "duration": round(time.time() - self.start, 3),
            "training_speed": round(speed, 1),
            "epochs": run.epochs,
            "iterations": run.iterations,
            "samples": run.samples,
        }
        row.update(_flatten_metrics("training", train_m))
        row.update(_flatten_metrics("validation", valid_m))
        model.scoring_events.append(row)
        self.last_score_duration = time.time() - t0
        run.scoring_seconds_total += self.last_score_duration
        if self.progress is not None:
            self.progress(row, model)

    def decide(self) -> StopReason:
        """After an iteration: score when due, remember the best model, and say whether to stop."""
        model, eff, run = self.model, self.eff, self.model.run
        if not np.isfinite(model.net.buffer).all():
            return StopReason.DIVERGED
        finished = run.samples >= self.target_samples
        out_of_time = self.deadline is not None and time.time() > self.deadline
        now = time.time()
        since = now - self.last_score_start
        due = (
            finished
            or out_of_time
            or not model.scoring_events
            or eff.get("score_each_iteration")
            or (since > self.wait and self.last_score_duration / max(since, 1e-9) < float(eff["score_duty_cycle"]))
        )
        if not due:
            return StopReason.CONTINUE
        self.last_score_start = now
        run.samples_per_second = run.samples / max(run.train_seconds, 1e-9)
        self.score(run.samples_per_second)
        if not _metrics_finite(model.training_metrics):
            return StopReason.DIVERGED
        self.last_good = model.net.buffer.copy()
        m = model.validation_metrics or model.training_metrics
        loss = metrics.model_loss(m, eff.get("stopping_metric", "AUTO"), model.kind)
        self._plan_next(now - self.start, loss)
        best = run.monitor
        if not finished and not (loss >= best.best_loss):
            best.best_loss, best.best_row = loss, len(model.scoring_events)
            model.best_buffer = model.net.buffer.copy()
        if finished:
            return StopReason.EPOCHS
        if out_of_time:
            return StopReason.TIME_LIMIT
        return self._stop_early(m, best)

    def _plan_next(self, at: float, loss: float) -> None:
        """score_progress > 0: the next wait follows the loss curve (hpcdl/scoring.py); else H2O's interval."""
        step = float(self.eff.get("score_progress") or 0.0)
        if step <= 0:
            return
        times, losses = self.curve
        times.append(at)
        losses.append(loss)
        self.wait = scoring.progress_wait(
            times,
            losses,
            step=step,
            interval=float(self.eff["score_interval"]),
            duty_cycle=float(self.eff["score_duty_cycle"]),
            last_duration=self.last_score_duration,
        )

    def _stop_early(self, m: dict, best: MonitorState) -> StopReason:
        """classification_stop / regression_stop on the training metrics, then stopping_rounds."""
        eff, tm, kind = self.eff, self.model.training_metrics, self.model.kind
        cstop = float(eff.get("classification_stop", 0))
        rstop = float(eff.get("regression_stop", 1e-6))
        if kind in ("binomial", "multinomial") and cstop >= 0 and tm.get("classification_error", 1) <= cstop:
            return StopReason.EARLY_STOP
        if kind in ("regression", "autoencoder") and rstop >= 0 and tm.get("MSE", math.inf) <= rstop:
            return StopReason.EARLY_STOP
        k = int(eff.get("stopping_rounds", 0))
        if k > 0:
            best.stop_values.append(float(m.get(self.stop_key, math.nan)))
            if metrics.stop_early(best.stop_values, k, float(eff.get("stopping_tolerance", 0.0)), self.higher_better):
                return StopReason.EARLY_STOP
        return StopReason.CONTINUE

    def finish(self, decision: StopReason) -> None:
        """The run's end on rank 0: after divergence the best (else the last good) model; otherwise the
        best model when overwrite_with_best_model asks for it and it beats the last one."""
        model, eff, run = self.model, self.eff, self.model.run
        run.stop_reason = decision
        if decision is StopReason.DIVERGED:
            model.net.buffer[...] = model.best_buffer if model.best_buffer is not None else self.last_good
            run.diverged = (
                f"training diverged at iteration {run.iterations} (NaN/Inf in the weights or the "
                "training loss); kept the last good model. Try a smaller rate, adaptive_rate=True, "
                "max_w2, or l1/l2 regularization."
            )
            self.score(run.samples_per_second or 0.0)
            return
        if decision is StopReason.SIGNAL:
            return
        if eff.get("overwrite_with_best_model") and model.best_buffer is not None:
            current = metrics.model_loss(
                model.validation_metrics or model.training_metrics, eff.get("stopping_metric", "AUTO"), model.kind
            )
            if run.monitor.best_loss < current:
                model.net.buffer[...] = model.best_buffer
                run.best_iteration = run.monitor.best_row
                self.score(run.samples_per_second or 0.0)  # H2O appends a final row for the best model


# -- scoring samples and metrics ------------------------------------------------------------
def _score_sample(n_rows: int, wanted: int, seed: int) -> np.ndarray | None:
    """Indices of a fixed uniform scoring sample (None = all rows)."""
    if wanted <= 0 or wanted >= n_rows:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=wanted, replace=False))


def _stratified_sample(y: np.ndarray, wanted: int, seed: int) -> np.ndarray | None:
    if wanted <= 0 or wanted >= len(y):
        return None
    rng = np.random.default_rng(seed)
    picks = []
    classes, counts = np.unique(y, return_counts=True)
    per = max(1, wanted // len(classes))
    for c, n in zip(classes, counts):
        idx = np.flatnonzero(y == c)
        picks.append(rng.choice(idx, size=min(n, per), replace=False))
    return np.sort(np.concatenate(picks))


def _flatten_metrics(prefix: str, m: dict) -> dict:
    keys = metrics.metric_keys("history")
    return {f"{prefix}_{k.lower()}": m[k] for k in keys if k in m and m[k] is not None}


def _metrics_finite(m: dict) -> bool:
    for key in ("MSE", "logloss"):
        v = m.get(key)
        if v is not None and not np.isfinite(v):
            return False
    return True
