"""The iteration plan (hpcdl/planning.py): pure functions of row counts and timings, checked on their own.

Expected values are worked out by hand from docs/mpi.md ("train_samples_per_iteration", "Rows per
iteration") in the comments, not by calling other code under test.
"""

import pytest

from hpcdl.params import record_from_dict
from hpcdl.planning import IterationPlan, RowLayout, continued_layout, plan_iterations
from hpcdl.runstate import RunState

EFF = {
    "train_samples_per_iteration": -1,
    "epochs": 10.0,
    "target_ratio_comm_to_comp": 0.05,
    "reproducible": False,
    "force_load_balance": False,
    "shuffle_training_data": False,
}


def plan(layout, rank=0, threads=1, seconds_per_row=1e-4, allreduce_seconds=0.0, **changes):
    previous = changes.pop("previous", None)
    previous_setting = changes.pop("previous_setting", None)
    return plan_iterations(
        record_from_dict({**EFF, **changes}),
        layout,
        rank=rank,
        threads=threads,
        seconds_per_row=seconds_per_row,
        allreduce_seconds=allreduce_seconds,
        previous=previous,
        previous_tspi_setting=previous_setting,
    )


def test_layout_counts_an_epoch_once_whether_rows_are_replicated_or_sharded():
    assert RowLayout([100, 100], [True, True], replicated=True, single_node=False).n_rows == 100
    assert RowLayout([60, 40], [True, True], replicated=False, single_node=False).n_rows == 100
    assert RowLayout([60, 0], [True, False], replicated=False, single_node=False).n_train_ranks == 1


def test_replicated_ranks_each_pass_over_all_rows_in_shuffled_order():
    p = plan(RowLayout([100, 100], [True, True], replicated=True, single_node=False))
    # -1 replicated: ranks x N = 2 x 100; both ranks hold all rows, so they must not visit them alike
    assert (p.tspi, p.tspi_initial, p.replicas, p.shuffle) == (200, 200, 2, True)
    assert p.averaging and not p.auto_tune and p.samples_per_rank == [0, 0]


def test_one_epoch_on_one_chunk_is_shuffled_even_when_shuffling_is_off():
    p = plan(RowLayout([60, 40], [True, True], replicated=False, single_node=False), train_samples_per_iteration=0)
    # 0: one epoch, N = 100; one chunk visited in the same order every iteration otherwise (H2O forces it)
    assert (p.tspi, p.n_chunks, p.replicas, p.shuffle) == (100, 1, 1, True)
    q = plan(RowLayout([60, 40], [True, True], replicated=False, single_node=False), train_samples_per_iteration=30)
    assert (q.tspi, q.shuffle) == (30, False)  # keep = 0.3 < 1 samples rows anyway: no forced shuffle


def test_single_node_mode_plans_for_one_training_rank_and_no_averaging():
    p = plan(RowLayout([80, 80, 80], [True, False, False], replicated=True, single_node=True))
    # -1 with one training node: N per iteration
    assert (p.tspi, p.replicas, p.averaging, p.auto_tune) == (80, 1, False, False)


def test_chunks_per_rank_follow_force_load_balance_and_threads():
    layout = RowLayout([500, 3], [True, True], replicated=False, single_node=False)
    assert plan(layout, rank=0, threads=2, force_load_balance=True).n_chunks == 8  # min(4 x 2 threads, 500)
    assert plan(layout, rank=1, threads=2, force_load_balance=True).n_chunks == 3  # min(8, 3 rows)
    assert plan(layout, rank=0, threads=2, force_load_balance=True, reproducible=True).n_chunks == 1
    assert plan(layout, rank=0, threads=2).n_chunks == 1


def test_auto_tuning_on_several_ranks_starts_from_the_timings_and_corrects_later():
    layout = RowLayout([1000, 1000], [True, True], replicated=True, single_node=False)
    p = plan(layout, train_samples_per_iteration=-2, epochs=1000.0, seconds_per_row=7e-4, allreduce_seconds=0.01)
    # t_comm = 0.1 + 2 * floor(log2 2) * 0.01 = 0.12 s; (t_comm / 0.05 - t_comm) / 7e-4 = 3257.1 -> 3257 rows,
    # under 10 x ranks x N = 20000; 3257 > N with remainder 257/1000 >= 0.2: not rounded; >= 10 iterations
    assert p.auto_tune and p.tspi == 3257 and p.comm_seconds == pytest.approx(0.12)
    assert p.next_tspi(3257, iteration=1, iteration_seconds=0.001) == 3257  # iteration 1 is kept
    # ratio = 0.12 / 0.001 = 120; correction = clamp(0.05 / 120, 0.5, 2) = 0.5: tspi / 0.5
    assert p.next_tspi(3257, iteration=2, iteration_seconds=0.001) == 6514
    # ratio = 0.12 / 2.4 = 0.05: correction 1, inside [0.8, 1.2]: kept
    assert p.next_tspi(3257, iteration=2, iteration_seconds=2.4) == 3257
    fixed = plan(layout, train_samples_per_iteration=500)
    assert not fixed.auto_tune and fixed.next_tspi(500, iteration=5, iteration_seconds=0.001) == 500


def test_a_resume_on_the_same_rows_per_rank_continues_the_checkpoints_plan():
    before = RunState(
        rows_per_rank=[60, 40],
        samples_per_rank=[120, 80],
        train_samples_per_iteration=77,
        train_samples_per_iteration_initial=50,
    )
    assert continued_layout(before, True, [60, 40], 100) == (77, 50, [120, 80])
    # the same rows, another tspi setting: the per-rank counts continue, tspi is this run's
    assert continued_layout(before, False, [60, 40], 100) == (100, 100, [120, 80])
    # other rows per rank (other data, ranks or sharding): everything starts anew
    assert continued_layout(before, True, [50, 50], 100) == (100, 100, [0, 0])
    assert continued_layout(before, True, [34, 33, 33], 100) == (100, 100, [0, 0, 0])
    assert continued_layout(None, True, [60, 40], 100) == (100, 100, [0, 0])
    # a checkpoint without a recorded tspi (an old file) takes this run's
    bare = RunState(rows_per_rank=[60, 40], samples_per_rank=[1, 2])
    assert continued_layout(bare, True, [60, 40], 100) == (100, 100, [1, 2])
    p = plan(
        RowLayout([60, 40], [True, True], replicated=False, single_node=False),
        train_samples_per_iteration=30,
        previous=before,
        previous_setting=30,
    )
    assert isinstance(p, IterationPlan) and (p.tspi, p.tspi_initial, p.samples_per_rank) == (77, 50, [120, 80])
