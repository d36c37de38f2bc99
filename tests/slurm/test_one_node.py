"""slurm/single_node.sbatch and `hpcdl slurm`'s scripts on a real one-node Slurm.

The scripts are submitted as they are in the repository (or as `hpcdl slurm` prints them);
the sbatch command line carries only the job file and what each test is about (time limit,
signal, --cpus-per-task). Jobs run in the test's own directory, the submit directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from slurm_cluster import TERMINAL_STATES
from slurm_jobs import (
    BIN,
    REPO,
    SCRIPTS,
    RankWatcher,
    assert_nothing_half_written,
    assert_same_model,
    finish,
    read_log,
    reference_run,
    wait_training,
    write_job,
)

import hpcdl

SINGLE_NODE = os.path.join(SCRIPTS, "single_node.sbatch")


def test_single_node_script_trains_prostate_to_the_end(one_node, tmp_path):
    job_file = os.path.join(REPO, "jobs", "prostate.toml")  # the repository's job file, unchanged
    job_id = one_node.sbatch(SINGLE_NODE, [job_file], cwd=tmp_path)
    record = one_node.wait_done(job_id, 300)
    log = read_log(record)
    assert (record["JobState"], record["ExitCode"]) == ("COMPLETED", "0:0"), log
    assert "hpcdl: job prostate: 2 rank(s) x 1 thread(s)" in log
    model = hpcdl.load_model(os.path.join(tmp_path, "runs", "prostate", "prostate.h5"))
    assert model.run_info["ranks"] == 2 and model.run_info["stop_reason"] == "epochs reached"
    assert model.run_info["epochs"] == 200
    assert f"model saved: {tmp_path}/runs/prostate/prostate.h5" in log


def test_time_limit_signal_checkpoint_requeue_resume_is_bit_identical(one_node, tmp_path):
    # Long enough (about a minute on our 2 cores) to be training when Slurm's warning comes:
    # it comes at one of slurmctld's checks, every 30 s, up to 30 s before the --signal time.
    job_file = write_job(
        tmp_path,
        "limit",
        hidden=[50, 50],
        epochs=8000,
        reproducible=True,
        train_samples_per_iteration=7600,
    )
    reference = reference_run(job_file, str(tmp_path / "reference"))  # the same job uninterrupted, meanwhile
    job_id = one_node.sbatch(SINGLE_NODE, [job_file], ["--time=1", "--signal=B:USR1@20"], cwd=tmp_path)
    record = one_node.wait(
        job_id, lambda r: int(r.get("Restarts", 0)) >= 1 or r.get("JobState") in TERMINAL_STATES, 240, "requeued"
    )
    assert record["Restarts"] == "1", (
        f"job {job_id} ended without the time-limit warning (it came after the last iteration?): {record}\n"
        f"{read_log(record)}"
    )
    # The resumed run must not be warned again by the same 1-minute limit (Slurm may warn it
    # 10 s after its start): give it room, so that the cycle happens exactly once.
    one_node.scontrol("update", f"JobId={job_id}", "TimeLimit=30")
    record = one_node.wait_done(job_id, 600)
    finish(reference)
    log = read_log(record)
    assert (record["JobState"], record["ExitCode"], record["Restarts"]) == ("COMPLETED", "0:0", "1"), log
    # The warning came before the kill: the first run stopped itself at a checkpoint, exited 3
    # and was requeued by the script; Slurm never had to end it for its time.
    first, second = log.split(f"hpcdl: job {job_id}, run 2,")
    stopped = re.search(
        r"hpcdl: stopped by a signal \(SIGUSR1\) after [\d.]+ of [\d.]+ epochs; checkpoint (\S+);", first
    )
    assert stopped and "(exit code 3)" in first, log
    assert f"hpcdl: checkpoint written before the time limit; requeueing job {job_id}" in first, log
    assert "TIME LIMIT" not in log and "run 3," not in log
    assert f"hpcdl: resuming from {stopped.group(1)}" in second, log
    assert "--resume" in second.splitlines()[0] and "--resume" not in first.splitlines()[0]
    model = assert_same_model(
        os.path.join(tmp_path, "runs", "limit", "limit.h5"), os.path.join(tmp_path, "reference", "limit.h5")
    )
    assert model.run_info["stop_reason"] == "epochs reached"


def test_scancel_term_checkpoints_exits_3_and_writes_nothing_half(one_node, tmp_path):
    job_file = write_job(tmp_path, "term", hidden=[50, 50], epochs=4000, train_samples_per_iteration=7600)
    out = os.path.join(tmp_path, "runs", "term")
    job_id = one_node.sbatch(SINGLE_NODE, [job_file], cwd=tmp_path)
    wait_training(one_node, job_id, out)
    one_node.scancel(job_id, "--signal=TERM")  # to the job's steps, as a user or an admin would send it
    record = one_node.wait_done(job_id, 120)
    log = read_log(record)
    # exit code 3 and not requeued: TERM means stop (USR1, the time-limit warning, means requeue)
    assert (record["JobState"], record["ExitCode"], record["Restarts"]) == ("FAILED", "3:0", "0"), log
    assert f"continue with: scontrol requeue {job_id}" in log
    files = assert_nothing_half_written(out)
    checkpoints = [f for f in files if f.startswith(os.path.join(out, "checkpoints", ""))]
    assert checkpoints and not os.path.exists(os.path.join(out, "term.h5")), files
    assert not os.path.exists(os.path.join(out, "running.json"))
    stopped = hpcdl.load_model(checkpoints[-1])
    assert 0 < stopped.run_info["epochs"] < 4000
    # and the advice it printed works: the requeued job resumes from that checkpoint and finishes
    one_node.scontrol("requeue", str(job_id))
    record = one_node.wait(job_id, lambda r: r.get("JobState") == "COMPLETED", 300, "completed after requeue")
    log = read_log(record)
    assert f"hpcdl: resuming from {checkpoints[-1]}" in log, log
    assert hpcdl.load_model(os.path.join(out, "term.h5")).run_info["epochs"] == 4000


def test_cpus_per_task_gives_every_rank_that_many_threads(one_node, tmp_path):
    # The job file asks for 1 thread; the allocation's --cpus-per-task=2 rules (with a warning).
    # One rank: with 2 ranks x 2 threads on a 2-core machine the per-sample team would find its
    # cores busy and go on with one thread (docs/kernels.md, "Threads"), as it should.
    job_file = write_job(
        tmp_path,
        "threads",
        job={"threads": 1},
        hidden=[200, 200],
        epochs=600,
        train_samples_per_iteration=38000,
        score_interval=1000,
        score_training_samples=100,
    )
    job_id = one_node.sbatch(SINGLE_NODE, [job_file], ["--ntasks-per-node=1", "--cpus-per-task=2"], cwd=tmp_path)
    with RankWatcher(job_id) as watcher:
        record = one_node.wait_done(job_id, 300)
    log = read_log(record)
    assert (record["JobState"], record["ExitCode"]) == ("COMPLETED", "0:0"), log
    assert "hpcdl: warning: the job's threads = 1 differs from the Slurm allocation's --cpus-per-task=2" in log
    assert "hpcdl: job threads: 1 rank(s) x 2 thread(s)" in log
    assert hpcdl.load_model(os.path.join(tmp_path, "runs", "threads", "threads.h5")).run_info["threads"] == 2
    # What each rank's process really did, seen from outside: two threads busy training.
    ranks = watcher.ranks()
    assert sorted(ranks) == [0], watcher.processes
    for rank, (proc,) in ranks.items():
        assert proc.env.get("SRUN_CPUS_PER_TASK") == "2" and proc.env.get("NUMBA_NUM_THREADS") == "2"
        assert proc.most_at_once == 2, f"rank {rank}: {proc.most_at_once} at once; CPU seconds per thread {proc.cpu}"


def test_hpcdl_slurm_prints_a_script_that_slurm_runs_with_srun(one_node, tmp_path):
    job_file = write_job(tmp_path, "printed", hidden=[10], epochs=20)
    printed = subprocess.run(
        [os.path.join(BIN, "hpcdl"), "slurm", job_file, "--ntasks-per-node", "2", "--time", "10", "--launcher", "srun"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    script = tmp_path / "printed.sbatch"
    script.write_text(printed)
    job_id = one_node.sbatch(str(script), cwd=tmp_path)  # no arguments: the job file is the script's default
    record = one_node.wait_done(job_id, 300)
    log = read_log(record)
    assert (record["JobState"], record["ExitCode"]) == ("COMPLETED", "0:0"), log
    assert f"srun --mpi=pmi2 hpcdl train {job_file}" in log.splitlines()[0]
    assert "hpcdl: job printed: 2 rank(s) x 1 thread(s)" in log
    assert f"--venv {sys.prefix}" in printed  # the default: the virtualenv of the hpcdl that printed it
    model = hpcdl.load_model(os.path.join(tmp_path, "runs", "printed", "printed.h5"))
    assert model.run_info["ranks"] == 2 and model.run_info["epochs"] == 20
