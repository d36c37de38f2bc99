"""train_samples_per_iteration (docs/mpi.md) and threads (row visiting: tests/test_rows.py).

Every expected number below was worked out by hand from the spec's formulas
(the arithmetic is in the comments), not by calling the code under test.
"""

import os

import pytest

from hpcdl.planning import (
    comm_seconds_estimate,
    compute_tspi,
    corrected_tspi,
)
from hpcdl.threads import ThreadCount, resolve_threads, training_threads


def tspi(
    value,
    *,
    n_rows=1000,
    epochs=10.0,
    n_ranks=1,
    replicated=False,
    seconds_per_row=1e-4,
    allreduce_seconds=0.0,
    target_ratio=0.05,
):
    return compute_tspi(
        value,
        n_rows=n_rows,
        epochs=epochs,
        n_ranks=n_ranks,
        replicated=replicated,
        seconds_per_row=seconds_per_row,
        allreduce_seconds=allreduce_seconds,
        target_ratio=target_ratio,
    )


# -- special values 0, -1, N > 0 ----------------------------------------------------------------
@pytest.mark.parametrize("n_ranks,replicated", [(1, False), (2, True), (3, False), (4, True)])
def test_zero_is_one_epoch_per_iteration_cluster_wide(n_ranks, replicated):
    assert tspi(0, n_rows=1234, n_ranks=n_ranks, replicated=replicated) == 1234


def test_minus_one_is_every_rank_all_its_local_rows():
    # replicated: each of the ranks passes over all N rows -> nodes * N samples cluster-wide
    assert tspi(-1, n_rows=150, n_ranks=3, replicated=True) == 450
    assert tspi(-1, n_rows=150, n_ranks=2, replicated=True) == 300
    # sharded: the local shards add up to N -> one epoch
    assert tspi(-1, n_rows=150, n_ranks=3, replicated=False) == 150
    # single_node_mode: the trainer passes n_ranks=1
    assert tspi(-1, n_rows=150, n_ranks=1, replicated=True) == 150


def test_positive_is_capped_at_epochs_times_rows_and_at_least_one():
    assert tspi(500, n_rows=1000, epochs=10) == 500
    assert tspi(50000, n_rows=1000, epochs=2.5) == 2500  # floor(2.5 * 1000)
    assert tspi(7, n_rows=1000, epochs=0.0001) == 1  # floor(0.1) = 0 -> max(1, .)
    assert tspi(1, n_rows=10, epochs=1) == 1
    # cluster-wide: the number of ranks does not scale it
    assert tspi(500, n_rows=1000, epochs=10, n_ranks=4, replicated=True) == 500


# -- -2: auto-tuning -----------------------------------------------------------------------------
def test_comm_time_estimate():
    # one rank: 10 ms + 1 collective
    assert comm_seconds_estimate(1, 0.01) == pytest.approx(0.02)
    assert comm_seconds_estimate(1, 0.0) == pytest.approx(0.01)
    # several: 100 ms + 2*floor(log2 n) collectives
    assert comm_seconds_estimate(2, 0.01) == pytest.approx(0.12)  # q = 2
    assert comm_seconds_estimate(3, 0.01) == pytest.approx(0.12)  # q = 2*floor(1.58) = 2
    assert comm_seconds_estimate(4, 0.01) == pytest.approx(0.14)  # q = 4
    assert comm_seconds_estimate(64, 0.01) == pytest.approx(0.22)  # q = 12


def test_auto_raw_value_one_rank():
    # frac = 1e-3 on one rank whatever target_ratio says; t_comm = 0.01
    # raw = floor((0.01/1e-3 - 0.01) / 7e-4) = floor(9.99 / 7e-4) = floor(14271.43) = 14271
    # caps: 10N = 1e6, not > N, epochs*N/10 = 1e6, 10*floor(1/7e-4) = 14280, 100000 -> none binds
    assert tspi(-2, n_rows=100000, epochs=100, seconds_per_row=7e-4, target_ratio=0.3) == 14271


def test_auto_raw_value_several_ranks_uses_target_ratio():
    # 4 ranks, Allreduce 10 ms: t_comm = 0.1 + 4*0.01 = 0.14; frac = target = 0.1
    # raw = floor((1.4 - 0.14) / 3.3e-5) = floor(38181.8) = 38181 (< N, < all caps)
    assert (
        tspi(
            -2,
            n_rows=100000,
            epochs=1000,
            n_ranks=4,
            replicated=True,
            seconds_per_row=3.3e-5,
            allreduce_seconds=0.01,
            target_ratio=0.1,
        )
        == 38181
    )


# 2 ranks, Allreduce 1 ms: t_comm = 0.1 + 2*0.001 = 0.102; raw = floor((2.04 - 0.102) / 3.3e-5)
# = floor(58727.27) = 58727
TWO = {"n_ranks": 2, "replicated": True, "seconds_per_row": 3.3e-5, "allreduce_seconds": 0.001, "target_ratio": 0.05}


def test_auto_cap_ten_times_minus_one():
    # N = 1000: min(58727, 2*1000*10 = 20000) = 20000; a whole number of epochs; epochs cap 1e5
    assert tspi(-2, n_rows=1000, epochs=1000, **TWO) == 20000


def test_auto_rounds_down_to_whole_epochs_within_20_percent():
    # N = 29000: 58727 = 2*29000 + 727, 727/29000 = 0.025 < 0.2 -> 58000
    assert tspi(-2, n_rows=29000, epochs=1000, **TWO) == 58000
    # N = 5000: 58727 = 11*5000 + 3727, 0.745 >= 0.2 -> kept
    assert tspi(-2, n_rows=5000, epochs=1000, **TWO) == 58727
    # N = 60000: 58727 < N -> no rounding
    assert tspi(-2, n_rows=60000, epochs=1000, **TWO) == 58727


def test_auto_cap_at_least_ten_iterations():
    assert tspi(-2, n_rows=1000, epochs=3, **TWO) == 300  # floor(3*1000/10)
    assert tspi(-2, n_rows=1000, epochs=2.5, **TWO) == 250
    assert tspi(-2, n_rows=150, epochs=20) == 300  # one rank, small data: floor(20*150/10)


def test_auto_cap_ten_seconds_of_work_on_one_rank():
    # single_node_mode on several ranks: one trainer, but the collective still costs 1 ms:
    # t_comm = 0.01 + 1*0.001 = 0.011; t_row = 2^-12 s (1/t_row = 4096 exactly)
    # raw = floor((11 - 0.011) * 4096) = floor(45010.9) = 45010 > 10*floor(4096) = 40960
    assert tspi(-2, n_rows=100000, epochs=100, n_ranks=1, seconds_per_row=2.0**-12, allreduce_seconds=0.001) == 40960
    # the same numbers on two ranks have no 10 s cap (raw = floor(1.938 * 4096) = 7938)
    assert (
        tspi(
            -2, n_rows=100000, epochs=100, n_ranks=2, replicated=True, seconds_per_row=2.0**-12, allreduce_seconds=0.001
        )
        == 7938
    )


def test_auto_at_least_one():
    assert tspi(-2, n_rows=5, epochs=1, **TWO) == 1  # floor(5/10) = 0 -> 1


def test_auto_at_most_100000_per_rank():
    # t_row = 1e-7: raw ~ 1.938e7 < 10*2*1e6 = 2e7; raw mod N = 0.38 N (kept); epochs cap 1e8
    # -> min(100000 * 2, raw) = 200000
    two = {**TWO, "seconds_per_row": 1e-7}
    assert tspi(-2, n_rows=1000000, epochs=1000, **two) == 200000
    # one rank: raw 9.99e7 -> 10N = 1e7 (whole epochs) -> epochs and 10 s caps 1e8 -> 100000
    assert tspi(-2, n_rows=1000000, epochs=1000, seconds_per_row=1e-7) == 100000


# -- multi-rank correction from iteration 2 on ------------------------------------------------------
@pytest.mark.parametrize(
    "iteration_seconds,expected",
    [
        (1.0, 2000),  # ratio 0.1 -> correction 0.5 -> tspi / 0.5
        (0.1, 2000),  # ratio 1.0 -> 0.05, clamped to 0.5
        (1.5, 1333),  # ratio 0.0667 -> 0.75 < 0.8 -> floor(1000 / 0.75)
        (1.8, 1000),  # ratio 0.0556 -> 0.9: inside [0.8, 1.2], unchanged
        (2.0, 1000),  # on target
        (2.4, 1000),  # 1.2: unchanged
        (3.0, 666),  # ratio 0.0333 -> 1.5 -> floor(1000 / 1.5)
        (100.0, 500),  # 50 clamped to 2
    ],
)
def test_correction(iteration_seconds, expected):
    assert corrected_tspi(1000, comm_seconds=0.1, iteration_seconds=iteration_seconds, target_ratio=0.05) == expected


def test_correction_never_below_one():
    assert corrected_tspi(1, comm_seconds=0.1, iteration_seconds=1000.0, target_ratio=0.05) == 1


# -- threads per rank ------------------------------------------------------------------------------
def test_threads_precedence(monkeypatch):
    for var in ("HPCDL_THREADS", "SLURM_CPUS_PER_TASK", "NUMBA_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert resolve_threads(None, ranks_per_node=2) == 4  # last: cores / ranks on the node
    assert resolve_threads(None, ranks_per_node=16) == 1
    # bound ranks (Open MPI --map-by slot:PE=8): 8 cores of their own each, 16 on the node for 2 ranks
    assert resolve_threads(None, ranks_per_node=2, node_cores=16) == 8
    assert resolve_threads(None, ranks_per_node=2, node_cores=8) == 4  # 2 ranks sharing 8 cores
    monkeypatch.setenv("NUMBA_NUM_THREADS", "3")
    assert resolve_threads(None) == 3  # then NUMBA_NUM_THREADS
    assert resolve_threads(7) == 7  # then the job file's threads (or the Python API's threads=)
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "5")
    assert resolve_threads(None) == 5  # then the Slurm allocation's --cpus-per-task
    assert resolve_threads(7) == 5
    monkeypatch.setenv("HPCDL_THREADS", "2")
    assert resolve_threads(7) == 2  # first: --threads / HPCDL_THREADS


def test_threads_warn_when_the_job_and_the_allocation_disagree(monkeypatch, capsys):
    from hpcdl import threads

    for var in ("HPCDL_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "32")
    threads.warn_once.cache_clear()
    assert resolve_threads(32) == 32 and capsys.readouterr().err == ""  # they agree: no warning
    assert resolve_threads(2) == 32
    assert resolve_threads(2) == 32  # a second model of the same run: warned once
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "hpcdl: warning: the job's threads = 2 differs from the Slurm allocation's --cpus-per-task=32: "
        "using 32 threads per rank (--threads N overrides the allocation)"
    ]
    monkeypatch.setenv("HPCDL_THREADS", "64")
    assert resolve_threads(2) == 64
    assert capsys.readouterr().err.startswith("hpcdl: warning: --threads/HPCDL_THREADS 64 differs from")


def test_threads_option_outranks_the_allocation_in_the_cli(monkeypatch):
    from hpcdl.cli import _early_thread_setup, _numba_threads_launched, _restore_env

    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")
    for var in ("HPCDL_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    replaced = _early_thread_setup(["train", "job.toml", "--threads", "3"])
    try:
        assert os.environ["HPCDL_THREADS"] == "3"
        # numba's pool takes the count only until it starts (a test run may have started it already)
        assert os.environ.get("NUMBA_NUM_THREADS") == (None if _numba_threads_launched() else "3")
        assert resolve_threads(1) == 3
    finally:
        _restore_env(replaced)  # as cli.main does: later tests must not inherit --threads 3


def test_cli_called_in_process_leaves_the_environment_as_it_found_it(monkeypatch):
    """A test or program calling cli.main(["train", ..., "--threads", "1"]) must not leave
    NUMBA_NUM_THREADS behind: numba refuses every later compile once it differs from the
    launched pool (CI failed this way with a fresh Numba cache)."""
    import numba

    from hpcdl import cli, kernels

    kernels.predict  # noqa: B018 - the module is loaded; make sure the pool is launched
    numba.get_num_threads()
    for var in ("HPCDL_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    assert cli.main(["train", "no-such-job.toml", "--threads", "1"]) == 1
    assert "HPCDL_THREADS" not in os.environ and "NUMBA_NUM_THREADS" not in os.environ


def test_a_resolved_thread_count_passes_through_unchanged(monkeypatch):
    """The runner resolves a job's threads with the node's ranks in view; training takes that count
    as it is (no second resolution), then only reproducible and Numba's pool change it."""
    import numba

    monkeypatch.setenv("HPCDL_THREADS", "7")
    assert resolve_threads(2) == 7
    assert resolve_threads(ThreadCount(1)) == 1  # already resolved: the environment is not read again
    assert training_threads(ThreadCount(1)) == 1
    assert training_threads(ThreadCount(1000)) == numba.config.NUMBA_NUM_THREADS  # the pool caps it
    assert training_threads(ThreadCount(2), reproducible=True) == 1
