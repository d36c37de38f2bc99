"""The training loop on one rank: take rows, train, average, advance, agree, run hooks.

Every rank runs :meth:`Trainer.run`. In each iteration every training rank takes its rows
(a random sample of about its share of ``train_samples_per_iteration``, tspi, drawn as
H2O-3 draws it: ``hpcdl/rows.py``) and trains them with its HOGWILD! threads
(``hpcdl/kernels``); the ranks average the whole state buffer (weights, biases, optimizer
state); the run state (``hpcdl/runstate.py``) counts the iteration; rank 0's
:class:`Monitor` scores when due and decides whether to go on; the hooks run (checkpoints
and signals: ``hpcdl/lifecycle.py``; the live UI; tests) and may ask to stop; the ranks
agree on the decision, so none is left waiting in a collective (docs/mpi.md, "One
iteration").

Its parts live in rooms of their own: how big the iterations are and which rows they visit
is planned before the loop by pure functions of row counts and timings
(``hpcdl/planning.py``); the rows this rank trains on and their layout on the ranks are
``hpcdl/localrows.py``; rank 0's scoring samples and :class:`Monitor` are
``hpcdl/monitor.py``; the thread count is decided once in ``hpcdl/threads.py``.

The ranks talk only through the comm object (``hpcdl/comm.py``); this module writes no file.
"""

from __future__ import annotations

import copy
import functools
import math
import sys
import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np

from . import comm as comm_mod
from . import kernels
from . import rows as visiting
from .comm import Comm
from .frame import Frame
from .localrows import LocalRows, local_rows, row_layout
from .model import Model, base_activation, hyper_from_params
from .monitor import Monitor, scoring_data
from .params import DeepLearningParameters
from .planning import IterationPlan, RowLayout, plan_iterations
from .prep import DataInfo
from .rows import mix_seed as _mix_seed
from .runstate import RunState, StopReason, TrainingError
from .threads import blas_threads, training_threads, warn_team_fell_back


# -- what hooks see and do ---------------------------------------------------------------
@dataclass
class TrainContext:
    """What the loop shares with hooks: the model (its counters are ``model.run``) and the last rows."""

    model: Model
    comm: Comm
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


# -- timings and row blocks for the kernels --------------------------------------------------
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


@dataclass
class _Setup:
    """Everything the loop reads, fixed before the first iteration."""

    model: Model
    eff: DeepLearningParameters
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
        comm: Comm | None = None,
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
                    seed=_mix_seed(eff.seed, iteration, comm.rank),
                    samples_before=samples,
                    n_threads=threads,
                    mini_batch_size=int(eff.mini_batch_size),
                )
                if together < mine.size:
                    warn_team_fell_back(threads)
            t1 = time.perf_counter()
            ctx.rows = setup.data.shard.frame_rows(mine)
            if plan.averaging and any(counts):  # a mean over the ranks that trained rows this iteration (H2O)
                for hook in self.hooks:
                    hook.before_average(ctx)
                self._average(model.net, mine.size > 0, sum(1 for c in counts if c), bool(eff.reproducible))
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
        hyper = hyper_from_params(eff)
        model, previous, previous_setting = self._start_model(eff, hyper)
        threads = training_threads(self.threads_requested, reproducible=bool(eff.reproducible))
        data = local_rows(comm, self.dinfo, self.training_frame, eff, self.training_rows)
        layout = row_layout(comm, eff, data, self.training_frame)
        self._warm_up(model.net, hyper, eff)
        seconds_per_row = 1e-4
        if int(eff.train_samples_per_iteration) == -2 and data.rows.size:
            mini_batch_size = int(eff.mini_batch_size)
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
        target_samples = float(eff.epochs) * layout.n_rows
        if model.run.samples >= target_samples:
            raise comm_mod.mark_agreed(  # the same on every rank: the counts are agreed
                TrainingError(
                    f"epochs={eff.epochs} must be larger than the {model.run.epochs:.4g} epochs "
                    "already trained (on checkpoint restart epochs is the new total)"
                )
            )
        monitor = None
        if comm.rank == 0:  # scoring frames live on rank 0 only
            max_runtime = float(eff.max_runtime_secs or 0.0)
            deadline = t_start + max_runtime if max_runtime else None
            scoring = scoring_data(
                comm,
                self.dinfo,
                eff,
                data,
                self.training_frame,
                self.training_rows,
                self.validation_frame,
                self.validation_rows,
            )
            monitor = Monitor(model, eff, scoring, target_samples, deadline, self.progress)
            if model.dinfo.autoencoder and not model.scoring_events:
                monitor.score(0.0, first=True)  # H2O scores the untrained autoencoder once
        row_visits = visiting.Visiting(
            data.rows.size,
            layout.n_rows,
            plan.replicas,
            plan.n_chunks,
            plan.shuffle,
            int(eff.seed),
            comm.rank,
            weights=data.visit_weights(),
        )
        trains = layout.training[comm.rank]
        return _Setup(model, eff, hyper, threads, data, plan, row_visits, trains, target_samples, monitor)

    def _warm_up(self, net: kernels.Net, hyper: kernels.Hyper, eff: DeepLearningParameters) -> None:
        """Compile (or load) the kernels this run uses before anything is timed, so that samples/s and
        the ETA leave compile time out; the first rank of a node compiles, the others then load."""
        mini_batch_size = int(eff.mini_batch_size)
        notice = CompileNotice(kernels.engine_of(mini_batch_size), self.comm, quiet=bool(eff.quiet_mode))
        try:
            work = functools.partial(kernels.warm_up, net, hyper, mini_batch_size=mini_batch_size)
            comm_mod.node_leader_first(self.comm, functools.partial(work, on_compile=notice.start))
        finally:
            notice.stop()

    def _start_model(
        self, eff: DeepLearningParameters, hyper: kernels.Hyper
    ) -> tuple[Model, RunState | None, int | None]:
        """The checkpoint's model (resuming is no restart: its seed, counters and plan continue) or a new
        one; with the checkpoint's run state and tspi setting as they were."""
        if self.checkpoint_model is None:
            return self._new_model(eff, hyper), None, None
        model = self.checkpoint_model
        previous = copy.deepcopy(model.run)
        previous_setting = model.effective.train_samples_per_iteration
        model.params, model.effective = self.params, eff
        return model, previous, previous_setting

    def _effective(self) -> DeepLearningParameters:
        """The effective parameters, the one record this run reads; its seed drawn first: the user's, or
        for -1 a resumed checkpoint's (it keeps drawing from it), else one drawn once for all ranks."""
        dinfo, seed = self.dinfo, self.params.seed
        n_classes = len(dinfo.response_domain) if dinfo.classification else None
        if seed in (None, -1) and self.checkpoint_model is not None:
            seed = self.checkpoint_model.effective.seed
        seed = comm_mod.shared_seed(self.comm, seed)
        return self.params.effective(
            classification=bool(dinfo.classification), n_nodes=self.comm.size, n_classes=n_classes, seed=seed
        )

    def _new_model(self, eff: DeepLearningParameters, hyper: kernels.Hyper) -> Model:
        dinfo = self.dinfo
        units = [dinfo.n_inputs, *eff.hidden]
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
            base_activation(eff.activation),
            output,
            adaptive_rate=bool(eff.adaptive_rate),
            momentum=hyper.has_momentum,
            adam=hyper.adam,
        )
        net.initialize(eff.initial_weight_distribution, float(eff.initial_weight_scale), int(eff.seed))
        self.comm.bcast_array(net.buffer, root=0)
        model_id = eff.model_id or comm_mod.from_rank0(self.comm, Model.new_id)
        return Model(model_id=model_id, params=self.params, effective=eff, dinfo=dinfo, net=net)

    def _start_state(
        self,
        run: RunState,
        data: LocalRows,
        layout: RowLayout,
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


class CompileNotice:
    """The lines a rank prints while it compiles kernels (a Numba cache miss): one that says so and
    about how long it takes, then one every TICK seconds, so the terminal is never silent for long."""

    TICK = 4.0  # the front door allows 5 s of silence: a tick at 5.0 landed on the limit (BENCHMARKS.md)

    def __init__(self, engine: str, comm: Comm, quiet: bool) -> None:
        self.engine, self.quiet = engine, quiet
        self.who = f"rank {comm.rank}: " if comm.size > 1 else ""
        self.started = None
        self.done = None

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(f"hpcdl: {self.who}{text}", file=sys.stderr, flush=True)

    def start(self) -> None:
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
