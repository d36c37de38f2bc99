"""Model lifecycle: checkpoint restart, periodic checkpoints, signals, resume.

Rank 0 writes a checkpoint every ``checkpoint_interval`` seconds (job setting)
as a complete model file, atomically: the previous checkpoint stays until the
new one is complete. SIGTERM/SIGUSR1 (Slurm's warning before the time limit)
set a flag on the rank that got it; the trainer turns any rank's flag into a
stop for all ranks at the next iteration boundary, rank 0 writes a final
checkpoint and the job exits with code 3 so that the Slurm script requeues it.
"""

from __future__ import annotations

import glob
import os
import re
import signal
import time

import numpy as np

from .frame import Frame
from .model import Model, load_model
from .params import DeepLearningParameters, check_checkpoint_change
from .store import ModelFileError

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d{8})\.h5$")
KEEP_CHECKPOINTS = 2


class CheckpointError(ValueError):
    """A checkpoint cannot be used to continue training; the message names the mismatch."""


# -- checkpoint restart (the booklet's checkpoint=) ----------------------------
def check_data_compatible(model: Model, frame: Frame) -> None:
    """The new training frame must have the model's columns, types and categorical domains."""
    dinfo = model.dinfo
    needed = list(dinfo.predictors) + ([dinfo.response] if dinfo.response else [])
    missing = [c for c in needed if c not in frame.names]
    if missing:
        raise CheckpointError(f"{frame.path}: checkpoint model {model.model_id} needs column(s) {missing}")
    old_types = dinfo.column_types if hasattr(dinfo, "column_types") else {}
    for col in needed:
        new_type = frame.type(col)
        old_enum = col in (dinfo.domains if hasattr(dinfo, "domains") else {})
        if col == dinfo.response and dinfo.classification:
            old_enum = True
            if new_type == "enum" and list(frame.domains[col]) != list(dinfo.response_domain):
                raise CheckpointError(f"{frame.path}: response {col!r} has levels {frame.domains[col]}, the "
                                      f"checkpoint model was trained on {dinfo.response_domain}")
            continue
        if old_types and col in old_types and (old_types[col] == "enum") != (new_type == "enum"):
            raise CheckpointError(f"{frame.path}: column {col!r} is {new_type}, the checkpoint model was trained "
                                  f"with it as {old_types[col]}")
        if old_enum:
            if new_type != "enum":
                raise CheckpointError(f"{frame.path}: column {col!r} is {new_type}, the checkpoint model was "
                                      "trained with it as a categorical")
            if list(frame.domains[col]) != list(dinfo.domains[col]):
                raise CheckpointError(f"{frame.path}: column {col!r} has levels {frame.domains[col]}, the "
                                      f"checkpoint model was trained on {dinfo.domains[col]}")


def prepare_checkpoint(checkpoint, params: DeepLearningParameters, frame: Frame, x, y):
    """Load (if a path) and check a checkpoint model; returns (model, its DataInfo)."""
    model = checkpoint if isinstance(checkpoint, Model) else load_model(os.fspath(checkpoint))
    old = model.params
    if y is not None and model.dinfo.response != y:
        raise CheckpointError(f"cannot change the response on checkpoint restart: was {model.dinfo.response!r}, "
                              f"now {y!r}")
    if x is not None and sorted(x) != sorted(model.dinfo.predictors) and sorted(x) != sorted(
            list(model.dinfo.predictors) + list(getattr(model.dinfo, "dropped", {}))):
        raise CheckpointError(f"cannot change the predictors on checkpoint restart: was "
                              f"{list(model.dinfo.predictors)}, now {list(x)}")
    check_checkpoint_change(old, params)
    check_data_compatible(model, frame)
    model = Model.from_content(model.to_content())  # train a copy; the given model stays as it was
    return model, model.dinfo


# -- periodic checkpoints and signals ------------------------------------------
def checkpoint_files(directory: str) -> list[str]:
    """Complete checkpoints of a job, oldest first (temporary *.part files never match)."""
    names = [os.path.basename(p) for p in glob.glob(os.path.join(directory, "checkpoint-*.h5"))]
    return [os.path.join(directory, n) for n in sorted(n for n in names if CHECKPOINT_RE.match(n))]


def latest_checkpoint(directory: str) -> str | None:
    """The newest checkpoint that loads; a damaged newest one falls back to the one before."""
    for path in reversed(checkpoint_files(directory)):
        try:
            load_model(path)
            return path
        except ModelFileError:
            continue
    return None


class CheckpointHook:
    """Writes checkpoints on rank 0 and turns SIGTERM/SIGUSR1 into a clean stop."""

    def __init__(self, job, comm, install_signals: bool = True) -> None:
        self.job = job
        self.comm = comm
        self.interval = float(job.checkpoint_interval or 0)
        self.last = time.time()
        self.signalled = 0
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGUSR1):
                signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        self.signalled = signum

    def after_iteration(self, ctx) -> None:
        if self.signalled:
            ctx.stop_requested = 1
        if self.comm.rank == 0 and self.interval > 0 and time.time() - self.last >= self.interval:
            self.write(ctx.model)

    def after_training(self, ctx) -> None:
        if self.comm.rank == 0 and (self.signalled or ctx.model.run_info.get("stop_reason", "").startswith("stop")):
            self.write(ctx.model)

    def write(self, model: Model) -> str:
        directory = self.job.checkpoint_dir
        os.makedirs(directory, exist_ok=True)
        iteration = int(model.run_info.get("iterations", 0))
        path = os.path.join(directory, f"checkpoint-{iteration:08d}.h5")
        if not np.isfinite(model.net.buffer).all():
            return path  # never save a diverged model; the last good checkpoint stays
        model.save(path, force=True)
        for old in checkpoint_files(directory)[:-KEEP_CHECKPOINTS]:
            os.remove(old)
        self.last = time.time()
        return path


def load_model_for_resume(job, comm, params: DeepLearningParameters, frame: Frame) -> Model | None:
    """Every rank loads the newest complete checkpoint of the job (None: start fresh)."""
    path = latest_checkpoint(job.checkpoint_dir) if comm.rank == 0 else None
    path = comm.bcast(path)
    if path is None:
        if comm.rank == 0:
            print(f"hpcdl: no checkpoint in {job.checkpoint_dir}; starting from scratch", flush=True)
        return None
    model, _ = prepare_checkpoint(path, params, frame, None, None)
    if comm.rank == 0:
        print(f"hpcdl: resuming from {path} ({model.run_info.get('epochs', 0):.3f} epochs, "
              f"{model.run_info.get('iterations', 0)} iterations)", flush=True)
    return model
