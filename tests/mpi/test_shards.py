"""Every rank opens the same frame, reads its shard_range rows; together they cover each row once."""

import os
import tempfile

import numpy as np
import pytest

from hpcdl.frame import Frame, frame_from_numpy, import_csv, shard_range


def _shared_path(comm, make):
    """Rank 0 writes a frame in a fresh temporary directory; every rank gets its path."""
    path, error = None, None
    if comm.rank == 0:
        try:
            path = make(tempfile.mkdtemp(prefix="hpcdl-shards-"))
        except Exception as exc:  # noqa: BLE001 - reported on every rank
            error = repr(exc)
    path, error = comm.bcast((path, error), root=0)
    comm.Barrier()
    assert error is None, error
    return path


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("nrow", [0, 1, 2, 7, 100, 65536 + 3])
def test_shards_cover_every_row_once(nrow):
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.rank, comm.size

    def make(d):
        ids = np.arange(nrow, dtype=np.float64)
        return frame_from_numpy({"id": ids, "sq": ids * ids}, os.path.join(d, "f.h5")).path

    path = _shared_path(comm, make)
    f = Frame(path)
    assert f.nrow == nrow
    start, stop = shard_range(f.nrow, rank, size)
    part = f.read(["id", "sq"], start, stop)
    np.testing.assert_array_equal(part["sq"], part["id"] ** 2)
    shards = comm.allgather((start, stop, part["id"].tolist()))
    ids = [i for _, _, chunk in shards for i in chunk]
    assert sorted(ids) == list(range(nrow)) and len(ids) == nrow
    sizes = [b - a for a, b, _ in shards]
    assert max(sizes) - min(sizes) <= 1
    assert [a for a, _, _ in shards] == sorted(a for a, _, _ in shards)  # rank order = row order
    comm.Barrier()
    if rank == 0:
        os.remove(path)
        os.rmdir(os.path.dirname(path))


@pytest.mark.mpi(min_size=2)
def test_shards_of_imported_csv():
    from mpi4py import MPI

    comm = MPI.COMM_WORLD

    def make(d):
        p = os.path.join(d, "c.csv")
        with open(p, "w") as fh:
            fh.write("row,level\n" + "".join(f"{k},L{k % 3}\n" for k in range(1001)))
        return import_csv(p, os.path.join(d, "c.h5"), chunk_bytes=2048).path

    path = _shared_path(comm, make)
    f = Frame(path)
    start, stop = shard_range(f.nrow, comm.rank, comm.size)
    part = f.read(None, start, stop)
    rows = comm.allgather(part["row"].tolist())
    levels = comm.allgather([f.domains["level"][c] for c in part["level"]])
    flat = [r for chunk in rows for r in chunk]
    assert flat == [float(k) for k in range(1001)]
    assert [lv for chunk in levels for lv in chunk] == [f"L{k % 3}" for k in range(1001)]
