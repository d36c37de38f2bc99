"""Where a training run stands: the state a checkpoint stores and a resumed run continues from.

:class:`RunState` is everything the training loop (``hpcdl/train.py``) carries from one
iteration to the next besides the network's state buffer and the best model's buffer, and
what the run leaves for the model's predictions and reports. A model file stores it as
``/extra/run_state`` (format version 2, docs/model-format.md); files of version 1 stored a
string-keyed ``run_info`` dict, which :meth:`RunState.from_run_info` reads.
``Model.run_info`` is the report made from it: the keys ``hpcdl train --json`` prints.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from typing import Any


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the model diverged); the message says why."""


class StopReason(enum.Enum):
    """Why training ended (or ``CONTINUE``: it goes on). The value is the text that model files,
    ``run_info["stop_reason"]`` and ``--json`` output carry."""

    CONTINUE = "continue"
    EPOCHS = "epochs reached"
    EARLY_STOP = "early stopping"
    TIME_LIMIT = "max_runtime_secs"
    SIGNAL = "stop requested (signal)"
    DIVERGED = "diverged"

    @property
    def finished(self) -> bool:
        """The run ended by itself (a signal-stopped run is unfinished: ``--resume`` continues it)."""
        return self not in (StopReason.CONTINUE, StopReason.SIGNAL)


@dataclass
class MonitorState:
    """Rank 0's memory for early stopping and the best model (docs/checkpoints.md: carried over only
    on the same frames, because losses on other data do not compare)."""

    best_loss: float = math.inf
    stop_values: list[float] = field(default_factory=list)  # the stopping metric at each scoring
    frames: list | None = None  # training and validation frame (absolute path, rows) these losses are on
    best_row: int | None = None  # scoring-history rows up to and including the best model's


@dataclass
class RunState:
    """What a run has done, how it is laid out, and how it ended. Every rank holds one (in
    ``model.run``); the counters are the same on every rank, rank 0's is the one checkpoints store."""

    # -- progress: the next iteration continues from here
    iterations: int = 0
    samples: int = 0  # rows trained, cluster-wide, since the model was created
    samples_per_rank: list[int] = field(default_factory=list)
    train_seconds: float = 0.0  # this rank's time in training and averaging
    # -- the iteration plan (a resume with the same rows per rank keeps tspi and the per-rank counts)
    n_training_rows: int = 0  # N, the rows of one epoch
    rows_per_rank: list[int] = field(default_factory=list)
    train_samples_per_iteration: int = 0  # the current iteration size (auto-tuning changes it)
    train_samples_per_iteration_initial: int = 0
    monitor: MonitorState = field(default_factory=MonitorState)
    # -- how it ended (set by rank 0, agreed by all)
    stop_reason: StopReason | None = None  # None while training goes on
    diverged: str | None = None  # the message of a run that diverged
    best_iteration: int | None = None  # the scoring row whose model overwrite_with_best_model kept
    samples_per_second: float | None = None
    wall_seconds: float | None = None
    # -- how it ran (reported; docs/mpi.md)
    ranks: int = 1
    threads: int = 1
    training_ranks: int = 1
    replicated: bool = False
    single_node_mode: bool = False
    row_chunks_per_rank: list[int] = field(default_factory=list)
    shuffled_per_rank: list[bool] = field(default_factory=list)
    seconds_per_row_calibrated: float = 0.0
    allreduce_seconds: float = 0.0
    allreduce_seconds_total: float = 0.0
    scoring_seconds_total: float | None = None  # rank 0's time in scoring this run (Monitor); None: not measured
    # -- what predictions and reports need from the run
    class_prior: list[float] | None = None  # balance_classes: class shares before and after balancing
    class_sampled_prior: list[float] | None = None
    cross_validation: dict | None = None  # the folds' rows, epochs, metrics and model ids (hpcdl/cv.py)

    @property
    def finished(self) -> bool:
        """The run ended by itself (epochs, early stopping, time limit, divergence); a run stopped by a
        signal, killed, or still going is unfinished."""
        return self.stop_reason is not None and self.stop_reason.finished

    @property
    def epochs(self) -> float:
        """Samples trained over the rows of one epoch of the data trained on now (H2O's count)."""
        return self.samples / self.n_training_rows if self.n_training_rows else 0.0

    def advance(self, counts: list[int], seconds: float, averaging_seconds: float) -> None:
        """Count one iteration in which rank r trained ``counts[r]`` rows."""
        self.iterations += 1
        self.samples += sum(counts)
        self.samples_per_rank = [a + b for a, b in zip(self.samples_per_rank, counts)]
        self.train_seconds += seconds
        self.allreduce_seconds_total += averaging_seconds

    # -- stored form ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The stored form (``/extra/run_state``): field names as keys, the stop reason as its text."""
        out = dataclasses.asdict(self)
        out["stop_reason"] = None if self.stop_reason is None else self.stop_reason.value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        """Read :meth:`to_dict`'s form; an unknown key is an error (a newer writer raises the format version)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"run_state has unknown field(s) {unknown}")
        values = dict(data)
        values["monitor"] = MonitorState(**(values.get("monitor") or {}))
        reason = values.get("stop_reason")
        values["stop_reason"] = None if reason is None else StopReason(reason)
        return cls(**values)

    @classmethod
    def from_run_info(cls, run_info: dict[str, Any]) -> RunState:
        """The state a format-version-1 file stored as its ``run_info`` dict (derived ``epochs`` dropped)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in run_info.items() if k in names}  # keys of older versions are dropped
        values["monitor"] = run_info.get("scorer_state") or {}
        if not values.get("n_training_rows") and run_info.get("epochs"):
            values["n_training_rows"] = round(run_info.get("samples", 0) / run_info["epochs"])
        return cls.from_dict(values)

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> RunState:
        """The state in a model file's ``/extra`` group: ``run_state`` (version 2) or ``run_info`` (version 1)."""
        if "run_state" in extra:
            return cls.from_dict(extra["run_state"])
        return cls.from_run_info(extra.get("run_info") or {})

    def report(self) -> dict[str, Any]:
        """``run_info``: the stored form plus ``epochs``, without the values a run did not set."""
        out = {k: v for k, v in self.to_dict().items() if v is not None}
        out["epochs"] = self.epochs
        return out
