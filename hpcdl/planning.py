"""The iteration plan: how big a run's iterations are and how a rank visits its rows, as pure
functions of row counts and timings (docs/mpi.md, "train_samples_per_iteration", "Rows per
iteration"). The training loop (``hpcdl/train.py``) measures the timings and follows the plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import rows as visiting
from .params import DeepLearningParameters
from .runstate import RunState


@dataclass(frozen=True)
class RowLayout:
    """How the training rows lie on the ranks (the same on every rank). Not the kernels' ``records.Layout``
    (where each part of a network's state buffer lies)."""

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
    eff: DeepLearningParameters,
    layout: RowLayout,
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
    setting = int(eff.train_samples_per_iteration)
    n_ranks = layout.n_train_ranks if not layout.single_node else 1
    target_ratio = float(eff.target_ratio_comm_to_comp)
    tspi = compute_tspi(
        setting,
        n_rows=layout.n_rows,
        epochs=float(eff.epochs),
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
        reproducible=bool(eff.reproducible),
        force_load_balance=bool(eff.force_load_balance),
    )
    shuffle = visiting.shuffles(
        eff.shuffle_training_data,
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
