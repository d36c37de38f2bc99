"""Collective assertions for the MPI tests: a failure on one rank fails every rank at the same point.

Every rank calls :func:`assert_all` at the same places with its own verdict; the verdicts are
allgathered and every rank raises, naming each failing rank and its message. A plain ``assert``
that fails on one rank only would leave the others waiting in their next collective until the
test run's timeout. ``tests/mpi/conftest.py`` gives the tests the communicator (fixture ``comm``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def assert_all(comm, ok, message: str = "") -> None:
    """Assert ``ok`` on every rank at once: raises on every rank if it is false on any."""
    verdicts = comm.allgather((bool(ok), "" if ok else str(message)))
    failed = [f"rank {rank}: {text}" for rank, (good, text) in enumerate(verdicts) if not good]
    if failed:
        raise AssertionError("; ".join(failed))


def assert_same(comm, value, message: str = "the same on every rank") -> None:
    """``value`` (anything comparable with ==) is equal on every rank."""
    values = comm.allgather(value)
    assert_all(comm, all(v == values[0] for v in values), f"{message}: {values}")


def checked(comm, check: Callable[[], None]) -> None:
    """Run ``check`` (plain asserts, numpy.testing) on every rank; its failure on any rank fails all.

    Any exception counts as a failure (a KeyError on one rank must not leave the others waiting)."""
    message = None
    try:
        check()
    except Exception as exc:  # noqa: BLE001 - reported on every rank
        message = f"{type(exc).__name__}: {exc}"
    assert_all(comm, message is None, message)


def on_rank0(comm, make: Callable[[], T]) -> T:
    """``make()`` on rank 0 (e.g. write a frame); its result on every rank, its error on every rank."""
    result, error = None, None
    if comm.rank == 0:
        try:
            result = make()
        except Exception as exc:  # noqa: BLE001 - reported on every rank
            error = repr(exc)
    result, error = comm.bcast((result, error))
    assert_all(comm, error is None, f"rank 0: {error}")
    return result


def shared_tmpdir(comm, prefix: str = "hpcdl-mpi-") -> str:
    """A new directory every rank sees (all ranks of these tests run on one host)."""
    return on_rank0(comm, lambda: tempfile.mkdtemp(prefix=prefix))
