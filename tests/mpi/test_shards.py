"""Every rank opens the same frame, reads its shard_range rows; together they cover each row once."""

import os

import numpy as np
import pytest
from collective import assert_all, on_rank0

from hpcdl.frame import Frame, frame_from_numpy, import_csv, shard_range


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("nrow", [0, 1, 2, 7, 100, 65536 + 3])
def test_shards_cover_every_row_once(comm, shared_dir, nrow):
    rank, size = comm.rank, comm.size

    def make():
        ids = np.arange(nrow, dtype=np.float64)
        return frame_from_numpy({"id": ids, "sq": ids * ids}, os.path.join(shared_dir, "f.h5")).path

    f = Frame(on_rank0(comm, make))
    assert_all(comm, f.nrow == nrow, f"nrow {f.nrow}")
    start, stop = shard_range(f.nrow, rank, size)
    part = f.read(["id", "sq"], start, stop)
    assert_all(comm, np.array_equal(part["sq"], part["id"] ** 2), "sq != id**2")
    shards = comm.allgather((start, stop, part["id"].tolist()))
    ids = [i for _, _, chunk in shards for i in chunk]
    assert_all(comm, sorted(ids) == list(range(nrow)) and len(ids) == nrow, "rows not covered exactly once")
    sizes = [b - a for a, b, _ in shards]
    assert_all(comm, max(sizes) - min(sizes) <= 1, f"shard sizes {sizes}")
    assert_all(comm, [a for a, _, _ in shards] == sorted(a for a, _, _ in shards), "rank order != row order")


@pytest.mark.mpi(min_size=2)
def test_shards_of_imported_csv(comm, shared_dir):
    def make():
        p = os.path.join(shared_dir, "c.csv")
        with open(p, "w") as fh:
            fh.write("row,level\n" + "".join(f"{k},L{k % 3}\n" for k in range(1001)))
        return import_csv(p, os.path.join(shared_dir, "c.h5"), chunk_bytes=2048).path

    f = Frame(on_rank0(comm, make))
    start, stop = shard_range(f.nrow, comm.rank, comm.size)
    part = f.read(None, start, stop)
    rows = comm.allgather(part["row"].tolist())
    levels = comm.allgather([f.domains["level"][c] for c in part["level"]])
    flat = [r for chunk in rows for r in chunk]
    assert_all(comm, flat == [float(k) for k in range(1001)], "rows out of order")
    assert_all(comm, [lv for chunk in levels for lv in chunk] == [f"L{k % 3}" for k in range(1001)], "levels")
