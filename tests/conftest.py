"""Shared test set-up: MPI runs write one JUnit file per rank for tests/run_all.sh's tally."""

import os

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")


def pytest_configure(config):
    junit_dir = os.environ.get("HPCDL_JUNIT_DIR")
    if junit_dir and config.getoption("--with-mpi", default=False):
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        config.option.xmlpath = os.path.join(junit_dir, f"mpi{comm.Get_size()}-rank{comm.Get_rank()}.xml")
