"""slurm/multi_node.sbatch on a real two-node Slurm: this host and node c2 in a network namespace.

The ranks talk across the veth pair between the namespaces, as ranks on two machines
talk across the network: different host names, different network stacks, one file system.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from slurm_cluster import SECOND_NODE, host_name, veth_bytes
from slurm_jobs import (
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

from hpcdl.commands.slurm import ScriptOptions, sbatch_script

MULTI_NODE = os.path.join(SCRIPTS, "multi_node.sbatch")


def test_multi_node_script_averages_across_two_nodes_and_resumes_after_usr1(two_nodes, tmp_path):
    job_file = write_job(
        tmp_path, "nodes", hidden=[50, 50], epochs=3000, reproducible=True, train_samples_per_iteration=7600
    )
    reference = reference_run(job_file, str(tmp_path / "reference"))  # 2 ranks on this host, uninterrupted
    # one rank per node; one CPU each (the script's 32 are a real node's cores, ours has 2)
    options = ["--nodes=2", "--ntasks-per-node=1", "--cpus-per-task=1"]
    out = os.path.join(tmp_path, "runs", "nodes")
    received, sent = veth_bytes()
    job_id = two_nodes.sbatch(MULTI_NODE, [job_file], options, cwd=tmp_path)
    with RankWatcher(job_id) as watcher:
        wait_training(two_nodes, job_id, out)
        # what Slurm does at --signal=B:USR1@N: signal the batch shell (tested on one node with a real limit)
        two_nodes.scancel(job_id, "--batch", "--signal=USR1")
        record = two_nodes.wait_done(job_id, 600)
    received, sent = (after - before for after, before in zip(veth_bytes(), (received, sent)))
    finish(reference)
    log = read_log(record)
    assert (record["JobState"], record["ExitCode"], record["Restarts"]) == ("COMPLETED", "0:0", "1"), log
    assert f"hpcdl: checkpoint written before the time limit; requeueing job {job_id}" in log
    first, second = log.split(f"hpcdl: job {job_id}, run 2,")
    assert "hpcdl: stopped by a signal (SIGUSR1) after" in first and "hpcdl: resuming from" in second, log

    # Ranks on both nodes, in both runs: seen from outside, in /proc, while they ran.
    ranks = watcher.ranks()
    assert sorted(ranks) == [0, 1], watcher.processes
    for rank, procs in ranks.items():
        assert len(procs) == 2, f"rank {rank}: one process per run expected, saw {procs}"
    for run in (0, 1):
        pair = [sorted(ranks[r], key=lambda p: p.pid)[run] for r in (0, 1)]
        assert {p.node for p in pair} == {host_name(), SECOND_NODE}, pair
        assert pair[0].netns != pair[1].netns, pair  # two network stacks: the Allreduce crossed the veth

    # Averaged across the nodes exactly as two ranks on one host average (reproducible: an
    # ordered sum), through the interruption; written once, by rank 0.
    model = assert_same_model(os.path.join(out, "nodes.h5"), os.path.join(tmp_path, "reference", "nodes.h5"))
    assert model.run_info["ranks"] == 2 and model.run_info["training_ranks"] == 2
    assert all(n > 0 for n in model.run_info["samples_per_rank"]), model.run_info
    # Every iteration's average crossed the veth both ways (reproducible: a gather to rank 0
    # and a broadcast back, one state buffer each way).
    crossed = model.run_info["iterations"] * model.net.buffer.nbytes
    assert min(received, sent) >= crossed, (received, sent, crossed)
    assert log.count("model saved:") == 1, log
    files = assert_nothing_half_written(out)
    assert [f for f in files if os.path.dirname(f) == out] == [os.path.join(out, "nodes.h5")], files


def _open_mpi_venv() -> str:
    """The virtualenv of tests/openmpi_stage.sh (mpi4py built against Debian's Open MPI), or a skip
    (a failure where the suite must run: CI builds it in the stage before this suite)."""
    venv = os.environ.get("HPCDL_OPENMPI_VENV") or os.path.join(REPO, ".venv-openmpi")
    probe = [os.path.join(venv, "bin", "python"), "-c", "from mpi4py import MPI; print(MPI.Get_library_version())"]
    try:
        out = subprocess.run(probe, capture_output=True, text=True, timeout=60).stdout
    except OSError:
        out = ""
    if not out.startswith("Open MPI"):
        reason = f"no virtualenv with mpi4py on Open MPI at {venv} (tests/openmpi_stage.sh makes it)"
        if os.environ.get("HPCDL_SLURM_REQUIRED") == "1":
            pytest.fail(reason + " (HPCDL_SLURM_REQUIRED=1)", pytrace=False)
        pytest.skip(reason)
    return venv


def test_open_mpi_through_srun_pmix_across_two_nodes(two_nodes, tmp_path, monkeypatch):
    """The site-MPI path: Debian's Open MPI, started by `srun --mpi=pmix` (its pmi2 fails: it has
    no Slurm PMI-2 support), one rank per node; the same model as PyPI MPICH's 2 ranks on one host."""
    venv = _open_mpi_venv()
    job_file = write_job(tmp_path, "ompi", hidden=[20, 20], epochs=50, reproducible=True)
    reference = reference_run(job_file, str(tmp_path / "reference"))  # PyPI MPICH, 2 ranks, this host
    opts = ScriptOptions(nodes=2, ntasks_per_node=1, cpus_per_task=1, time="15", launcher="srun", mpi="pmix")
    script = tmp_path / "ompi.sbatch"
    script.write_text(sbatch_script(job_file, opts))
    monkeypatch.setitem(two_nodes.env, "HPCDL_VENV", venv)
    job_id = two_nodes.sbatch(str(script), [job_file], cwd=tmp_path)
    with RankWatcher(job_id) as watcher:
        record = two_nodes.wait_done(job_id, 600)
    finish(reference)
    log = read_log(record)
    assert (record["JobState"], record["ExitCode"]) == ("COMPLETED", "0:0"), log
    assert f"virtualenv {venv}: srun --mpi=pmix hpcdl train {job_file}" in log.splitlines()[0], log
    assert "warning" not in log, log  # no false oversubscription warning under srun
    ranks = watcher.ranks()
    assert sorted(ranks) == [0, 1] and {p.node for procs in ranks.values() for p in procs} == {
        host_name(),
        SECOND_NODE,
    }, watcher.processes
    assert all(p.env.get("VIRTUAL_ENV") == venv for procs in ranks.values() for p in procs), watcher.processes
    out = os.path.join(tmp_path, "runs", "ompi")
    model = assert_same_model(os.path.join(out, "ompi.h5"), os.path.join(tmp_path, "reference", "ompi.h5"))
    assert model.run_info["ranks"] == 2
