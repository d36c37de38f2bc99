"""The training loop on one rank: sample rows, train, average, score, stop.

Every rank runs this same loop. Per iteration each training rank trains its
share of ``train_samples_per_iteration`` (tspi) with its HOGWILD! threads, the
ranks average the whole state buffer (weights, biases, optimizer state), and
rank 0 scores when due and decides whether to go on; that decision is
broadcast so no rank is left waiting in a collective.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import comm as comm_mod
from . import kernels, metrics
from .frame import Frame, shard_range
from .model import Model, base_activation, compute_varimp, hyper_from_params
from .params import DeepLearningParameters, ParameterError
from .prep import DataInfo, balance_classes
from .threads import use_threads

# Stop reasons broadcast from rank 0 (0 = keep going).
CONTINUE, DONE, EARLY_STOP, TIME_LIMIT, SIGNAL, DIVERGED = range(6)


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the model diverged); the message says why."""


@dataclass
class TrainContext:
    """What the loop shares with hooks (checkpoints, signals, UI): read-only for them."""

    model: Model
    comm: object
    iteration: int = 0
    samples: int = 0
    epochs: float = 0.0
    train_seconds: float = 0.0
    stop_requested: int = CONTINUE  # set by a hook (e.g. SIGTERM) on any rank
    reason: int = CONTINUE  # rank 0: this iteration's stop decision (hooks run after scoring)
    rows: np.ndarray | None = None  # frame row indices this rank trained in the last iteration
    hooks: list = field(default_factory=list)


def resolve_threads(requested: int | None, ranks_per_node: int = 1) -> int:
    """Threads per rank: job setting, then NUMBA_NUM_THREADS, then SLURM_CPUS_PER_TASK, then cores/ranks."""
    if requested:
        return int(requested)
    for var in ("NUMBA_NUM_THREADS", "SLURM_CPUS_PER_TASK"):
        value = os.environ.get(var)
        if value and value.isdigit() and int(value) > 0:
            return int(value)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // max(1, ranks_per_node))


def _mix_seed(*values: int) -> int:
    """A 63-bit seed from several integers (splitmix64 steps)."""
    x = 0x9E3779B97F4A7C15
    for v in values:
        x = (x ^ (int(v) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
    return x & 0x7FFFFFFFFFFFFFFF


class RowStream:
    """The order in which one rank visits its local rows, pass after pass.

    Each shuffled pass draws its permutation from its own seed (seed, pass
    number), so a resumed run re-creates the stream where the checkpoint left
    it: ``taken`` rows after ``start_offset``.
    """

    def __init__(self, rows: np.ndarray, shuffle: bool, seed: int, start_offset: int = 0, taken: int = 0) -> None:
        self.rows = rows
        self.shuffle = shuffle
        self.seed = int(seed)
        n = max(1, len(rows))
        position = start_offset % n + int(taken)
        self.passes = position // n
        self.order = self._new_pass()
        self.pos = position % n

    def _new_pass(self) -> np.ndarray:
        if not self.shuffle:
            return self.rows
        return np.random.default_rng(_mix_seed(self.seed, self.passes)).permutation(self.rows)

    def take(self, n: int) -> np.ndarray:
        out = []
        while n > 0 and len(self.rows):
            chunk = self.order[self.pos : self.pos + n]
            out.append(chunk)
            n -= len(chunk)
            self.pos += len(chunk)
            if self.pos >= len(self.order):
                self.passes += 1
                self.order = self._new_pass()
                self.pos = 0
        return np.concatenate(out).astype(np.int64) if out else np.empty(0, np.int64)


def split_shares(total: int, weights: list[float]) -> list[int]:
    """Integer shares of ``total`` proportional to ``weights`` (largest remainder), summing to total."""
    w = np.asarray(weights, dtype=np.float64)
    if w.sum() <= 0:
        return [0] * len(weights)
    exact = total * w / w.sum()
    shares = np.floor(exact).astype(np.int64)
    for i in np.argsort(-(exact - shares), kind="stable")[: total - int(shares.sum())]:
        shares[i] += 1
    return shares.tolist()


def comm_seconds_estimate(n_ranks: int, allreduce_seconds: float) -> float:
    """Auto-tuning's communication time per iteration, SPEC-detail §3.1 step 1 (``t_comm``, seconds).

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
    """train_samples_per_iteration resolved as SPEC §5 / SPEC-detail §3.1 say (special values 0, -1, -2).

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

    SPEC-detail §3.1: ratio = t_comm / iteration wall time; correction =
    clamp(target / ratio, 0.5, 2); tspi /= correction unless 0.8 <= correction <= 1.2.
    """
    ratio = comm_seconds / max(iteration_seconds, 1e-9)
    correction = min(2.0, max(0.5, target_ratio / ratio))
    if correction < 0.8 or correction > 1.2:
        return max(1, int(tspi / correction))
    return int(tspi)


def _test_failure_point() -> tuple[int, int]:
    """(rank, iteration) at which HPCDL_TEST_FAIL_RANK asks the loop to raise; (-1, -1) when unset.

    A test hook for the abort-on-error path: ``HPCDL_TEST_FAIL_RANK=1`` makes rank 1
    raise at iteration ``HPCDL_TEST_FAIL_ITERATION`` (default 2).
    """
    rank = os.environ.get("HPCDL_TEST_FAIL_RANK", "")
    if not rank.strip():
        return -1, -1
    return int(rank), int(os.environ.get("HPCDL_TEST_FAIL_ITERATION", "2"))


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


def _read_rows(frame: Frame, dinfo: DataInfo, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Transformed usable rows of a frame: all of them, or those among the sorted indices ``rows``."""
    Xs, ys = [], []
    step = 65536
    for start in range(0, frame.nrow, step):
        stop = min(frame.nrow, start + step)
        X, y, valid = dinfo.transform(frame, start, stop)
        keep = np.flatnonzero(valid)
        if rows is not None:
            keep = np.intersect1d(keep, rows[(rows >= start) & (rows < stop)] - start)
        Xs.append(X[keep])
        ys.append(None if y is None else y[keep])
    X = np.concatenate(Xs) if Xs else np.zeros((0, dinfo.n_inputs), np.float32)
    y = None if (not ys or ys[0] is None) else np.concatenate(ys)
    return X, y


def _flatten_metrics(prefix: str, m: dict) -> dict:
    keys = (
        "MSE",
        "RMSE",
        "logloss",
        "classification_error",
        "mean_per_class_error",
        "AUC",
        "pr_auc",
        "r2",
        "mean_residual_deviance",
        "MAE",
        "lift_top_group",
    )
    out = {}
    for k in keys:
        if k in m and m[k] is not None:
            out[f"{prefix}_{k.lower()}"] = m[k]
    return out


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
        hooks: list | None = None,
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
        self.hooks = hooks or []
        self.checkpoint_model = checkpoint_model
        self.progress = progress
        self.threads_requested = threads
        # Row subsets (sorted frame row indices; None = all rows): cross-validation trains a fold model
        # on some rows of the training frame and validates it on others without copying the frame.
        self.training_rows = training_rows
        self.validation_rows = validation_rows
        self.score_rows: np.ndarray | None = None  # local rows for training metrics (before balancing)

    # -- set-up -----------------------------------------------------------
    def _effective(self) -> dict:
        dinfo = self.dinfo
        n_classes = len(dinfo.response_domain) if dinfo.classification else None
        eff = self.params.effective(
            classification=bool(dinfo.classification), n_nodes=self.comm.size, n_classes=n_classes
        )
        eff = eff.to_dict() if hasattr(eff, "to_dict") else dict(eff)
        if eff["seed"] in (-1, None):
            eff["seed"] = int(
                self.comm.bcast(int(np.random.SeedSequence().entropy % (2**62)) if self.comm.rank == 0 else None)
            )
        return eff

    def _new_model(self, eff: dict) -> Model:
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
        momentum = (not eff["adaptive_rate"]) and (eff["momentum_start"] != 0 or eff["momentum_stable"] != 0)
        net = kernels.Net(
            units,
            base_activation(eff["activation"]),
            output,
            adaptive_rate=bool(eff["adaptive_rate"]),
            momentum=momentum,
        )
        net.initialize(eff["initial_weight_distribution"], float(eff["initial_weight_scale"]), int(eff["seed"]))
        self.comm.bcast_array(net.buffer, root=0)
        model_id = eff.get("model_id") or self.comm.bcast(Model.new_id() if self.comm.rank == 0 else None)
        return Model(model_id=model_id, params=self.params, effective=eff, dinfo=dinfo, net=net)

    def _local_rows(self, eff: dict):
        comm = self.comm
        frame = self.training_frame
        replicated = bool(eff["replicate_training_data"]) and comm.size > 1
        start, stop = (0, frame.nrow) if replicated else shard_range(frame.nrow, comm.rank, comm.size)
        X, y, valid = self.dinfo.transform(frame, start, stop)
        rows = np.flatnonzero(valid).astype(np.int64)
        if self.training_rows is not None:
            wanted = np.zeros(frame.nrow, dtype=bool)
            wanted[self.training_rows] = True
            rows = rows[wanted[start + rows]]
        if rows.size == 0 and (replicated or comm.size == 1):
            raise TrainingError(
                f"{frame.path}: no usable training rows (all rows have a missing response"
                f"{' or a missing predictor (missing_values_handling=Skip)' if eff['missing_values_handling'] == 'Skip' else ''})"
            )
        T = np.zeros(len(X), np.float32) if y is None else np.nan_to_num(y.astype(np.float32), nan=0.0)
        prior = sampled = None
        self.score_rows = rows  # training metrics on the original rows, not the balanced ones
        if eff.get("balance_classes") and self.dinfo.classification:
            n_classes = len(self.dinfo.response_domain)
            codes = y[rows].astype(np.int64)
            sharded = not replicated and comm.size > 1
            factors = eff.get("class_sampling_factors")
            counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
            if sharded:  # balance every shard with the ratios of the whole frame
                counts = comm.allreduce_sum(counts)
                if factors is None:
                    present = counts > 0
                    factors = np.zeros(n_classes)
                    factors[present] = (counts.sum() / n_classes) / counts[present]
                    factors /= factors[present].min()
            # Replicated ranks draw the same balanced rows (one balanced frame, as H2O); shards differ.
            picked, prior, sampled = balance_classes(
                codes,
                n_classes,
                class_sampling_factors=factors,
                max_after_balance_size=float(eff.get("max_after_balance_size", 5.0)),
                seed=int(eff["seed"]) + (comm.rank if sharded else 0),
            )
            rows = rows[picked]
            if sharded:
                after = comm.allreduce_sum(np.bincount(codes[picked], minlength=n_classes).astype(np.float64))
                prior, sampled = counts / counts.sum(), after / max(1.0, after.sum())
        return X, T, rows, replicated, prior, sampled

    # -- the loop -----------------------------------------------------------
    def run(self) -> Model:
        comm = self.comm
        t_start = time.time()
        eff = self._effective()
        previous_run, previous_eff = {}, {}
        if self.checkpoint_model is not None:
            model = self.checkpoint_model
            previous_run, previous_eff = dict(model.run_info), dict(model.effective)
            if self.params.seed in (None, -1):  # keep drawing from the checkpoint's seed (resume = no restart)
                eff["seed"] = int(previous_eff.get("seed", eff["seed"]))
            model.params = self.params
            model.effective = eff
        else:
            model = self._new_model(eff)
        for unsupported in ("elastic_averaging", "sparse"):
            if eff.get(unsupported):
                raise TrainingError(f"{unsupported}=True is not supported by hpcdl (see docs/differences.md)")
        hyper = hyper_from_params(eff, len(eff["hidden"]))
        threads = 1 if eff.get("reproducible") else resolve_threads(self.threads_requested)
        threads = use_threads(threads)

        X, T, rows, replicated, prior, sampled = self._local_rows(eff)
        if prior is not None:
            model.run_info["class_prior"] = np.asarray(prior).tolist()
            model.run_info["class_sampled_prior"] = np.asarray(sampled).tolist()
        single_node = bool(eff.get("single_node_mode")) and replicated
        trains = (comm.rank == 0 or not single_node) and rows.size > 0
        contributing = comm.allgather(bool(trains))
        n_train_ranks = sum(contributing)
        local_counts = comm.allgather(int(rows.size))
        n_rows = local_counts[0] if replicated else sum(local_counts)
        if n_rows == 0:
            raise TrainingError(f"{self.training_frame.path}: no usable training rows")

        # Calibrate: seconds per row on a throw-away copy (also compiles the kernels).
        seconds_per_row, allreduce_seconds = 1e-4, 0.0
        if int(eff["train_samples_per_iteration"]) == -2 and rows.size:
            probe = model.net.copy()
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
                mini_batch_size=int(eff.get("mini_batch_size", 1)),
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
                mini_batch_size=int(eff.get("mini_batch_size", 1)),
            )
            seconds_per_row = (time.perf_counter() - t0) / max(1, sample.size)
        seconds_per_row = float(comm.allreduce_scalar(seconds_per_row, op="max"))
        allreduce_seconds = comm_mod.timed_allreduce(comm, model.net.buffer.nbytes)
        tspi = compute_tspi(
            int(eff["train_samples_per_iteration"]),
            n_rows=n_rows,
            epochs=float(eff["epochs"]),
            n_ranks=n_train_ranks if not single_node else 1,
            replicated=replicated,
            seconds_per_row=seconds_per_row,
            allreduce_seconds=allreduce_seconds,
            target_ratio=float(eff["target_ratio_comm_to_comp"]),
        )
        tspi_initial = tspi
        # Resuming on the same rows per rank: continue the checkpoint's row streams and tspi exactly.
        same_layout = (
            previous_run.get("rows_per_rank") == local_counts
            and len(previous_run.get("samples_per_rank") or []) == comm.size
        )
        if same_layout and previous_eff.get("train_samples_per_iteration") == eff["train_samples_per_iteration"]:
            tspi_initial = int(previous_run.get("train_samples_per_iteration_initial", tspi))
            tspi = int(previous_run.get("train_samples_per_iteration", tspi))
        # H2O forces shuffling when every replicated rank makes a full pass (SPEC-detail §3.1).
        shuffle = bool(eff["shuffle_training_data"]) or (
            replicated
            and n_train_ranks > 1
            and not single_node
            and tspi_initial == n_train_ranks * n_rows
            and not eff.get("reproducible")
        )
        weights = [float(c) if t else 0.0 for c, t in zip(local_counts, contributing)]
        if replicated:
            weights = [1.0 if t else 0.0 for t in contributing]
        # Unshuffled replicated ranks start their passes at different rows; shuffled ones differ by seed
        # and start at a pass boundary, so tspi=-1 is exactly one pass over all rows on each rank.
        offset = (comm.rank * rows.size) // max(1, comm.size) if replicated and not shuffle else 0
        samples_per_rank = [int(v) for v in previous_run["samples_per_rank"]] if same_layout else [0] * comm.size
        stream = RowStream(
            rows, shuffle, _mix_seed(eff["seed"], comm.rank, 17), start_offset=offset, taken=samples_per_rank[comm.rank]
        )

        # Scoring frames live on rank 0 only.
        scorer = _Scorer(self, model, eff, X, T, self.score_rows, replicated) if comm.rank == 0 else None

        run = model.run_info
        prior_samples = int(run.get("samples", 0))
        samples = prior_samples
        iteration = int(run.get("iterations", 0))
        train_seconds = float(run.get("train_seconds", 0.0))
        allreduce_total = 0.0
        row_offset = 0 if replicated else shard_range(self.training_frame.nrow, comm.rank, comm.size)[0]
        averaging = comm.size > 1 and not single_node
        auto_tune = int(eff["train_samples_per_iteration"]) == -2 and n_train_ranks > 1 and not single_node
        t_comm = comm_seconds_estimate(n_train_ranks, allreduce_seconds)
        fail_rank, fail_iteration = _test_failure_point()
        run.update(
            {
                "ranks": comm.size,
                "threads": threads,
                "train_samples_per_iteration": tspi,
                "train_samples_per_iteration_initial": tspi_initial,
                "training_ranks": n_train_ranks,
                "rows_per_rank": local_counts,
                "single_node_mode": single_node,
                "replicated": replicated,
                "n_training_rows": n_rows,
                "seconds_per_row_calibrated": seconds_per_row,
                "allreduce_seconds": allreduce_seconds,
            }
        )
        ctx = TrainContext(model=model, comm=comm, samples=samples, iteration=iteration, hooks=self.hooks)
        max_runtime = float(eff.get("max_runtime_secs") or 0.0)
        target_samples = float(eff["epochs"]) * n_rows
        if samples >= target_samples:
            raise TrainingError(
                f"epochs={eff['epochs']} must be larger than the {samples / n_rows:.4g} epochs "
                "already trained (on checkpoint restart epochs is the new total)"
            )
        if scorer is not None and model.dinfo.autoencoder and not model.scoring_history:
            scorer.score(ctx, 0.0, first=True)  # H2O scores the untrained autoencoder once

        reason = CONTINUE
        while reason == CONTINUE:
            iteration += 1
            if comm.rank == fail_rank and iteration == fail_iteration:
                raise RuntimeError(
                    f"HPCDL_TEST_FAIL_RANK: injected failure on rank {comm.rank} at iteration {iteration}"
                )
            remaining = int(math.ceil(target_samples - samples))
            this_tspi = min(tspi, remaining)  # never overshoot the requested epochs
            shares = split_shares(this_tspi, weights)
            t0 = time.perf_counter()
            mine = stream.take(shares[comm.rank]) if trains else np.empty(0, np.int64)
            if mine.size:
                kernels.train(
                    model.net,
                    hyper,
                    X,
                    T,
                    mine,
                    seed=_mix_seed(eff["seed"], iteration, comm.rank),
                    samples_before=samples,
                    n_threads=threads,
                    mini_batch_size=int(eff.get("mini_batch_size", 1)),
                )
            t1 = time.perf_counter()
            ctx.rows = mine + row_offset
            if averaging:
                for hook in self.hooks:
                    getattr(hook, "before_average", lambda c: None)(ctx)
                self._average(model.net, trains, n_train_ranks, bool(eff.get("reproducible")))
            t2 = time.perf_counter()
            allreduce_total += t2 - t1
            samples += sum(shares)
            samples_per_rank = [a + b for a, b in zip(samples_per_rank, shares)]
            train_seconds += t2 - t0
            ctx.iteration, ctx.samples, ctx.train_seconds = iteration, samples, train_seconds
            ctx.epochs = samples / n_rows
            run.update(
                {
                    "samples": samples,
                    "iterations": iteration,
                    "epochs": samples / n_rows,
                    "samples_per_rank": samples_per_rank,
                    "train_seconds": train_seconds,
                    "allreduce_seconds_total": allreduce_total,
                }
            )
            finite = bool(np.isfinite(model.net.buffer).all())
            new_tspi = tspi
            if comm.rank == 0:
                reason = scorer.after_iteration(
                    ctx, finite, samples >= target_samples, max_runtime and time.time() - t_start > max_runtime
                )
                ctx.reason = reason
                if auto_tune and iteration > 1:
                    new_tspi = corrected_tspi(
                        tspi,
                        comm_seconds=t_comm,
                        iteration_seconds=t2 - t0,
                        target_ratio=float(eff["target_ratio_comm_to_comp"]),
                    )
            for hook in self.hooks:
                hook.after_iteration(ctx)
            requested = comm.allreduce_scalar(int(ctx.stop_requested), op="max")
            reason, tspi = comm.bcast((reason, new_tspi) if comm.rank == 0 else None)
            run["train_samples_per_iteration"] = tspi
            if reason == CONTINUE and requested:
                reason = SIGNAL

        if comm.rank == 0:
            scorer.finish(ctx, reason)
        comm.bcast_array(model.net.buffer, root=0)
        model.scoring_history = comm.bcast(model.scoring_history if comm.rank == 0 else None)
        for key in ("training_metrics", "validation_metrics", "variable_importances"):
            setattr(model, key, comm.bcast(getattr(model, key) if comm.rank == 0 else None))
        run.update(
            comm.bcast(
                {k: run[k] for k in ("stop_reason", "diverged", "best_iteration", "samples_per_second") if k in run}
                if comm.rank == 0
                else None
            )
        )
        run["wall_seconds"] = time.time() - t_start
        for hook in self.hooks:
            getattr(hook, "after_training", lambda c: None)(ctx)
        if run.get("diverged"):
            warnings.warn(run["diverged"], stacklevel=2)
        return model

    def _average(self, net: kernels.Net, trains: bool, n_train_ranks: int, reproducible: bool) -> None:
        """Replace every rank's state buffer by the plain mean over the ranks that trained (SPEC §5)."""
        buf = net.buffer
        if not trains:
            buf[...] = 0.0
        if reproducible:
            comm_mod.reduce_sum_ordered(self.comm, buf)
        else:
            self.comm.allreduce_sum(buf)
        buf *= np.float32(1.0 / n_train_ranks)


class _Scorer:
    """Rank 0's scoring: sampled frames, history, best model, stopping decisions."""

    def __init__(self, trainer: Trainer, model: Model, eff: dict, X, T, rows, replicated: bool) -> None:
        self.trainer = trainer
        self.model = model
        self.eff = eff
        dinfo = model.dinfo
        seed = int(eff["seed"])
        n_score = int(eff["score_training_samples"])
        if replicated or trainer.comm.size == 1:
            pick = _score_sample(rows.size, n_score, seed)
            idx = rows if pick is None else rows[pick]
            self.train_X = X[idx]
            self.train_y = None if dinfo.autoencoder else T[idx]
        else:  # sharded: draw the sample from the whole frame
            frame = trainer.training_frame
            subset = trainer.training_rows
            pick = _score_sample(frame.nrow if subset is None else len(subset), n_score, seed)
            if subset is not None:
                pick = subset if pick is None else subset[pick]
            self.train_X, self.train_y = _read_rows(frame, dinfo, pick)
        self.valid_X = self.valid_y = None
        vf = trainer.validation_frame
        if vf is not None:
            Xv, yv = _read_rows(vf, dinfo, trainer.validation_rows)
            n_valid = int(eff["score_validation_samples"])
            if (
                eff.get("score_validation_sampling") == "Stratified"
                and dinfo.classification
                and eff.get("balance_classes")
            ):
                pick = _stratified_sample(yv, n_valid, seed + 1)
            else:
                pick = _score_sample(len(Xv), n_valid, seed + 1)
            self.valid_X, self.valid_y = (Xv, yv) if pick is None else (Xv[pick], None if yv is None else yv[pick])
        last = model.scoring_history[-1] if model.scoring_history else {}
        self.start = time.time() - float(last.get("duration", 0.0))  # durations continue on a restart
        self.last_score_start = 0.0
        self.last_score_duration = 0.0
        self.score_seconds = 0.0
        self.best_loss = math.inf
        self.best_buffer = None
        self.best_metrics = None
        self.last_good = model.net.buffer.copy()
        self.stop_values: list[float] = []
        kind = model.kind
        self.stop_key, self.higher_better = metrics.metric_for_stopping(eff.get("stopping_metric", "AUTO"), kind)
        self.quiet = bool(eff.get("quiet_mode"))
        vf = trainer.validation_frame
        self.frames_key = [
            os.path.abspath(trainer.training_frame.path),
            int(trainer.training_frame.nrow),
            None if vf is None else os.path.abspath(vf.path),
            None if vf is None else int(vf.nrow),
        ]
        state = model.run_info.get("scorer_state") if trainer.checkpoint_model is not None else None
        if state and state.get("frames") == self.frames_key:  # best losses compare only on the same frames
            self.best_loss = float(state["best_loss"])
            self.stop_values = [float(v) for v in state["stop_values"]]
            if model.best_buffer is not None and state.get("best_row") is not None:
                self.best_buffer = model.best_buffer.copy()
                self.best_metrics = (None, None, int(state["best_row"]))

    def _save_state(self) -> None:
        """Keep what a resumed run needs to decide as this one would (saved in checkpoints)."""
        self.model.best_buffer = self.best_buffer
        self.model.run_info["scorer_state"] = {
            "best_loss": self.best_loss,
            "stop_values": list(self.stop_values),
            "frames": self.frames_key,
            "best_row": self.best_metrics[2] if self.best_metrics is not None else None,
        }

    def score(self, ctx: TrainContext, speed: float, first: bool = False) -> None:
        model = self.model
        t0 = time.time()
        train_m = model.score_arrays(self.train_X, self.train_y)
        valid_m = model.score_arrays(self.valid_X, self.valid_y) if self.valid_X is not None else {}
        model.training_metrics, model.validation_metrics = train_m, valid_m
        if self.eff.get("variable_importances") and not first:
            model.variable_importances = compute_varimp(model)
        row = {
            "timestamp": _dt.datetime.now().isoformat(timespec="seconds"),
            "duration": round(time.time() - self.start, 3),
            "training_speed": round(speed, 1),
            "epochs": ctx.epochs,
            "iterations": ctx.iteration,
            "samples": ctx.samples,
        }
        row.update(_flatten_metrics("training", train_m))
        row.update(_flatten_metrics("validation", valid_m))
        model.scoring_history.append(row)
        self.last_score_duration = time.time() - t0
        self.score_seconds += self.last_score_duration
        if not self.quiet and self.trainer.progress is not None:
            self.trainer.progress(row, model)

    def after_iteration(self, ctx: TrainContext, finite: bool, finished: bool, out_of_time: bool) -> int:
        reason = self._decide(ctx, finite, finished, out_of_time)
        self._save_state()
        return reason

    def _decide(self, ctx: TrainContext, finite: bool, finished: bool, out_of_time: bool) -> int:
        model = self.model
        eff = self.eff
        if not finite:
            return DIVERGED
        now = time.time()
        since = now - self.last_score_start
        due = (
            finished
            or out_of_time
            or not model.scoring_history
            or eff.get("score_each_iteration")
            or (
                since > float(eff["score_interval"])
                and self.last_score_duration / max(since, 1e-9) < float(eff["score_duty_cycle"])
            )
        )
        if not due:
            return CONTINUE
        self.last_score_start = now
        speed = ctx.samples / max(ctx.train_seconds, 1e-9)
        self.score(ctx, speed)
        model.run_info["samples_per_second"] = speed
        m = model.validation_metrics or model.training_metrics
        if not _metrics_finite(model.training_metrics):
            return DIVERGED
        self.last_good = model.net.buffer.copy()
        loss = metrics.model_loss(m, eff.get("stopping_metric", "AUTO"), model.kind)
        if not finished and not (loss >= self.best_loss):
            self.best_loss = loss
            self.best_buffer = model.net.buffer.copy()
            self.best_metrics = (model.training_metrics, model.validation_metrics, len(model.scoring_history))
        if finished:
            return DONE
        if out_of_time:
            return TIME_LIMIT
        tm = model.training_metrics
        kind = model.kind
        cstop = float(eff.get("classification_stop", 0))
        rstop = float(eff.get("regression_stop", 1e-6))
        if kind in ("binomial", "multinomial") and cstop >= 0 and tm.get("classification_error", 1) <= cstop:
            return EARLY_STOP
        if kind in ("regression", "autoencoder") and rstop >= 0 and tm.get("MSE", math.inf) <= rstop:
            return EARLY_STOP
        k = int(eff.get("stopping_rounds", 0))
        if k > 0:
            self.stop_values.append(float(m.get(self.stop_key, math.nan)))
            if metrics.stop_early(self.stop_values, k, float(eff.get("stopping_tolerance", 0.0)), self.higher_better):
                return EARLY_STOP
        return CONTINUE

    def finish(self, ctx: TrainContext, reason: int) -> None:
        model = self.model
        eff = self.eff
        run = model.run_info
        run["stop_reason"] = {
            DONE: "epochs reached",
            EARLY_STOP: "early stopping",
            TIME_LIMIT: "max_runtime_secs",
            SIGNAL: "stop requested (signal)",
            DIVERGED: "diverged",
        }.get(reason, "done")
        if reason == DIVERGED:
            model.net.buffer[...] = self.best_buffer if self.best_buffer is not None else self.last_good
            run["diverged"] = (
                f"training diverged at iteration {ctx.iteration} (NaN/Inf in the weights or the "
                "training loss); kept the last good model. Try a smaller rate, adaptive_rate=True, "
                "max_w2, or l1/l2 regularization."
            )
            self.score(ctx, run.get("samples_per_second", 0.0))
            return
        if reason == SIGNAL:
            return
        if eff.get("overwrite_with_best_model") and self.best_buffer is not None:
            current = metrics.model_loss(
                model.validation_metrics or model.training_metrics, eff.get("stopping_metric", "AUTO"), model.kind
            )
            if self.best_loss < current:
                model.net.buffer[...] = self.best_buffer
                run["best_iteration"] = self.best_metrics[2]
                self.score(ctx, run.get("samples_per_second", 0.0))  # H2O appends a final row for the best model


def _metrics_finite(m: dict) -> bool:
    for key in ("MSE", "logloss"):
        v = m.get(key)
        if v is not None and not np.isfinite(v):
            return False
    return True


def deeplearning(
    x=None,
    y=None,
    training_frame=None,
    validation_frame=None,
    *,
    threads: int | None = None,
    comm=None,
    hooks: list | None = None,
    progress=None,
    **params,
) -> Model:
    """Train a Deep Learning model like ``h2o.deeplearning``; returns the model on every rank."""
    from .model import as_frame

    if comm is None:
        comm_mod.abort_on_error_by_default()
    if training_frame is None:
        raise ValueError("training_frame is required")
    checkpoint = params.pop("checkpoint", None)
    from .grid import reject_grid_values

    reject_grid_values(params)  # lists of values belong to hpcdl.grid
    p = DeepLearningParameters(**params)
    train_frame = as_frame(training_frame, "training_frame")
    valid_frame = as_frame(validation_frame, "validation_frame") if validation_frame is not None else None
    checkpoint_model = None
    if checkpoint is not None:
        from .lifecycle import prepare_checkpoint

        checkpoint_model, dinfo = prepare_checkpoint(checkpoint, p, train_frame, x, y)
    else:
        from .cv import excluding_fold_column

        x = excluding_fold_column(train_frame, x, y, p.fold_column)
        dinfo = DataInfo.fit(
            train_frame,
            x,
            y,
            autoencoder=p.autoencoder,
            classification=p.classification,
            standardize=p.standardize,
            use_all_factor_levels=p.use_all_factor_levels,
            missing_values_handling=p.missing_values_handling,
            ignore_const_cols=p.ignore_const_cols,
            max_categorical_features=p.max_categorical_features,
            seed=p.seed if p.seed not in (None, -1) else 0,
        )
    n_classes = len(dinfo.response_domain) if dinfo.classification else None
    p.validate(classification=bool(dinfo.classification), n_classes=n_classes)
    if p.nfolds or p.fold_column:
        from .cv import check_no_validation_frame, cross_validate

        if checkpoint_model is not None:
            raise ParameterError(
                "cross-validation (nfolds or fold_column) is not allowed on a checkpoint restart",
                "nfolds" if p.nfolds else "fold_column",
            )

        check_no_validation_frame(p, valid_frame is not None)
        return cross_validate(p, dinfo, train_frame, comm=comm, threads=threads, hooks=hooks, progress=progress)
    trainer = Trainer(
        p,
        dinfo,
        train_frame,
        valid_frame,
        comm=comm,
        threads=threads,
        hooks=hooks,
        checkpoint_model=checkpoint_model,
        progress=progress,
    )
    return trainer.run()
