"""Rank 0's watch over a run: its fixed scoring samples (:func:`scoring_data`), and the
:class:`Monitor`, which scores when due (``hpcdl/scoring.py`` says when with
``score_progress``), keeps the best model and decides whether to stop (docs/scoring.md).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import time
from dataclasses import dataclass

import numpy as np

from . import kernels, metrics, scoring
from .comm import Comm
from .frame import Frame
from .localrows import LocalRows
from .model import Model, compute_varimp
from .params import DeepLearningParameters
from .prep import DataInfo
from .runstate import MonitorState, StopReason


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


def scoring_data(
    comm: Comm,
    dinfo: DataInfo,
    eff: DeepLearningParameters,
    data: LocalRows,
    frame: Frame,
    training_rows: np.ndarray | None,
    validation_frame: Frame | None,
    validation_rows: np.ndarray | None,
) -> ScoringData:
    """Rank 0's fixed scoring samples: training rows (before balancing) and validation rows; the row
    subsets (None = all rows) are cross-validation's folds."""
    seed = int(eff.seed)
    n_score = int(eff.score_training_samples)
    if data.replicated or comm.size == 1:
        pick = _score_sample(data.score_rows.size, n_score, seed)
        idx = data.score_rows if pick is None else data.score_rows[pick]
        truth = data.T if data.truth is None else data.truth
        train_X, train_y = data.X[idx], None if dinfo.autoencoder else truth[idx]
        train_special = tuple(None if v is None else v[idx] for v in (data.weights, data.offsets))
    else:  # sharded: draw the sample from the whole frame
        subset = training_rows
        pick = _score_sample(frame.nrow if subset is None else len(subset), n_score, seed)
        if subset is not None:
            pick = subset if pick is None else subset[pick]
        train_X, train_y, train_special = _usable_rows(dinfo, frame, pick)
    valid_X = valid_y = None
    valid_special: tuple = (None, None)
    vf = validation_frame
    if vf is not None:
        Xv, yv, special = _usable_rows(dinfo, vf, validation_rows)
        n_valid = int(eff.score_validation_samples)
        if eff.score_validation_sampling == "Stratified" and dinfo.classification and eff.balance_classes:
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


class Monitor:
    """Rank 0's watch over a run: scores when due, keeps the best model, decides whether to stop.

    Its memory (best loss, early-stopping window) is ``model.run.monitor`` and the best model
    ``model.best_buffer``, so a checkpoint carries both; they continue only on the same frames.
    """

    def __init__(
        self,
        model: Model,
        eff: DeepLearningParameters,
        scoring: ScoringData,
        target_samples: float,
        deadline: float | None,
        progress,
    ) -> None:
        self.model, self.eff, self.scoring = model, eff, scoring
        self.target_samples, self.deadline = target_samples, deadline
        self.progress = None if eff.quiet_mode else progress
        last = model.scoring_events[-1] if model.scoring_events else {}
        self.start = time.time() - float(last.get("duration", 0.0))  # durations continue on a restart
        self.last_score_start = 0.0
        self.last_score_duration = 0.0
        # the wait before the next scoring: H2O's score_interval, or what score_progress's rule says
        self.wait = float(eff.score_interval)
        self.curve: tuple[list[float], list[float]] = ([], [])  # (seconds since start, loss) per scoring
        model.run.scoring_seconds_total = 0.0  # this run's time in scoring, as allreduce_seconds_total
        self.last_good = model.net.buffer.copy()
        self.stop_key, self.higher_better = metrics.metric_for_stopping(eff.stopping_metric, model.kind)
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
        if self.eff.variable_importances and not first:
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
            or eff.score_each_iteration
            or (since > self.wait and self.last_score_duration / max(since, 1e-9) < float(eff.score_duty_cycle))
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
        loss = metrics.model_loss(m, eff.stopping_metric, model.kind)
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
        step = float(self.eff.score_progress or 0.0)
        if step <= 0:
            return
        times, losses = self.curve
        times.append(at)
        losses.append(loss)
        self.wait = scoring.progress_wait(
            times,
            losses,
            step=step,
            interval=float(self.eff.score_interval),
            duty_cycle=float(self.eff.score_duty_cycle),
            last_duration=self.last_score_duration,
        )

    def _stop_early(self, m: dict, best: MonitorState) -> StopReason:
        """classification_stop / regression_stop on the training metrics, then stopping_rounds."""
        eff, tm, kind = self.eff, self.model.training_metrics, self.model.kind
        cstop = float(eff.classification_stop)
        rstop = float(eff.regression_stop)
        if kind in ("binomial", "multinomial") and cstop >= 0 and tm.get("classification_error", 1) <= cstop:
            return StopReason.EARLY_STOP
        if kind in ("regression", "autoencoder") and rstop >= 0 and tm.get("MSE", math.inf) <= rstop:
            return StopReason.EARLY_STOP
        k = int(eff.stopping_rounds)
        if k > 0:
            best.stop_values.append(float(m.get(self.stop_key, math.nan)))
            if metrics.stop_early(best.stop_values, k, float(eff.stopping_tolerance), self.higher_better):
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
        if eff.overwrite_with_best_model and model.best_buffer is not None:
            current = metrics.model_loss(
                model.validation_metrics or model.training_metrics, eff.stopping_metric, model.kind
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
