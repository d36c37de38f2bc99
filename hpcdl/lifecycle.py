"""Model lifecycle: checkpoint restart, periodic checkpoints, signals, resume (docs/checkpoints.md).

Rank 0 writes a checkpoint every ``checkpoint_interval`` seconds (job setting)
as a complete model file, atomically: the previous checkpoint stays until the
new one is complete. SIGTERM/SIGUSR1 (Slurm's warning before the time limit)
set a flag on the rank that got it; the trainer turns any rank's flag into a
stop for all ranks at the next iteration boundary, rank 0 writes a final
checkpoint and the job exits with code 3 so that the Slurm script requeues it.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import signal
import socket
import sys
import time

import numpy as np

from .frame import Frame
from .frame.h5frame import NUMERIC_TYPES
from .fsutil import atomic_path
from .model import Model, load_model
from .params import DeepLearningParameters, ParameterError, check_checkpoint_change
from .store import ModelFileError

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d{8})\.h5$")
KEEP_CHECKPOINTS = 2
SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
SIGNAL_STOP = "stop requested (signal)"  # run_info["stop_reason"] of a run stopped by a signal
RUNNING_FILE = "running.json"  # in a job's output_dir while it trains (RunningMarker)
HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 120.0  # a marker from another host counts as running while its heartbeat is this fresh


class CheckpointError(ValueError):
    """A checkpoint cannot be used to continue training; the message names the mismatch."""


# -- checkpoint restart (the booklet's checkpoint=) ----------------------------
def _kind(frame_type: str) -> str:
    return "categorical" if frame_type == "enum" else "numeric" if frame_type in NUMERIC_TYPES else frame_type


def check_data_compatible(model: Model, frame: Frame, what: str = "training frame") -> None:
    """The frame must have the model's columns with the same kinds and categorical domains (H2O's rule)."""
    dinfo = model.dinfo
    where = f"{what} {frame.display_name}"
    needed = list(dinfo.predictors) + ([dinfo.response] if dinfo.response else [])
    missing = [c for c in needed if c not in frame.names]
    if missing:
        raise CheckpointError(
            f"{where}: checkpoint model {model.model_id} needs column(s) {missing}, which the frame does not have"
        )
    old_types = dinfo.column_types or {}
    for col in needed:
        new = frame.type(col)
        if col == dinfo.response:
            if dinfo.classification and dinfo.response_numeric_levels is None:
                if new != "enum":
                    raise CheckpointError(
                        f"{where}: response {col!r} is {_kind(new)}, the checkpoint model "
                        "was trained on it as categorical"
                    )
                if list(frame.domains[col]) != list(dinfo.response_domain):
                    raise CheckpointError(
                        f"{where}: response {col!r} has levels {list(frame.domains[col])}, "
                        f"the checkpoint model was trained on {list(dinfo.response_domain)}"
                    )
            elif new not in NUMERIC_TYPES:
                raise CheckpointError(
                    f"{where}: response {col!r} is {_kind(new)}, the checkpoint model was trained on it as numeric"
                )
            continue
        old = "enum" if col in dinfo.cat_cols else old_types.get(col, "real")
        if _kind(old) != _kind(new):
            raise CheckpointError(
                f"{where}: column {col!r} is {_kind(new)}, the checkpoint model was trained on it as {_kind(old)}"
            )
        if new == "enum" and list(frame.domains[col]) != list(dinfo.domains[col]):
            raise CheckpointError(
                f"{where}: column {col!r} has levels {list(frame.domains[col])}, the "
                f"checkpoint model was trained on {list(dinfo.domains[col])}"
            )


def prepare_checkpoint(
    checkpoint, params: DeepLearningParameters, frame: Frame, x, y, validation_frame: Frame | None = None
):
    """Load (if a path) and check a checkpoint model for training on; returns (model copy, its DataInfo).

    Checks what H2O checks (SPEC-detail 8.4): the same response and
    predictors, no change of any parameter the checkpoint rules mark "F",
    frames with the same columns, kinds and categorical domains, no
    cross-validation. ``epochs`` is the new total (the trainer checks it).
    """
    model = checkpoint if isinstance(checkpoint, Model) else load_model(os.fspath(checkpoint))
    dinfo = model.dinfo
    if params.autoencoder:
        y = None
    if params.autoencoder != bool(dinfo.autoencoder):
        raise CheckpointError(
            f"cannot change autoencoder on checkpoint restart: checkpoint model "
            f"{model.model_id} has autoencoder={bool(dinfo.autoencoder)}"
        )
    if y is not None and dinfo.response != y:
        raise CheckpointError(f"cannot change the response on checkpoint restart: was {dinfo.response!r}, now {y!r}")
    if x is not None:
        kept, dropped = set(dinfo.predictors), set(dinfo.dropped or {})
        given = set(x) - ({y} if y else set())
        if not kept <= given or not given <= kept | dropped:
            raise CheckpointError(
                f"cannot change the predictors on checkpoint restart: was {sorted(kept)}, now {sorted(given)}"
            )
    if params.nfolds:
        raise CheckpointError("cross-validation is not allowed on a checkpoint restart (nfolds must be 0)")
    try:
        check_checkpoint_change(model.params, params)
    except ParameterError as exc:
        raise CheckpointError(f"checkpoint model {model.model_id}: {exc}") from exc
    check_data_compatible(model, frame)
    if validation_frame is not None:
        check_data_compatible(model, validation_frame, "validation frame")
    copy = Model.from_content(model.to_content())  # train a copy; the given model stays as it was
    return copy, copy.dinfo


# -- periodic checkpoints and signals ------------------------------------------
def checkpoint_files(directory: str) -> list[str]:
    """Complete checkpoints of a job, oldest first (temporary *.part files never match)."""
    names = [os.path.basename(p) for p in glob.glob(os.path.join(glob.escape(directory), "checkpoint-*.h5"))]
    return [os.path.join(directory, n) for n in sorted(n for n in names if CHECKPOINT_RE.match(n))]


def latest_checkpoint(directory: str) -> str | None:
    """The newest checkpoint that loads; a damaged newest one falls back to the one before."""
    for path in reversed(checkpoint_files(directory)):
        try:
            load_model(path)
            return path
        except ModelFileError as exc:
            print(f"hpcdl: skipping unusable checkpoint: {exc}", file=sys.stderr, flush=True)
    return None


def clear_checkpoints(directory: str) -> int:
    """Remove a job's checkpoints and leftover temporary files (a fresh run supersedes them)."""
    paths = checkpoint_files(directory) + glob.glob(os.path.join(glob.escape(directory), ".checkpoint-*.part"))
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    return len(paths)


def is_finished(model: Model) -> bool:
    """Did the run that wrote this checkpoint end (epochs, early stop, time limit, divergence)?"""
    reason = model.run_info.get("stop_reason")
    return bool(reason) and reason != SIGNAL_STOP


class CheckpointHook:
    """Trainer hook: rank 0 writes checkpoints; SIGTERM/SIGUSR1 become a clean stop of all ranks.

    Periodic checkpoints are written after an iteration's scoring and only
    when training goes on, so a resumed run continues exactly where the
    checkpoint was taken. A final checkpoint is written when training ends
    (signal or not), so ``--resume`` after a finished run has nothing to redo.
    """

    def __init__(self, job, comm, install_signals: bool = True) -> None:
        self.job = job
        self.comm = comm
        self.interval = float(job.checkpoint_interval or 0)
        self.last = time.time()
        self.signalled = 0
        self.written: list[str] = []
        self._previous: dict[int, object] = {}
        if install_signals:
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        self.signalled = signum

    def restore_signals(self) -> None:
        """Put back the handlers that were there before (after training)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def after_iteration(self, ctx) -> None:
        if self.signalled:
            ctx.stop_requested = 1
        from .train import CONTINUE

        if (
            self.comm.rank == 0
            and self.interval > 0
            and getattr(ctx, "reason", CONTINUE) == CONTINUE
            and time.time() - self.last >= self.interval
        ):
            self.write(ctx.model)

    def after_training(self, ctx) -> None:
        if self.comm.rank == 0:
            self.write(ctx.model)

    def write(self, model: Model) -> str | None:
        """Write ``checkpoint-<iteration>.h5`` atomically and keep the newest KEEP_CHECKPOINTS."""
        directory = self.job.checkpoint_dir
        os.makedirs(directory, exist_ok=True)
        if not self.written:  # temporary files of a run killed while writing
            for stale in glob.glob(os.path.join(glob.escape(directory), ".checkpoint-*.part")):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(stale)
        iteration = int(model.run_info.get("iterations", 0))
        path = os.path.join(directory, f"checkpoint-{iteration:08d}.h5")
        if not np.isfinite(model.net.buffer).all():
            return None  # never save a diverged state; the last good checkpoint stays
        model.save(path, force=True)
        self.written.append(path)
        for old in checkpoint_files(directory)[:-KEEP_CHECKPOINTS]:
            with contextlib.suppress(FileNotFoundError):
                os.remove(old)
        self.last = time.time()
        return path


def load_model_for_resume(
    job,
    comm,
    params: DeepLearningParameters,
    frame: Frame,
    validation_frame: Frame | None = None,
    as_json: bool = False,
) -> Model | None:
    """Every rank loads the newest complete checkpoint of the job (None: start fresh).

    Status lines go to stdout, or to stderr with ``as_json`` (stdout then holds only the JSON result)."""
    out = sys.stderr if as_json else sys.stdout
    path = latest_checkpoint(job.checkpoint_dir) if comm.rank == 0 else None
    path = comm.bcast(path)
    if path is None:
        if comm.rank == 0:
            print(f"hpcdl: no checkpoint in {job.checkpoint_dir}; starting from scratch", flush=True, file=out)
        return None
    model, _ = prepare_checkpoint(path, params, frame, None, None, validation_frame)
    if comm.rank == 0:
        state = "finished" if is_finished(model) else "resuming"
        print(
            f"hpcdl: {state} from {path} ({model.run_info.get('epochs', 0):.3f} epochs, "
            f"{model.run_info.get('iterations', 0)} iterations)",
            flush=True,
            file=out,
        )
    return model


class RunningMarker:
    """Trainer hook: rank 0 keeps ``<output_dir>/running.json`` while the job trains.

    The file holds pid, host, start time, a heartbeat (refreshed at most every
    HEARTBEAT_SECONDS, written atomically) and the epochs done and requested, so that
    ``hpcdl ui`` in another process can tell a running job from a stopped one. It is
    removed when training ends, however it ends; a killed job leaves it behind, and
    ``running_marker`` then sees a dead pid (same host) or a stale heartbeat.
    """

    def __init__(self, job, comm, total_epochs: float) -> None:
        self.path = os.path.join(job.output_dir, RUNNING_FILE) if comm.rank == 0 else None
        self.started = time.time()
        self.total = float(total_epochs)
        self.last = 0.0
        if self.path:
            os.makedirs(job.output_dir, exist_ok=True)
            self._write(0.0)

    def _write(self, epochs: float) -> None:
        data = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": self.started,
            "heartbeat": time.time(),
            "epochs": float(epochs),
            "total_epochs": self.total,
        }
        with atomic_path(self.path) as tmp:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
        self.last = time.time()

    def after_iteration(self, ctx) -> None:
        if self.path and time.time() - self.last >= HEARTBEAT_SECONDS:
            self._write(getattr(ctx, "epochs", 0.0))

    def remove(self) -> None:
        if self.path:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)


def running_marker(directory: str) -> dict | None:
    """The RunningMarker of a job directory if that job is still alive, else None."""
    path = os.path.join(directory, RUNNING_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        pid, host, beat = int(data["pid"]), str(data["host"]), float(data["heartbeat"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None  # the job died without cleaning up
        except PermissionError:
            pass  # alive, another user's
    elif time.time() - beat > STALE_SECONDS:
        return None
    return data
