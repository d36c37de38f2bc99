"""The rows this rank trains on: its part of the training frame (all of it when the data is
replicated, else its shard), transformed into network inputs and targets, the usable rows of
it, balanced when ``balance_classes`` asks; and how the rows lie on the ranks (a
:class:`~hpcdl.planning.RowLayout`, agreed on every rank). docs/mpi.md, "Shards".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import comm as comm_mod
from . import rows as visiting
from .comm import Comm
from .frame import Frame
from .params import DeepLearningParameters
from .planning import RowLayout
from .prep import DataInfo, balance_classes
from .runstate import TrainingError
from .threads import warn_once


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


def local_rows(
    comm: Comm, dinfo: DataInfo, frame: Frame, eff: DeepLearningParameters, training_rows: np.ndarray | None
) -> LocalRows:
    """This rank's part of the training frame (all of it when replicated, else its shard) and the
    rows it trains: the usable ones of the row subset, balanced when balance_classes asks."""
    replicated = bool(eff.replicate_training_data) and comm.size > 1
    shard = visiting.shard(frame.nrow, comm.rank, comm.size, replicated=replicated)  # docs/mpi.md
    part = frame if shard.whole else frame.blocks(shard.first, shard.block, shard.step)
    X, y, valid = dinfo.transform(part)
    weights, offsets = dinfo.special_rows(part)
    if weights is not None:
        valid &= weights > 0  # a row of weight 0 counts for nothing: not trained, not in N
    rows = np.flatnonzero(valid).astype(np.int64)
    if training_rows is not None:
        wanted = np.zeros(frame.nrow, dtype=bool)
        wanted[training_rows] = True
        rows = rows[wanted[shard.frame_rows(rows)]]
    if rows.size == 0 and (replicated or comm.size == 1):  # every rank holds the same rows: agreed
        skip = " or a missing predictor (missing_values_handling=Skip)"
        zero = f" or weight 0 in {dinfo.weights_column!r}" if weights is not None else ""
        raise comm_mod.mark_agreed(
            TrainingError(
                f"{frame.display_name}: no usable training rows (all rows have a missing response"
                f"{skip if eff.missing_values_handling == 'Skip' else ''}{zero})"
            )
        )
    T = np.zeros(len(X), np.float32) if y is None else np.nan_to_num(y.astype(np.float32), nan=0.0)
    truth = None
    if offsets is not None:  # the net learns y - offset: every loss here is one of f - y (identity link)
        truth, T = T, (T - offsets * dinfo.y_mul).astype(np.float32)
    data = LocalRows(X, T, rows, score_rows=rows, shard=shard, replicated=replicated)
    data.weights, data.offsets, data.truth = weights, offsets, truth
    if not shard.whole and dinfo.classification:
        _warn_unrepresentative(comm, dinfo, frame, y, rows)
    if eff.balance_classes and dinfo.classification:
        _balance(comm, dinfo, eff, data, y)
    return data


def _warn_unrepresentative(comm: Comm, dinfo: DataInfo, frame: Frame, y: np.ndarray, rows: np.ndarray) -> None:
    """Rank 0 warns once when a class is missing from a rank's shard, or its share there differs
    grossly from the whole frame's: the averaged model then drifts (docs/mpi.md)."""
    n_classes = len(dinfo.response_domain)
    counts = comm.allgather(np.bincount(y[rows].astype(np.int64), minlength=n_classes))
    problem = visiting.unrepresentative_class(np.array(counts), dinfo.response_domain)
    if problem:
        warn_once(f"{frame.display_name}: {problem}; set replicate_training_data = true, or shuffle the file's rows")


def _balance(comm: Comm, dinfo: DataInfo, eff: DeepLearningParameters, data: LocalRows, y: np.ndarray) -> None:
    """balance_classes: over/under-sample the rows per class. Replicated ranks draw the same balanced
    rows (one balanced frame, as H2O); shards differ, balanced with the ratios of the whole frame."""
    n_classes = len(dinfo.response_domain)
    codes = y[data.rows].astype(np.int64)
    sharded = not data.replicated and comm.size > 1
    factors = eff.class_sampling_factors
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
        max_after_balance_size=float(eff.max_after_balance_size),
        seed=int(eff.seed) + (comm.rank if sharded else 0),
    )
    data.rows = data.rows[picked]
    if sharded:
        after = comm.allreduce_sum(np.bincount(codes[picked], minlength=n_classes).astype(np.float64))
        data.prior, data.sampled = counts / counts.sum(), after / max(1.0, after.sum())


def row_layout(comm: Comm, eff: DeepLearningParameters, data: LocalRows, frame: Frame) -> RowLayout:
    """How the training rows lie on the ranks (agreed: every rank learns every rank's count)."""
    single_node = bool(eff.single_node_mode) and data.replicated
    trains = (comm.rank == 0 or not single_node) and data.rows.size > 0
    training = comm.allgather(bool(trains))
    layout = RowLayout(comm.allgather(int(data.rows.size)), training, data.replicated, single_node)
    if layout.n_rows == 0:
        raise comm_mod.mark_agreed(TrainingError(f"{frame.display_name}: no usable training rows"))
    return layout
