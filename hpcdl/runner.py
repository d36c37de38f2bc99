"""Running a job on every rank: frames, training, progress, saving, the final report."""

from __future__ import annotations

import os
import sys
import time
import warnings

from . import comm as comm_mod
from .output import print_json


def _say(text: str, comm, as_json: bool = False) -> None:
    """Status lines from rank 0; on stderr when stdout carries JSON."""
    if comm.rank == 0:
        print(text, flush=True, file=sys.stderr if as_json else sys.stdout)


def open_job_frame(path: str, frames_dir: str, comm, **import_kw):
    """The frame of a job's data file: an .h5 frame as it is, a CSV/IDX file imported into the
    frame cache ``frames_dir`` (one writer per directory, reused while the file is unchanged)."""
    from .frame import import_source

    return import_source(path, frame_dir=frames_dir, comm=comm, **{k: v for k, v in import_kw.items() if v is not None})


def progress_printer(total_epochs: float, t0: float):
    def show(row: dict, model) -> None:
        epochs = row.get("epochs", 0.0)
        elapsed = time.time() - t0
        eta = elapsed / epochs * (total_epochs - epochs) if epochs > 0 else float("nan")
        parts = [
            f"epochs {epochs:8.3f}/{total_epochs:g}",
            f"iter {row.get('iterations', 0):4d}",
            f"{row.get('training_speed', 0):10,.0f} samples/s",
        ]
        for key, label in (
            ("training_classification_error", "train err"),
            ("training_rmse", "train rmse"),
            ("validation_classification_error", "valid err"),
            ("validation_rmse", "valid rmse"),
        ):
            if key in row:
                parts.append(f"{label} {row[key]:.4f}")
        parts.append(f"elapsed {elapsed:6.1f}s ETA {eta:6.1f}s")
        print("  ".join(parts), flush=True)

    return show


def job_parameters(job) -> dict:
    params = dict(job.parameters)
    params.setdefault("model_id", job.name)
    return params


def run_job(job, resume: bool = False, as_json: bool = False) -> int:
    from .params import DeepLearningParameters
    from .prep import DataInfo
    from .train import Trainer

    comm = comm_mod.world()
    from .lifecycle import CheckpointHook

    # From here on SIGTERM/SIGUSR1 mean: stop at the next iteration, checkpoint, exit 3 (docs/checkpoints.md).
    checkpoint_hook = CheckpointHook(job, comm)
    t0 = time.time()
    frames_dir = os.path.join(job.output_dir, "frames")
    kw = {
        "col_types": job.data.get("col_types"),
        "header": job.data.get("header"),
        "sep": job.data.get("sep"),
        "na_strings": job.data.get("na_strings"),
    }
    train_frame = open_job_frame(job.data_path("training_frame"), frames_dir, comm, **kw)
    valid_frame = (
        open_job_frame(job.data_path("validation_frame"), frames_dir, comm, **kw)
        if job.data.get("validation_frame")
        else None
    )
    test_frame = (
        open_job_frame(job.data_path("test_frame"), frames_dir, comm, **kw) if job.data.get("test_frame") else None
    )

    params = job_parameters(job)
    y = job.data.get("y")
    x = job.data.get("x") or None
    ignored = job.data.get("ignored_columns") or []
    if x is None and ignored:
        x = [n for n in train_frame.names if n not in ignored and n != y]
    if job.grid:  # a [grid] table: one model per combination (hpcdl/grid.py)
        from .grid import run_grid_job

        return run_grid_job(job, x, y, train_frame, valid_frame, test_frame, as_json=as_json)
    from .grid import reject_grid_values

    reject_grid_values(params)  # lists of values in [parameters]: point at [grid]
    p = DeepLearningParameters(**params)
    if p.fold_column:
        from .cv import excluding_fold_column

        x = excluding_fold_column(train_frame, x, y, p.fold_column)
    dinfo = DataInfo.fit(
        train_frame,
        x,
        None if p.autoencoder else y,
        autoencoder=p.autoencoder,
        classification=p.classification,
        standardize=p.standardize,
        use_all_factor_levels=p.use_all_factor_levels,
        missing_values_handling=p.missing_values_handling,
        ignore_const_cols=p.ignore_const_cols,
        max_categorical_features=p.max_categorical_features,
        seed=p.seed if p.seed not in (None, -1) else 0,
    )
    p.validate(
        classification=bool(dinfo.classification),
        n_classes=len(dinfo.response_domain) if dinfo.classification else None,
    )
    from .train import resolve_threads

    ranks_here = comm_mod.ranks_on_this_node(comm)
    threads = resolve_threads(job.threads, ranks_here)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if comm.rank == 0 and ranks_here * threads > cores:
        warnings.warn(
            f"{ranks_here} ranks x {threads} threads on this node exceed its {cores} cores: "
            "HOGWILD! threads will be oversubscribed; lower threads or ranks per node",
            stacklevel=2,
        )
    _say(
        f"hpcdl: job {job.name}: {comm.size} rank(s) x {threads} thread(s); training frame {train_frame.path} "
        f"({train_frame.nrow} rows); {dinfo.n_inputs} inputs",
        comm,
        as_json,
    )
    checkpoint_model = lifecycle_setup(job, comm, p, train_frame, valid_frame, x, y, resume, as_json)
    from .lifecycle import RunningMarker

    running = RunningMarker(job, comm, float(p.epochs))  # for `hpcdl ui` in another process
    hooks = [checkpoint_hook, running]
    if checkpoint_model is not None:
        dinfo = checkpoint_model.dinfo
    if getattr(job, "ui", False) and comm.rank == 0:  # live web view, served by a daemon thread on rank 0
        from .ui import start_live_ui

        live_ui, ui_server = start_live_ui(job, ranks=comm.size, threads=threads)
        hooks.append(live_ui)
        _say(f"hpcdl: web UI of this job at {ui_server.url} (read-only; docs/ui.md)", comm, as_json)
    progress = None if (job.quiet or p.quiet_mode or as_json) else progress_printer(float(p.epochs), t0)
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
    from .lifecycle import SIGNAL_STOP, is_finished

    try:
        if (
            checkpoint_model is not None
            and is_finished(checkpoint_model)
            and not _wants_more_epochs(checkpoint_model, p)
        ):
            _say(
                f"hpcdl: job {job.name} already finished ({checkpoint_model.run_info.get('stop_reason')}); "
                "nothing to resume",
                comm,
                as_json,
            )
            model = checkpoint_model
        elif p.nfolds or p.fold_column:  # fold models, then the main model (hpcdl/cv.py)
            from .cv import check_no_validation_frame, cross_validate

            check_no_validation_frame(p, valid_frame is not None)
            model = cross_validate(p, dinfo, train_frame, comm=comm, threads=threads, hooks=hooks, progress=progress)
        else:
            model = trainer.run()
    finally:
        checkpoint_hook.restore_signals()
        running.remove()
    stopped_by_signal = model.run_info.get("stop_reason") == SIGNAL_STOP
    code = 0
    if comm.rank == 0 and stopped_by_signal:
        written = checkpoint_hook.written[-1] if checkpoint_hook.written else None
        _say(
            f"hpcdl: stopped by a signal after {model.run_info.get('epochs', 0):.3f} epochs; checkpoint "
            f"{written}; continue with: hpcdl train {job.path} --resume (exit code 3)",
            comm,
            as_json,
        )
        if as_json:  # scripts reading stdout learn where to resume from, not just the exit code
            print_json(
                {
                    "stopped_by_signal": True,
                    "exit_code": 3,
                    "checkpoint": written,
                    "resume_command": f"hpcdl train {job.path} --resume",
                    "model_id": model.model_id,
                    "run_info": model.run_info,
                    "scoring_history": model.scoring_history,
                }
            )
    elif comm.rank == 0:
        cv_files = None
        if job.save_model:
            os.makedirs(job.output_dir, exist_ok=True)
            model.save(job.model_path, force=True)
            if model.cross_validation_models:  # fold models (and holdout predictions) beside the main model
                from .cv import save_cross_validation_outputs

                cv_files = save_cross_validation_outputs(model, job.output_dir)
        test_metrics = model.model_performance(test_frame) if test_frame is not None else None
        anomaly_csv = anomaly_errors = None
        if test_frame is not None and model.kind == "autoencoder":  # per-row Reconstruction.MSE of the test frame
            from .commands.anomaly import write_anomaly_csv

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
                    "scoring_history": model.scoring_history,
                }
            )
        else:
            print(model)
            if test_metrics:
                from .metrics import format_metrics

                print()
                print(
                    format_metrics(
                        test_metrics,
                        model.kind,
                        f"ModelMetrics (test frame {test_frame.path})",
                        domain=model.dinfo.response_domain,
                    )
                )
            if anomaly_errors is not None:
                from .commands.anomaly import format_error_table

                print(f"\nReconstruction error per row of the test frame (sorted; all rows in {anomaly_csv}):")
                print(format_error_table(anomaly_errors))
            info = model.run_info
            print(
                f"\nstopped: {info.get('stop_reason')}; {info.get('epochs', 0):.3f} epochs, "
                f"{info.get('samples', 0):,} samples in {info.get('train_seconds', 0):.1f} s of training "
                f"({info.get('samples_per_second', 0):,.0f} samples/s), wall {time.time() - t0:.1f} s"
            )
            if job.save_model:
                print(f"model saved: {job.model_path}")
            if cv_files:
                print(f"fold models saved: {', '.join(cv_files['fold_models'])}")
                if cv_files["holdout_predictions"]:
                    print(f"holdout predictions (frame): {cv_files['holdout_predictions']}")
        if model.run_info.get("diverged"):
            print(f"hpcdl train: error: {model.run_info['diverged']}", file=sys.stderr)
            code = 1
    if stopped_by_signal:
        from .cli import EXIT_REQUEUE

        code = EXIT_REQUEUE
    return comm.bcast(code)


def _wants_more_epochs(model, params) -> bool:
    """A run that ended at its epochs can be continued by a job asking for more epochs."""
    return model.run_info.get("stop_reason") == "epochs reached" and float(params.epochs) > float(
        model.run_info.get("epochs", 0.0)
    ) * (1 + 1e-9)


def resolve_checkpoint_path(value: str, job) -> str:
    """parameters.checkpoint: as given (relative to the launch directory), else relative to the job file."""
    path = os.path.expanduser(str(value))
    if not os.path.isabs(path) and not os.path.exists(path):
        beside_job = os.path.join(os.path.dirname(os.path.abspath(job.path)), path)
        if os.path.exists(beside_job):
            return beside_job
    return path


def lifecycle_setup(job, comm, params, train_frame, valid_frame, x, y, resume: bool, as_json: bool = False):
    """The model to continue, if any (docs/checkpoints.md).

    ``--resume`` continues the job's newest complete checkpoint; without
    one (or without --resume) ``parameters.checkpoint`` names a model to
    continue. A fresh run removes the job's old checkpoints first, so that
    their iteration numbers cannot be taken for newer ones.
    """
    from .lifecycle import clear_checkpoints, load_model_for_resume, prepare_checkpoint

    checkpoint_model = None
    if resume:
        checkpoint_model = load_model_for_resume(job, comm, params, train_frame, valid_frame, as_json)
    elif comm.rank == 0 and os.path.isdir(job.checkpoint_dir):
        removed = clear_checkpoints(job.checkpoint_dir)
        if removed:
            _say(
                f"hpcdl: fresh run: removed {removed} old checkpoint file(s) in {job.checkpoint_dir} "
                "(--resume continues them instead)",
                comm,
                as_json,
            )
    if checkpoint_model is None and params.checkpoint:
        path = resolve_checkpoint_path(params.checkpoint, job)
        checkpoint_model, _ = prepare_checkpoint(path, params, train_frame, x, y, valid_frame)
    comm.barrier()
    return checkpoint_model


def demo(threads: int | None = None, as_json: bool = False) -> int:
    """H2O's deeplearning demo: prostate.csv, CAPSULE as a binary response."""
    from .jobs import load_job

    here = os.path.dirname(os.path.abspath(__file__))
    job_file = os.path.join(here, "datasets", "demo.toml")
    job = load_job(job_file)
    job.output_dir = os.path.abspath(os.path.join("runs", "demo"))
    job.data["training_frame"] = os.path.join(here, "datasets", "prostate.csv")
    if threads:
        job.threads = threads
    return run_job(job, as_json=as_json)
