"""One writer per frame file under MPI, for a shared, a per-rank and a partly shared cache directory.

    NUMBA_NUM_THREADS=1 mpiexec -n 3 python -m pytest --with-mpi -m mpi tests/mpi/test_frame_cache_mpi.py -q

Every assertion is collective (tests/mpi/collective.py): each rank's verdict is allgathered, so a
failure on one rank fails all of them (no rank is left waiting in a collective).
"""

import os

import numpy as np
import pytest
from collective import assert_all

import hpcdl
from hpcdl.frame import FrameError, import_source
from hpcdl.frame.cache import PROBE_PREFIX, writer_plan


def _cache_dir(base: str, layout: str, rank: int) -> str:
    """shared: one directory; per-rank: one each; pairs: ranks 0,1 share one, 2,3 the next, ..."""
    key = {"shared": 0, "per-rank": rank, "pairs": rank // 2}[layout]
    return os.path.join(base, f"cache{key}")


def _source(comm, base: str, nrow: int = 50) -> tuple[str, np.ndarray]:
    path = os.path.join(base, "data.csv")
    values = np.arange(nrow, dtype=np.float64) * 1.5
    if comm.rank == 0:
        with open(path, "w") as fh:
            fh.write("id,v\n" + "".join(f"{k},{v}\n" for k, v in enumerate(values)))
    comm.barrier()
    return path, values


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("layout", ["shared", "per-rank", "pairs"])
def test_one_writer_per_directory_group(comm, base, layout, frame_writes):
    src, values = _source(comm, base)
    cache = _cache_dir(base, layout, comm.rank)
    plan = writer_plan(comm, cache)
    frame = import_source(src, frame_dir=cache, comm=comm)
    rows_ok = np.array_equal(frame.column("v"), values)
    comm.barrier()
    listing = sorted(os.listdir(cache))
    facts = comm.allgather((os.path.realpath(cache), len(frame_writes), frame.frame_id, listing, rows_ok))
    groups = {}
    for rank, (where, _, _, _, _) in enumerate(facts):
        groups.setdefault(where, []).append(rank)
    mine = groups[os.path.realpath(cache)]
    assert_all(comm, rows_ok, "read other rows than the CSV's")
    assert_all(comm, plan[comm.rank] == min(mine), f"writer {plan[comm.rank]}, expected {min(mine)} of {mine}")
    assert_all(comm, sum(facts[r][1] for r in mine) == 1, f"group {mine} wrote {[facts[r][1] for r in mine]} times")
    assert_all(comm, len({facts[r][2] for r in mine}) == 1, "ranks of one group opened different frame files")
    # one frame file per directory, no probe or temporary file left behind
    assert_all(comm, len(listing) == 1 and listing[0].endswith(".h5"), f"{cache} holds {listing}")
    assert_all(comm, len({f[2] for f in facts}) == len(groups), "two groups share a frame id")
    # again: every group reuses its file, nobody writes
    again = import_source(src, frame_dir=cache, comm=comm)
    assert_all(comm, again.frame_id == frame.frame_id and len(frame_writes) == facts[comm.rank][1], "re-imported")


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("layout", ["shared", "per-rank"])
def test_an_error_reaches_every_rank(comm, base, layout):
    bad = os.path.join(base, "bad.csv.gz")
    if comm.rank == 0:
        with open(bad, "wb") as fh:
            fh.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(range(256)) * 4)
    comm.barrier()
    cache = _cache_dir(base, layout, comm.rank)
    message = None
    try:
        import_source(bad, frame_dir=cache, comm=comm)
    except FrameError as exc:
        message = str(exc)
    messages = comm.allgather(message)
    assert_all(comm, len(set(messages)) == 1 and messages[0] is not None, f"messages {messages}")
    assert_all(comm, messages[0].startswith(f"{bad}: not a readable gzip file"), messages[0])


@pytest.mark.mpi(min_size=2)
def test_a_directory_one_rank_cannot_use_fails_every_rank(comm, base):
    src, _ = _source(comm, base)
    blocker = os.path.join(base, "not-a-dir")
    if comm.rank == 0:
        open(blocker, "w").close()
    comm.barrier()
    last = comm.size - 1  # its cache directory would be inside a regular file
    cache = os.path.join(blocker, "cache") if comm.rank == last else os.path.join(base, f"cache{comm.rank}")
    message = None
    try:
        import_source(src, frame_dir=cache, comm=comm)
    except (FrameError, OSError) as exc:
        message = str(exc)
    messages = comm.allgather(message)
    assert_all(comm, len(set(messages)) == 1 and messages[0] is not None, f"messages {messages}")
    assert_all(comm, "not-a-dir" in messages[0], messages[0])


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("layout", ["shared", "per-rank"])
def test_deeplearning_with_a_path_imports_once_per_directory(comm, base, layout, monkeypatch, frame_writes):
    """deeplearning(training_frame="x.csv") under mpiexec: HPCDL_FRAME_DIR as each rank sees it."""
    rng = np.random.default_rng(0)
    path = os.path.join(base, "blobs.csv")
    if comm.rank == 0:
        y = np.arange(60) % 2
        X = rng.normal(size=(60, 2)) + 2.0 * y[:, None]
        with open(path, "w") as fh:
            fh.write("a,b,y\n" + "".join(f"{a},{b},{'ny'[k]}\n" for (a, b), k in zip(X, y)))
    comm.barrier()
    cache = _cache_dir(base, layout, comm.rank)
    monkeypatch.setenv("HPCDL_FRAME_DIR", cache)
    model = hpcdl.deeplearning(x=["a", "b"], y="y", training_frame=path, hidden=[3], epochs=1, seed=1, threads=1)
    writes = comm.allgather(len(frame_writes))
    expected = [1] + [0] * (comm.size - 1) if layout == "shared" else [1] * comm.size
    assert_all(comm, writes == expected, f"frame writes per rank {writes}, expected {expected}")
    assert_all(comm, model.training_metrics["nobs"] == 60, "trained on other rows")
    assert_all(comm, not any(n.startswith(PROBE_PREFIX) for n in os.listdir(cache)), "probe files left")
