"""slurm/multi_node.sbatch on a real two-node Slurm: this host and node c2 in a network namespace.

The ranks talk across the veth pair between the namespaces, as ranks on two machines
talk across the network: different host names, different network stacks, one file system.
"""

from __future__ import annotations

import os

from slurm_cluster import SECOND_NODE, host_name, veth_bytes
from slurm_jobs import (
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
