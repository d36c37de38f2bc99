"""The MPI tests' communicator. Run them under ``mpiexec -n 2`` (and 3) with ``--with-mpi``;
every assertion in them is collective (``collective.py``)."""

import shutil

import pytest
from collective import assert_all, shared_tmpdir

from hpcdl import comm as comm_mod


@pytest.fixture
def comm():
    """hpcdl's world communicator (``hpcdl/comm.py``): rank, size, allgather, bcast, barrier, ..."""
    world = comm_mod.world()
    assert_all(world, world.size > 1, "run under mpiexec -n 2 (or more) with --with-mpi")
    return world


@pytest.fixture
def shared_dir(comm):
    """A directory every rank sees, removed after the test."""
    path = shared_tmpdir(comm)
    yield path
    comm.barrier()
    if comm.rank == 0:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def base(shared_dir):
    """A directory every rank sees (all ranks run on this host), removed afterwards (the frame tests' name)."""
    return shared_dir
