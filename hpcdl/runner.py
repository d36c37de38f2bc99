"""Running a job on every rank: the output directory's lock, the checkpoints to continue,
frames, training through the one facade (hpcdl/api.py), saving, the final report.

``run_job`` returns an :class:`Outcome`; only the command line turns it into an exit code.
"""

from __future__ import annotations

import contextlib
import enum
import os
import sys
import time
import warnings
from dataclasses import dataclass

from . import api
from . import comm as comm_mod
from .api import check_checkpoint_use, check_columns
from .comm import Comm
from .cv import save_cross_validation_outputs
from .frame import import_source
from .grid import grid, write_summary
from .jobs import JobError, check_job, load_job
from .lifecycle import (
    CheckpointHook,
    RunLock,
    checkpoint_files,
    clear_checkpoints,
    newest_checkpoint,
    set_aside_checkpoints,
)
from .metrics import format_metrics
from .model import Model, load_model
from .output import format_error_table, print_json, progress_printer, write_anomaly_csv
from .params import ParameterError, any_autoencoder
from .runstate import StopReason
from .store import ModelFileError, read_model_summary
from .threads import core_shortage, launcher_of, rank_cores, resolve_threads
from .ui import start_live_ui


class Status(enum.Enum):
    FINISHED = "finished"  # the model is trained (and saved, with save_model)
    STOPPED = "stopped by a signal"  # a checkpoint to resume from; no final model file
    DIVERGED = "diverged"  # the last good model is saved; training could not go on
    FAILED = "failed"  # a grid job in which every model failed


@dataclass
class Outcome:
    """How a job ended, the same on every rank."""

    status: Status
    model: object = None  # the Model (a single-model job)
    signal: int = 0  # STOPPED: the signal; SIGTERM/SIGUSR1 (requeue) win over SIGINT (a user's Ctrl-C)
    checkpoint: str | None = None  # STOPPED: the newest complete checkpoint to resume from
    message: str = ""  # DIVERGED/FAILED: why


class UnfinishedRun(RuntimeError):
    """The output directory holds checkpoints a fresh run would lose; the message names --resume and --fresh."""


def _say(text: str, comm: Comm, as_json: bool = False) -> None:
    """Status lines from rank 0; on stderr when stdout carries JSON."""
    if comm.rank == 0:
        print(text, flush=True, file=sys.stderr if as_json else sys.stdout)


DEFAULT_SPLIT_SEED = 1  # [data] split_seed: a fixed default, so a re-run holds out the same rows


def open_job_frame(path: str, frames_dir: str, comm: Comm, **import_kw):
    """The frame of a job's data file: an .h5 frame as it is, a CSV/IDX file imported into the
    frame cache ``frames_dir`` (one writer per directory, reused while the file is unchanged)."""
    return import_source(path, frame_dir=frames_dir, comm=comm, **{k: v for k, v in import_kw.items() if v is not None})


def run_job(job, resume: bool = False, fresh: bool = False, as_json: bool = False, hooks=()) -> Outcome:
    """Run a job file's model (or grid) on every rank of the world communicator.

    ``resume`` continues the newest checkpoint (none yet: starts from scratch, with a note);
    ``fresh`` starts over, moving old checkpoints aside; without either, the checkpoints of an
    unfinished run make this an error (docs/checkpoints.md). Parameters are checked first, before a
    frame is read; then rank 0 takes the output directory's lock. ``hooks``: more trainer hooks
    (hpcdl.train.TrainHook) for a single-model job, after the job's own.
    """
    if resume and fresh:
        raise JobError("--resume and --fresh exclude each other: continue the old run, or start over")
    comm = comm_mod.world()
    params = comm_mod.agree(comm, lambda: check_job(job), JobError)
    if job.grid:  # a [grid] table: one model per combination (hpcdl/grid.py)
        with _owning(job, comm, 0.0) as (_, notes):
            return _run_grid(job, comm, notes, as_json)
    # From here on SIGTERM/SIGUSR1/SIGINT mean: stop after the iteration, checkpoint (docs/checkpoints.md).
    checkpoint_hook = CheckpointHook(job, comm)
    try:
        with _owning(job, comm, float(params.epochs)) as (lock, notes):
            resume_path, more = comm_mod.on_rank0(comm, lambda: _claim_checkpoints(job, resume, fresh))
            own = [checkpoint_hook] + ([lock] if lock is not None else [])  # the lock keeps the UI's epochs
            return _train_job(job, comm, params, [*own, *hooks], resume_path, notes + more, as_json)
    finally:
        checkpoint_hook.restore_signals()


@contextlib.contextmanager
def _owning(job, comm: Comm, total_epochs: float):
    """Rank 0 holds the job's RunLock while the job runs; yields it (None on other ranks) and the
    notes to print (a stale lock taken over)."""
    lock = RunLock(job.output_dir, total_epochs) if comm.rank == 0 else None
    note = comm_mod.on_rank0(comm, lambda: lock.acquire())
    try:
        yield lock, [note] if note else []
    finally:
        if lock is not None:
            lock.release()


def _claim_checkpoints(job, resume: bool, fresh: bool) -> tuple[str | None, list[str]]:
    """Rank 0, holding the lock: apply the fresh/resume rules to old checkpoints (docs/checkpoints.md).

    Returns the checkpoint to resume from (or None) and the notes to print."""
    directory = job.checkpoint_dir
    if fresh:
        if os.path.isdir(directory) and os.listdir(directory):
            kept = set_aside_checkpoints(directory)
            return None, [f"hpcdl: starting over; the previous run's checkpoints are kept in {kept}"]
        return None, []
    if not checkpoint_files(directory):
        return None, [f"hpcdl: --resume: no checkpoint in {directory} yet; starting from scratch"] if resume else []
    path, model = newest_checkpoint(directory)
    where = job.path if job.from_file else "hpcdl train"
    if model is None:
        raise UnfinishedRun(
            f"{where}: none of the checkpoints in {directory} can be read (see above); "
            "start over with --fresh (they are moved aside, not deleted)"
        )
    if resume:
        return path, []
    if not model.run.finished:
        how = "stopped by a signal" if model.run.stop_reason is StopReason.SIGNAL else "killed or crashed"
        raise UnfinishedRun(
            f"{where}: {directory} holds the checkpoints of an unfinished run ({how} after "
            f"{model.run.epochs:.3f} of {float(model.effective.epochs):g} epochs; newest "
            f"{os.path.basename(path)}). Continue it with --resume, or start over with --fresh "
            f"(moves them to {os.path.basename(directory)}.old-<time>/, nothing is deleted)"
        )
    return None, [_supersede_finished_run(job, model)]


def _supersede_finished_run(job, model) -> str:
    """A new run of a finished job: its checkpoints go if the model file holds its final state (the newest
    checkpoint is a copy of it), else they are moved aside: then they are the only copy of that model."""
    try:
        saved = read_model_summary(job.model_path) if os.path.exists(job.model_path) else None
    except ModelFileError:
        saved = None
    last = model.scoring_events[-1] if model.scoring_events else None
    if saved and saved["model_id"] == model.model_id and (saved["history"] or [None])[-1] == last:
        removed = clear_checkpoints(job.checkpoint_dir)
        return (
            f"hpcdl: the previous run of {job.name} finished and its model is {job.model_path}: its {removed} "
            "checkpoint file(s) are removed (the new model replaces that file when it finishes)"
        )
    kept = set_aside_checkpoints(job.checkpoint_dir)
    return f"hpcdl: the previous run of {job.name} finished; its checkpoints are kept in {kept}"


def _open_frames(job, comm: Comm):
    frames_dir = os.path.join(job.output_dir, "frames")
    kw = {key: job.data.get(key) for key in ("col_types", "header", "sep", "na_strings")}
    train, valid, test = (
        open_job_frame(job.data_path(key), frames_dir, comm, **kw) if job.data.get(key) else None
        for key in ("training_frame", "validation_frame", "test_frame")
    )
    split = job.data.get("validation_split")
    if split:  # hold out split_frame's rows: scoring, early stopping and the best model never see the test frame
        train, valid = train.split_frame(
            ratios=[1.0 - float(split)], seed=int(job.data.get("split_seed", DEFAULT_SPLIT_SEED))
        )
    return train, valid, test


def _columns(job, frame, autoencoder: bool):
    """x and y of the job, checked against the training frame; errors name the job file and line."""
    y = job.data.get("y") or None
    x = job.data.get("x") or None
    ignored = job.data.get("ignored_columns") or []
    source = job.data_path("training_frame")
    unknown = [c for c in ignored if c not in frame.names]
    if unknown:
        raise JobError(f"{job.where('data', 'ignored_columns')}: column(s) {unknown} are not in {source}")
    try:
        check_columns(frame, x, y, autoencoder, source=source)
    except ParameterError as exc:
        raise JobError(f"{job.where('data', exc.parameter)}: {exc}") from None
    if x is None and ignored:
        x = [n for n in frame.names if n not in ignored and n != y]
    return x, y


def _threads(job, comm: Comm) -> int:
    cores_here = comm_mod.on_this_node(comm, rank_cores())  # each rank's binding, for this node's ranks
    threads = resolve_threads(job.threads, len(cores_here), len(frozenset().union(*cores_here)))
    shortage = core_shortage(threads, cores_here, os.cpu_count() or 1, launcher_of(os.environ))
    if comm.rank == 0 and shortage:
        warnings.warn(shortage, stacklevel=3)
    return threads


def _run_grid(job, comm: Comm, notes: list[str], as_json: bool) -> Outcome:
    """A job file's grid on every rank (grid.py prints each model's line); world rank 0 reports."""
    train_frame, valid_frame, test_frame = _open_frames(job, comm)
    autoencoder = any_autoencoder(job.parameters, job.grid)
    x, y = comm_mod.agree(comm, lambda: _columns(job, train_frame, autoencoder), JobError)
    for note in notes:
        _say(note, comm, as_json)
    fixed = {k: v for k, v in job.parameters.items() if k not in ("model_id", "key")}
    out_dir = os.path.join(job.output_dir, "grid")
    if comm.rank == 0:
        os.makedirs(out_dir, exist_ok=True)
    comm.barrier()
    quiet = job.quiet or as_json or fixed.get("quiet_mode")
    _say(
        f"hpcdl: grid job {job.name}: {comm.size} rank(s) in {job.parallelism} group(s); "
        f"hyper-parameters {sorted(job.grid)}; output {out_dir}",
        comm,
        as_json,
    )
    g = grid(
        x,
        y,
        train_frame,
        valid_frame,
        hyper_params=job.grid,
        search_criteria=job.search_criteria,
        grid_id=job.name,
        threads=job.threads,
        comm=comm,
        parallelism=job.parallelism,
        save_dir=out_dir if job.save_model else None,
        progress=None if quiet else True,
        **fixed,
    )
    if comm.rank == 0:
        if not job.save_model:
            write_summary(g, out_dir)
        _report_grid(g, out_dir, test_frame, as_json)
    if not len(g):
        return Outcome(Status.FAILED, message=f"every model of grid {g.grid_id} failed")
    return Outcome(Status.FINISHED)


def _report_grid(g, out_dir: str, test_frame, as_json: bool) -> None:
    """Rank 0: the grid's summary, best model first, and the best model's metrics on the test frame."""
    test_metrics = g[0].model_performance(test_frame) if len(g) and test_frame is not None else None
    if as_json:
        print_json(
            {
                "grid_id": g.grid_id,
                "directory": out_dir,
                "sort_by": g.sort_metric,
                "models": g.summary_table(),
                "best_model_test_metrics": test_metrics,
            }
        )
        return
    print()
    print(g)
    if test_metrics:
        _print_test_metrics(
            test_metrics, g[0], f"Best model {g[0].model_id} on the test frame {test_frame.display_name}"
        )
    print(f"\ngrid summary: {os.path.join(out_dir, 'summary.csv')}")


def _print_test_metrics(test_metrics: dict, model, title: str) -> None:
    print()
    print(format_metrics(test_metrics, model.kind, title, domain=model.dinfo.response_domain))


def _train_job(
    job, comm: Comm, params, hooks: list, resume_path: str | None, notes: list[str], as_json: bool
) -> Outcome:
    """Frames, the model to continue, training, then the report; ``hooks[0]`` is the CheckpointHook."""
    checkpoint_hook = hooks[0]
    t0 = time.time()
    train_frame, valid_frame, test_frame = _open_frames(job, comm)
    x, y = comm_mod.agree(comm, lambda: _columns(job, train_frame, params.autoencoder), JobError)
    threads = _threads(job, comm)
    _say(
        f"hpcdl: job {job.name}: {comm.size} rank(s) x {threads} thread(s); training frame {train_frame.display_name} "
        f"({train_frame.nrow} rows)",
        comm,
        as_json,
    )
    for note in notes:
        _say(note, comm, as_json)
    checkpoint = comm_mod.agree(comm, lambda: _checkpoint_to_continue(job, params, resume_path), ValueError)
    if resume_path is not None:
        how = "finished" if checkpoint.run.finished else "resuming"
        run = checkpoint.run
        _say(f"hpcdl: {how} from {resume_path} ({run.epochs:.3f} epochs, {run.iterations} iterations)", comm, as_json)
    if job.ui and comm.rank == 0:  # live web view, served by a daemon thread on rank 0
        live_ui, ui_server = start_live_ui(job, ranks=comm.size, threads=threads)
        hooks = [*hooks, live_ui]
        _say(f"hpcdl: web UI of this job at {ui_server.url} (read-only; docs/ui.md)", comm, as_json)
    progress = None if (job.quiet or params.quiet_mode or as_json) else progress_printer(float(params.epochs), t0)
    try:
        if _already_finished(checkpoint, params):
            args = (params, train_frame, valid_frame, x, y, checkpoint)
            model, _ = comm_mod.agree(comm, lambda: check_checkpoint_use(*args), ValueError)
            _say(
                f"hpcdl: job {job.name} already finished ({model.run.stop_reason.value}); nothing to resume",
                comm,
                as_json,
            )
        else:
            model = api.train_model(  # by its module: the one way in, as every caller sees it
                params,
                train_frame,
                valid_frame,
                x=x,
                y=y,
                checkpoint=checkpoint,
                comm=comm,
                threads=threads,
                hooks=hooks,
                progress=progress,
            )
    finally:
        checkpoint_hook.restore_signals()  # a Ctrl-C while saving interrupts at once
    if model.run.stop_reason is StopReason.SIGNAL:
        return _stopped(job, comm, model, checkpoint_hook)
    comm_mod.on_rank0(comm, lambda: _save_and_report(job, model, test_frame, t0, as_json))
    if model.run.diverged:
        return Outcome(Status.DIVERGED, model=model, message=model.run.diverged)
    return Outcome(Status.FINISHED, model=model)


def _checkpoint_to_continue(job, params, resume_path: str | None):
    """--resume's checkpoint (loaded on every rank), else parameters.checkpoint's path, else None."""
    if resume_path is None:
        return resolve_checkpoint_path(params.checkpoint, job) if params.checkpoint else None
    return load_model(resume_path)


def _already_finished(checkpoint, params) -> bool:
    """A resumed checkpoint of a finished run is not trained further unless the job asks for more epochs."""
    if not isinstance(checkpoint, Model) or not checkpoint.run.finished:
        return False
    run = checkpoint.run
    more = run.stop_reason is StopReason.EPOCHS and float(params.epochs) > run.epochs * (1 + 1e-9)
    return not more


def _stopped(job, comm: Comm, model, checkpoint_hook) -> Outcome:
    """Stopped by a signal: the signal (agreed by all ranks) and the newest complete checkpoint."""
    signum = int(comm.allreduce_scalar(checkpoint_hook.signalled, op="max"))
    newest = comm.bcast((checkpoint_files(job.checkpoint_dir) or [None])[-1] if comm.rank == 0 else None)
    return Outcome(
        Status.STOPPED, model=model, signal=signum, checkpoint=newest, message="\n".join(checkpoint_hook.failed)
    )


def _save_and_report(job, model, test_frame, t0: float, as_json: bool) -> None:
    """Rank 0: the model file, fold models, test metrics, anomaly scores, and the report."""
    cv_files = None
    if job.save_model:
        _save_final_model(job, model)
        if model.fold_models:  # fold models (and holdout predictions) beside the main model
            cv_files = save_cross_validation_outputs(model, job.output_dir)
    test_metrics = model.model_performance(test_frame) if test_frame is not None else None
    anomaly_csv = anomaly_errors = None
    if test_frame is not None and model.kind == "autoencoder":  # per-row Reconstruction.MSE of the test frame
        anomaly_csv = os.path.join(job.output_dir, f"{job.name}_anomaly.csv")
        anomaly_errors = write_anomaly_csv(anomaly_csv, model, test_frame)
    if as_json:
        print_json(
            {
                "model_id": model.model_id,
                "model_path": job.model_path if job.save_model else None,
                "run_info": model.run_info,
                "training_metrics": model.training_metrics,
                "validation_metrics": model.validation_metrics,
                "test_metrics": test_metrics,
                "anomaly_csv": anomaly_csv,
                "cross_validation_files": cv_files,
                "scoring_history": model.scoring_events,
            }
        )
        return
    print(model)
    if test_metrics:
        _print_test_metrics(test_metrics, model, f"ModelMetrics (test frame {test_frame.display_name})")
    if anomaly_errors is not None:
        print(f"\nReconstruction error per row of the test frame (sorted; all rows in {anomaly_csv}):")
        print(format_error_table(anomaly_errors))
    run = model.run
    print(
        f"\nstopped: {run.stop_reason.value}; {run.epochs:.3f} epochs, "
        f"{run.samples:,} samples in {run.train_seconds:.1f} s of training "
        f"({run.samples_per_second or 0:,.0f} samples/s), wall {time.time() - t0:.1f} s"
    )
    if job.save_model:
        print(f"model saved: {job.model_path}")
    if cv_files:
        print(f"fold models saved: {', '.join(cv_files['fold_models'])}")
        if cv_files["holdout_predictions"]:
            print(f"holdout predictions (frame): {cv_files['holdout_predictions']}")


def _save_final_model(job, model) -> None:
    """The one write whose failure is an error: say how not to lose the trained model."""
    try:
        model.save(job.model_path, force=True)
    except OSError as exc:
        newest = (checkpoint_files(job.checkpoint_dir) or [None])[-1]
        rescue = (
            f"free space and run the job again with --resume: it continues from the last checkpoint {newest} "
            "and saves the model"
            if newest
            else "no checkpoint was written either; free space and run the job again"
        )
        raise OSError(
            f"{job.model_path}: the trained model could not be saved ({exc}); it is lost unless you {rescue}"
        ) from None


def resolve_checkpoint_path(value: str, job) -> str:
    """parameters.checkpoint: as given (relative to the launch directory), else relative to the job file."""
    path = os.path.expanduser(str(value))
    if not os.path.isabs(path) and not os.path.exists(path):
        beside_job = os.path.join(os.path.dirname(os.path.abspath(job.path)), path)
        if os.path.exists(beside_job):
            return beside_job
    return path


def demo(threads: int | None = None, as_json: bool = False) -> Outcome:
    """H2O's deeplearning demo: prostate.csv, CAPSULE as a binary response."""
    here = os.path.dirname(os.path.abspath(__file__))
    job_file = os.path.join(here, "datasets", "demo.toml")
    job = load_job(job_file)
    job.output_dir = os.path.abspath(os.path.join("runs", "demo"))
    job.data["training_frame"] = os.path.join(here, "datasets", "prostate.csv")
    if threads:
        job.threads = threads
    try:
        return run_job(job, as_json=as_json)
    except UnfinishedRun:  # an interrupted demo: start over (`hpcdl demo` has no --resume)
        return run_job(job, fresh=True, as_json=as_json)
