"""Shards of interleaved blocks (hpcdl/rows.py ``shard``, frame/h5frame.py ``FrameBlocks``) and the
warning for shards that do not represent the frame (``rows.unrepresentative_class``).

The block pattern is checked against a brute-force twin (deal block k of the frame to rank
k mod ranks, row by row); the hyperslab reader against NumPy slicing of the written columns.
"""

import numpy as np
import pytest

from hpcdl import rows as visiting
from hpcdl.frame import frame_from_numpy


def _twin(nrow, rank, ranks):
    """Frame rows of ``rank``: row i goes to rank (i // block) mod ranks."""
    block = visiting.shard_block_rows(nrow, ranks)
    return [i for i in range(nrow) if (i // block) % ranks == rank]


@pytest.mark.parametrize("nrow", [0, 1, 2, 5, 7, 150, 1000, 4096 * 6 * 3 + 17, 400_003])
@pytest.mark.parametrize("ranks", [2, 3, 5])
def test_shards_deal_every_row_to_exactly_one_rank(nrow, ranks):
    seen = np.zeros(nrow, dtype=np.int64)
    sizes = []
    for rank in range(ranks):
        s = visiting.shard(nrow, rank, ranks)
        rows = s.frame_rows(np.arange(s.size))
        if nrow <= 30000:
            assert rows.tolist() == _twin(nrow, rank, ranks)
        assert np.all(np.diff(rows) > 0)  # frame order
        seen[rows] += 1
        sizes.append(s.size)
    assert np.all(seen == 1)
    assert max(sizes) - min(sizes) <= visiting.shard_block_rows(nrow, ranks)


def test_block_size_is_a_few_thousand_rows_at_most_and_small_on_a_small_frame():
    assert visiting.shard_block_rows(150, 3) == 3  # iris: floor(150 / (3 * 16))
    assert visiting.shard_block_rows(400_000, 2) == 4096
    assert visiting.shard_block_rows(5, 3) == 1
    assert visiting.shard_block_rows(0, 3) == 1
    for nrow, ranks in [(150, 3), (1000, 2), (100_000, 7)]:
        assert visiting.shard(nrow, ranks - 1, ranks).n_blocks >= visiting.SHARD_BLOCKS_PER_RANK


def test_replicated_or_single_rank_shard_is_the_whole_frame():
    for s in (visiting.shard(10, 1, 3, replicated=True), visiting.shard(10, 0, 1), visiting.shard(0, 0, 1)):
        assert s.whole and s.size == s.nrow
        assert s.frame_rows(np.arange(s.size)).tolist() == list(range(s.nrow))
    assert not visiting.shard(10, 0, 2).whole


def test_sorted_classes_spread_evenly_over_the_ranks():
    y = np.repeat([0, 1, 2], 50)  # iris as shipped
    for rank in range(3):
        s = visiting.shard(150, rank, 3)
        counts = np.bincount(y[s.frame_rows(np.arange(s.size))], minlength=3)
        assert counts.min() >= 14 and counts.max() <= 19, counts  # a third of 50, give or take a block


@pytest.fixture
def frame(tmp_path):
    n = 1003
    ids = np.arange(n, dtype=np.float64)
    return frame_from_numpy(
        {"id": ids, "c": np.array(["a", "b", "c"], dtype=object)[np.arange(n) % 3]}, tmp_path / "f.h5"
    )


@pytest.mark.parametrize(
    "first, block, step", [(0, 4, 8), (4, 4, 8), (3, 7, 21), (0, 1003, 1003), (5, 1, 2), (2000, 4, 8)]
)
def test_block_reads_are_the_rows_of_the_pattern(frame, first, block, step):
    view = frame.blocks(first, block, step)
    every = np.arange(frame.nrow)
    expected = every[[(i - first) >= 0 and (i - first) % step < block for i in every]]
    assert view.nrow == expected.size
    assert view.read(["id"])["id"].tolist() == expected.tolist()
    codes = frame.column("c")
    for a, b in [(0, view.nrow), (1, 2), (3, 17), (view.nrow - 5, view.nrow), (2, 2)]:
        a, b = max(0, a), max(0, b)
        assert view.column("c", a, b).tolist() == codes[expected[a:b]].tolist()
        assert view.read(None, a, b)["id"].tolist() == expected[a:b].tolist()


def test_block_pattern_is_checked(frame):
    with pytest.raises(ValueError):
        frame.blocks(0, 5, 4)


def test_unrepresentative_class_names_a_missing_class():
    counts = np.array([[50, 50, 0], [0, 0, 50]])  # contiguous shards of sorted iris, 2 ranks, roughly
    msg = visiting.unrepresentative_class(counts, ["setosa", "versicolor", "virginica"])
    # missing classes first, the worst of them: rank 0 should hold 33 virginica (z = 33.3 / sqrt(33.3 * 2/3)
    # = 7.1), rank 1 17 setosa (z = 5.0); rank 1's 100% virginica (z = 10) is not missing
    assert msg == "class 'virginica' is missing from rank 0's shard (33.3% of the frame's rows)"


def test_unrepresentative_class_names_a_gross_share():
    counts = np.array([[900, 100], [500, 500]])  # class b: 10% of rank 0 against 30% of the frame
    msg = visiting.unrepresentative_class(counts, ["a", "b"])
    assert msg == "class 'b' is 10% of rank 0's shard against 30% of the frame's rows"


def test_random_and_interleaved_shards_pass():
    rng = np.random.default_rng(0)
    for ranks in (2, 3, 5):
        y = rng.choice(4, size=20000, p=[0.6, 0.3, 0.09, 0.01])
        counts = np.array([np.bincount(y[r::ranks], minlength=4) for r in range(ranks)])
        assert visiting.unrepresentative_class(counts, list("abcd")) is None
    assert visiting.unrepresentative_class(np.array([[1, 0], [0, 1]]), ["a", "b"]) is None  # too few to tell
    assert visiting.unrepresentative_class(np.array([[30, 0], [0, 0]]), ["a", "b"]) is None  # an idle rank
    assert visiting.unrepresentative_class(np.zeros((2, 2)), ["a", "b"]) is None
    y = np.repeat([0, 1, 2], 50)
    shards = [visiting.shard(150, r, 3) for r in range(3)]
    counts = np.array([np.bincount(y[s.frame_rows(np.arange(s.size))], minlength=3) for s in shards])
    assert visiting.unrepresentative_class(counts, ["s", "ve", "vi"]) is None
