"""Checkpoints, signals and resume across ranks (docs/checkpoints.md), run under 2 and 3 ranks.

    timeout 300 mpiexec -n 2 python -m pytest --with-mpi -m mpi tests/mpi/test_lifecycle_mpi.py -q

A killed rank and SIGTERM sent to ``mpiexec`` itself are checked by
tests/test_lifecycle.py (a serial test that launches ``mpiexec``).
"""

import os
import signal
from types import SimpleNamespace

import numpy as np
import pytest
from collective import assert_all, on_rank0

import hpcdl
from hpcdl.frame import Frame
from hpcdl.lifecycle import CheckpointHook, checkpoint_files, latest_checkpoint
from hpcdl.runstate import StopReason
from hpcdl.train import TrainHook

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")
X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]


def _prostate(comm, directory):
    def make():
        return hpcdl.import_file(
            os.path.join(DATA, "prostate.csv"),
            destination=os.path.join(directory, "p.h5"),
            col_types={"CAPSULE": "enum"},
        ).path

    return Frame(on_rank0(comm, make))


class SignalOnRank(TrainHook):
    """Sends a real SIGUSR1 to this process on one rank at one iteration (Slurm's --signal)."""

    def __init__(self, comm, rank, iteration):
        self.comm, self.rank, self.iteration = comm, rank, iteration

    def after_iteration(self, ctx):
        if self.comm.rank == self.rank and ctx.iteration == self.iteration:
            os.kill(os.getpid(), signal.SIGUSR1)


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("replicate", [True, False])
def test_signal_on_one_rank_stops_all_and_resume_matches_uninterrupted(comm, shared_dir, replicate):
    directory = shared_dir
    frame = _prostate(comm, directory)
    params = {
        "x": X,
        "y": "CAPSULE",
        "hidden": [5],
        "epochs": 3,
        "seed": 9,
        "reproducible": True,
        "quiet_mode": True,
        "train_samples_per_iteration": 60,
        "shuffle_training_data": True,
        "replicate_training_data": replicate,
        "activation": "RectifierWithDropout",
        "stopping_rounds": 0,
    }
    full = hpcdl.deeplearning(training_frame=frame, comm=comm, threads=1, **params)

    job = SimpleNamespace(checkpoint_interval=0, checkpoint_dir=os.path.join(directory, f"ck-{replicate}"))
    hook = CheckpointHook(job, comm)  # real SIGTERM/SIGUSR1 handlers on every rank
    try:
        part = hpcdl.deeplearning(
            training_frame=frame, comm=comm, threads=1, hooks=[SignalOnRank(comm, comm.size - 1, 3), hook], **params
        )
    finally:
        hook.restore_signals()
    # the last rank got the signal; every rank stopped after the same iteration
    assert_all(comm, part.run_info["stop_reason"] == "stop requested (signal)", part.run_info.get("stop_reason"))
    iterations = comm.allgather(part.run_info["iterations"])
    assert_all(comm, iterations == [3] * comm.size, f"iterations per rank {iterations}")
    files = comm.bcast(checkpoint_files(job.checkpoint_dir) if comm.rank == 0 else None)
    assert_all(comm, len(files) == 1 and files[0].endswith("checkpoint-00000003.h5"), files)
    assert_all(comm, (hook.written == files) if comm.rank == 0 else hook.written == [], f"wrote {hook.written}")

    model = hpcdl.load_model(comm.bcast(latest_checkpoint(job.checkpoint_dir) if comm.rank == 0 else None))
    assert_all(comm, model.run_info["iterations"] == 3, model.run_info["iterations"])
    rest = hpcdl.deeplearning(training_frame=frame, comm=comm, threads=1, checkpoint=model, **params)
    # the same weights as the uninterrupted run on every rank, and the same history
    assert_all(comm, np.array_equal(rest.net.buffer, full.net.buffer), "resumed weights differ")
    assert_all(comm, all(np.array_equal(b, rest.net.buffer) for b in comm.allgather(rest.net.buffer)), "ranks differ")
    strip = [
        {k: v for k, v in r.items() if k not in ("timestamp", "duration", "training_speed")}
        for r in rest.scoring_events
    ]
    full_strip = [
        {k: v for k, v in r.items() if k not in ("timestamp", "duration", "training_speed")}
        for r in full.scoring_events
    ]
    assert_all(comm, strip == full_strip, f"history {strip} != {full_strip}")
    assert_all(
        comm,
        rest.run_info["samples_per_rank"] == full.run_info["samples_per_rank"],
        f"{rest.run_info['samples_per_rank']} != {full.run_info['samples_per_rank']}",
    )


@pytest.mark.mpi(min_size=2)
def test_a_used_output_directory_is_refused_alike_on_every_rank(comm, shared_dir):
    """A live lock, then an unfinished run's checkpoints: every rank raises the same error (none waits in
    a collective); --fresh then trains and keeps the old checkpoints aside."""
    from hpcdl.jobs import Job
    from hpcdl.lifecycle import OutputDirInUse, RunLock
    from hpcdl.runner import Status, UnfinishedRun, run_job

    directory = shared_dir
    job = Job(
        path=os.path.join(directory, "m.toml"),
        name="m",
        output_dir=os.path.join(directory, "out"),
        threads=1,
        checkpoint_interval=0.0,
        quiet=True,
        data={"training_frame": os.path.join(DATA, "prostate.csv"), "y": "CAPSULE", "ignored_columns": ["ID"]},
        parameters={"hidden": [3], "epochs": 2, "seed": 1, "reproducible": True},
    )

    def error_of(**kw):
        try:
            return run_job(job, **kw).status.name
        except (OutputDirInUse, UnfinishedRun) as exc:
            return f"{type(exc).__name__}: {exc}"

    holder = RunLock(job.output_dir) if comm.rank == 0 else None  # another run, alive
    if holder is not None:
        holder.acquire()
    comm.barrier()
    locked = comm.allgather(error_of())
    if holder is not None:
        holder.release()
    assert_all(comm, all(e.startswith("OutputDirInUse: ") and "is in use by another run" in e for e in locked), locked)
    assert_all(comm, len(set(locked)) == 1, locked)
    finished = comm.allgather(error_of())
    assert_all(comm, finished == ["FINISHED"] * comm.size, finished)

    def stop_by_signal():  # make its final checkpoint look like a signal-stopped run's
        (path,) = checkpoint_files(job.checkpoint_dir)
        stopped = hpcdl.load_model(path)
        stopped.run.stop_reason = StopReason.SIGNAL
        stopped.save(path, force=True)

    on_rank0(comm, stop_by_signal)
    refused = comm.allgather(error_of())
    assert_all(
        comm, all(e.startswith("UnfinishedRun: ") and "--resume" in e and "--fresh" in e for e in refused), refused
    )
    fresh = comm.allgather(error_of(fresh=True))
    assert_all(comm, fresh == [Status.FINISHED.name] * comm.size, fresh)
    moved = comm.bcast([d for d in os.listdir(job.output_dir) if d.startswith("checkpoints.old-")])
    assert_all(comm, len(moved) == 1, moved)
