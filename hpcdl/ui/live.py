"""The running job as the UI sees it: a training hook that keeps a reference to rank 0's state.

The hook does no work per iteration beyond remembering the trainer's context
(the first time); everything the page shows is computed by the server thread
when a browser asks, from what rank 0 keeps anyway (the model, its scoring
history and metrics, the iteration counters).
"""

from __future__ import annotations

import os
import threading
import time

from ..train import TrainHook
from .views import browser_json, model_view, progress_view


class LiveJob(TrainHook):
    """Pass to ``hooks=[...]`` on rank 0; the UI server reads it."""

    def __init__(
        self,
        job_key: str,
        model_key: str,
        *,
        name: str | None = None,
        ranks: int = 1,
        threads: int = 1,
        model_id: str | None = None,
    ) -> None:
        self.job_key = job_key
        self.name = name or job_key
        self.model_key = model_key
        self.model_id = model_id or job_key
        self.ranks, self.threads = ranks, threads
        self.ctx = None
        self.status = "starting"  # starting -> running -> finished | failed
        self.message = None
        self.started = time.time()
        self.first = None  # (wall time, epochs) at the first iteration: the ETA's base
        self.finished_at = None
        self._lock = threading.Lock()
        self._view_key = None
        self._view = None

    # -- hook interface (called by the trainer on rank 0) ----------------------
    def after_iteration(self, ctx) -> None:
        if self.ctx is None:
            self.ctx, self.first, self.status = ctx, (time.time(), ctx.epochs), "running"

    def after_training(self, ctx) -> None:
        self.ctx = ctx
        self.finished_at = time.time()
        self.status = "failed" if ctx.model.run.diverged else "finished"

    # -- views (called by the server thread) -----------------------------------
    def is_current_file(self, path: str) -> bool:
        """A file written during this run (not left over from an earlier one)."""
        try:
            return os.path.getmtime(path) >= self.started
        except OSError:
            return False

    def _progress(self) -> dict:
        ctx = self.ctx
        now = self.finished_at or time.time()
        if ctx is None:
            return progress_view(
                epochs=0.0,
                total_epochs=0.0,
                samples=0,
                train_seconds=0.0,
                elapsed=now - self.started,
                eta=None,
                iteration=0,
                ranks=self.ranks,
                threads=self.threads,
            )
        model = ctx.model
        total = float(model.effective.epochs or 0.0)
        epochs = float(ctx.epochs)
        eta = None
        if self.status == "running" and self.first is not None:
            t1, e1 = self.first
            rate = (epochs - e1) / (now - t1) if now > t1 else 0.0
            if rate > 0:
                eta = max(0.0, (total - epochs) / rate)
            limit = float(model.effective.max_runtime_secs or 0.0)
            if limit > 0:
                left = max(0.0, limit - (now - self.started))
                eta = left if eta is None else min(eta, left)
        elif self.status == "finished":
            eta = 0.0
        run = model.run
        return progress_view(
            epochs=epochs,
            total_epochs=total,
            samples=int(ctx.samples),
            train_seconds=float(ctx.train_seconds),
            elapsed=now - self.started,
            eta=eta,
            iteration=int(ctx.iteration),
            ranks=run.ranks,
            threads=run.threads,
        )

    def job_summary(self) -> dict:
        ctx = self.ctx
        reason = ctx.model.run.stop_reason if ctx is not None and self.status != "running" else None
        stop = None if reason is None else reason.value
        return browser_json(
            {
                "key": self.job_key,
                "name": self.name,
                "status": self.status,
                "live": True,
                "message": self.message,
                "stop_reason": stop,
                "model": self.model_key,
                "model_id": ctx.model.model_id if ctx is not None else self.model_id,
                "frames": [],
                **self._progress(),
            }
        )

    def model_summary(self) -> dict:
        ctx = self.ctx
        eff = ctx.model.effective if ctx is not None else {}
        hist = ctx.model.scoring_events if ctx is not None else []
        last = hist[-1] if hist else {}
        return browser_json(
            {
                "key": self.model_key,
                "model_id": ctx.model.model_id if ctx is not None else self.model_id,
                "job": self.job_key,
                "live": True,
                "status": self.status,
                "hidden": eff.hidden,
                "activation": eff.activation,
                "epochs": ctx.epochs if ctx is not None else None,
                "training_error": last.get("training_classification_error", last.get("training_rmse")),
                "validation_error": last.get("validation_classification_error", last.get("validation_rmse")),
                "error_name": "classification error" if "training_classification_error" in last else "RMSE",
            }
        )

    def model_view(self, downloads: list[dict]) -> dict:
        """The model page; rebuilt only when a scoring event or the status changed."""
        ctx = self.ctx
        if ctx is None:
            return {
                "key": self.model_key,
                "model_id": self.model_id,
                "status": self.status,
                "live": True,
                "job": self.job_key,
                "history_rows": 0,
                "downloads": downloads,
                "progress": self._progress(),
            }
        key = (len(ctx.model.scoring_events), self.status)
        with self._lock:
            if key != self._view_key:
                self._view = model_view(
                    ctx.model, key=self.model_key, status=self.status, downloads=[], job=self.job_key
                )
                self._view_key = key
            view = self._view
        return {**view, "live": True, "downloads": downloads, "progress": self._progress()}
