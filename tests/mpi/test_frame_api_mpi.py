"""Parquet and SVMLight imports under MPI (one writer per shared cache directory), and frame
munging on every rank: the same seed gives every rank the same rows, no seed is refused.

    NUMBA_NUM_THREADS=1 mpiexec -n 3 python -m pytest --with-mpi -m mpi tests/mpi/test_frame_api_mpi.py -q

Assertions are collective (each rank's verdict is allgathered), so one failing rank fails all.
"""

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from collective import assert_all

import hpcdl
from hpcdl.frame import FrameError, import_source


def _sources(comm, base: str) -> dict[str, str]:
    paths = {"parquet": os.path.join(base, "d.parquet"), "svmlight": os.path.join(base, "d.svm")}
    if comm.rank == 0:
        pq.write_table(pa.table({"id": np.arange(40), "v": np.arange(40) * 0.5}), paths["parquet"])
        with open(paths["svmlight"], "w") as fh:
            fh.write("".join(f"{k % 2} 1:{k} 3:{k * 0.5}\n" for k in range(40)))
    comm.barrier()
    return paths


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("kind", ["parquet", "svmlight"])
def test_one_writer_for_parquet_and_svmlight(comm, base, kind, frame_writes):
    src = _sources(comm, base)[kind]
    cache = os.path.join(base, f"cache-{kind}")
    frame = import_source(src, frame_dir=cache, comm=comm)
    values = frame.as_numpy()
    expected = np.arange(40) * 0.5
    ok = np.array_equal(values[:, 1] if kind == "parquet" else values[:, 3], expected)
    facts = comm.allgather((len(frame_writes), frame.frame_id, frame.path))
    assert_all(comm, ok, "read other values than the file's")
    assert_all(comm, sum(f[0] for f in facts) == 1, f"{[f[0] for f in facts]} frame writes, expected one in all")
    assert_all(comm, len({(f[1], f[2]) for f in facts}) == 1, "ranks opened different frame files")


@pytest.mark.mpi(min_size=2)
def test_every_rank_splits_the_same_rows_and_no_seed_is_refused(comm, base):
    src = _sources(comm, base)["parquet"]
    frame = import_source(src, frame_dir=os.path.join(base, "cache-split"), comm=comm)
    train, test = frame.split_frame(ratios=[0.7], seed=11)
    ids = (train["id"].as_numpy()[:, 0].tolist(), test["id"].as_numpy()[:, 0].tolist())
    everyone = comm.allgather(ids)
    assert_all(comm, all(x == everyone[0] for x in everyone), "ranks split different rows")
    assert_all(comm, sorted(ids[0] + ids[1]) == list(range(40)), "parts do not cover the frame")
    try:
        frame.runif()
        refused = ""
    except FrameError as exc:
        refused = str(exc)
    assert_all(comm, f"on each of the {comm.size} ranks; give seed=" in refused, f"runif() without a seed: {refused!r}")
    mine = hpcdl.H2OFrame({"rank": [comm.rank] * 3})  # each rank's own scratch frame
    assert_all(comm, mine.as_numpy()[:, 0].tolist() == [comm.rank] * 3, "a rank read another rank's frame")
