"""Shared test set-up: MPI runs write one JUnit file per rank for tests/run_all.sh's tally; a frame-write counter."""

import os

import pytest

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")


def pytest_configure(config):
    junit_dir = os.environ.get("HPCDL_JUNIT_DIR")
    if junit_dir and config.getoption("--with-mpi", default=False):
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        config.option.xmlpath = os.path.join(junit_dir, f"mpi{comm.Get_size()}-rank{comm.Get_rank()}.xml")


@pytest.fixture
def frame_writes(monkeypatch):
    """Paths of the frame files this process starts writing (FrameWriter constructions) during a test."""
    from hpcdl.frame import FrameWriter

    seen = []
    real = FrameWriter.__init__

    def counting(self, path, *a, **kw):
        seen.append(os.fspath(path))
        real(self, path, *a, **kw)

    monkeypatch.setattr(FrameWriter, "__init__", counting)
    return seen
