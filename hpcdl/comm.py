"""The only room that talks to MPI.

Everything else asks this module for the rank, the size and the collectives
it needs. Without mpi4py (or on a single process) a serial stand-in with the
same methods is used, so the rest of hpcdl runs and tests on one process.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import numpy as np

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)
# Before MPI_Abort: time for mpiexec to forward what this rank printed (it kills every rank at once).
ABORT_GRACE_SECONDS = 1.0


class Comm(Protocol):
    """What every function that takes a ``comm`` may use: a group of ranks (``SerialComm`` on one
    process, ``MPIComm`` over mpi4py). Type functions' ``comm`` arguments with it, never with mpi4py's."""

    rank: int
    size: int
    is_mpi: bool

    def barrier(self) -> None: ...

    def bcast(self, obj: Any, root: int = 0) -> Any: ...

    def allgather(self, obj: Any) -> list: ...

    def gather(self, obj: Any, root: int = 0) -> list | None: ...

    def allreduce_sum(self, array: np.ndarray) -> np.ndarray: ...

    def allreduce_scalar(self, value: float, op: str = "sum") -> float: ...

    def bcast_array(self, array: np.ndarray, root: int = 0) -> np.ndarray: ...

    def split(self, color: int, key: int = 0) -> Comm: ...

    def abort(self, code: int = 1) -> None: ...


class SerialComm:
    """One process: collectives are identities."""

    rank = 0
    size = 1
    is_mpi = False

    def barrier(self) -> None:
        pass

    def bcast(self, obj: Any, root: int = 0) -> Any:
        return obj

    def allgather(self, obj: Any) -> list:
        return [obj]

    def gather(self, obj: Any, root: int = 0) -> list | None:
        return [obj]

    def allreduce_sum(self, array: np.ndarray) -> np.ndarray:
        return array

    def allreduce_scalar(self, value: float, op: str = "sum") -> float:
        return value

    def bcast_array(self, array: np.ndarray, root: int = 0) -> np.ndarray:
        return array

    def split(self, color: int, key: int = 0) -> SerialComm:
        return self

    def abort(self, code: int = 1) -> None:
        os._exit(code)


class MPIComm:
    """A thin wrapper over an mpi4py communicator."""

    is_mpi = True

    def __init__(self, comm) -> None:
        from mpi4py import MPI  # not at the top: it starts MPI; here it is loaded already (comm is its)

        self._MPI = MPI
        self._comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()

    def barrier(self) -> None:
        self._comm.Barrier()

    def bcast(self, obj: Any, root: int = 0) -> Any:
        # mpi4py pickles small control objects between our own ranks; this
        # never touches files, so it is not "loading models with pickle".
        return self._comm.bcast(obj, root=root)

    def allgather(self, obj: Any) -> list:
        return self._comm.allgather(obj)

    def gather(self, obj: Any, root: int = 0) -> list | None:
        return self._comm.gather(obj, root=root)

    def allreduce_sum(self, array: np.ndarray) -> np.ndarray:
        """Sum ``array`` elementwise over ranks, in place."""
        self._comm.Allreduce(self._MPI.IN_PLACE, array, op=self._MPI.SUM)
        return array

    def allreduce_scalar(self, value: float, op: str = "sum") -> float:
        ops = {"sum": self._MPI.SUM, "max": self._MPI.MAX, "min": self._MPI.MIN}
        return self._comm.allreduce(value, op=ops[op])

    def bcast_array(self, array: np.ndarray, root: int = 0) -> np.ndarray:
        self._comm.Bcast(array, root=root)
        return array

    def split(self, color: int, key: int = 0) -> MPIComm:
        return MPIComm(self._comm.Split(color, key))

    def node_local(self):
        """mpi4py's communicator of this rank and the ranks that share its node (the caller frees it)."""
        return self._comm.Split_type(self._MPI.COMM_TYPE_SHARED)

    def abort(self, code: int = 1) -> None:
        """End every rank of the job with ``code``, after this rank's output has left it."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed or broken stream: nothing more to forward
                pass
        time.sleep(ABORT_GRACE_SECONDS)
        self._comm.Abort(code)


_world: SerialComm | MPIComm | None = None


def world() -> Comm:
    """The communicator of all ranks of this job (created on first use)."""
    global _world
    if _world is None:
        if os.environ.get("HPCDL_NO_MPI"):
            _world = SerialComm()
        else:
            try:
                from mpi4py import MPI  # importing mpi4py.MPI starts MPI: only once a world is asked for
            except ImportError:
                _world = SerialComm()
            except RuntimeError as exc:  # mpi4py's wheel found no MPI library (hpcdl without the mpich extra)
                if _launched_ranks() > 1:  # the ranks would each train alone: refuse
                    raise RuntimeError(
                        f"mpi4py cannot load an MPI library ({str(exc).splitlines()[0]}): install PyPI's MPICH "
                        '(pip install -e ".[mpich]") or build mpi4py against your MPI (README, "MPI")'
                    ) from None
                _world = SerialComm()
            else:
                _world = MPIComm(MPI.COMM_WORLD) if MPI.COMM_WORLD.Get_size() > 1 else SerialComm()
    return _world


def _launched_ranks() -> int:
    """How many ranks the launcher says it started (Hydra, Open MPI, srun), from its variables."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS"):
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 1


def from_rank0(comm: Comm, make: Callable[[], T]) -> T:
    """``make()`` on rank 0 only, its result on every rank: random draws every rank must share."""
    return comm.bcast(make() if comm.rank == 0 else None)


def shared_seed(comm: Comm, seed: int | None) -> int:
    """``seed``, or for -1 (None: the same) a random seed drawn once for all ranks, as H2O draws one."""
    if seed is not None and int(seed) != -1:
        return int(seed)
    return int(from_rank0(comm, lambda: secrets.randbits(62)))


# -- errors every rank raises alike -------------------------------------------------------
def mark_agreed(exc: E) -> E:
    """Mark ``exc`` as raised on every rank alike (the ranks agreed on it): the command line then
    reports it once, from rank 0, and all ranks exit without an MPI abort."""
    exc.hpcdl_agreed = True
    return exc


def is_agreed(exc: BaseException) -> bool:
    return bool(getattr(exc, "hpcdl_agreed", False))


def agree(comm: Comm, work: Callable[[], T], error_type: type[Exception] = RuntimeError) -> T:
    """``work()`` on every rank; if it fails on any, every rank raises the first failure's message
    (marked agreed): a rank that failed with that message its own error, the others ``error_type``.

    ``work`` must not use ``comm`` itself: a rank that failed early would leave the others in it."""
    result, error, mine = None, None, None
    try:
        result = work()
    except Exception as exc:  # noqa: BLE001 - raised again below, on this rank and on all others
        error, mine = exc, str(exc) or type(exc).__name__
    failed = [message for message in comm.allgather(mine) if message is not None]
    if failed:
        raise mark_agreed(error if mine == failed[0] else error_type(failed[0]))
    return result


def on_rank0(comm: Comm, work: Callable[[], T]) -> T:
    """``work()`` on rank 0 and its result on every rank, or its error (a ValueError, OSError or
    RuntimeError) raised on every rank, marked agreed."""
    result = error = None
    if comm.rank == 0:
        try:
            result = work()
        except (ValueError, OSError, RuntimeError) as exc:
            error = exc
    result, error = comm.bcast((result, error))
    if error is not None:
        raise mark_agreed(error)
    return result


def reduce_sum_ordered(comm: Comm, array: np.ndarray) -> np.ndarray:
    """Sum over ranks in rank order 0, 1, ..., n-1 (bit-reproducible).

    MPI's Allreduce may associate the additions differently from run to run;
    ``reproducible=True`` uses this instead: gather to rank 0, add in rank
    order, broadcast the result.
    """
    if comm.size == 1:
        return array
    parts = comm.gather(np.ascontiguousarray(array), root=0)
    if comm.rank == 0:
        total = parts[0].copy()
        for part in parts[1:]:
            total += part
        array[...] = total
    return comm.bcast_array(array, root=0)


def timed_allreduce(comm: Comm, nbytes: int, repeats: int = 3) -> float:
    """Seconds for one Allreduce of ``nbytes`` (median of a few), for auto-tuning."""
    if comm.size == 1:
        return 0.0
    buf = np.zeros(max(1, nbytes // 4), dtype=np.float32)
    times = []
    for _ in range(repeats):
        comm.barrier()
        t0 = time.perf_counter()
        comm.allreduce_sum(buf)
        times.append(time.perf_counter() - t0)
    return float(comm.allreduce_scalar(float(np.median(times)), op="max"))


def _where_raised(tb) -> str:
    """``file:line`` of the innermost frame of the traceback outside hpcdl (the user's script line)."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    where = ""
    for frame in traceback.extract_tb(tb):
        if not os.path.abspath(frame.filename).startswith(package):
            where = f"{frame.filename}:{frame.lineno}"
    return where


def error_line(exc_type, exc, tb) -> str:
    """One line for an uncaught error of a script: where the script called, the type, the message."""
    where = _where_raised(tb)
    text = "".join(traceback.format_exception_only(exc_type, exc)).strip().replace("\n", " ")
    return f"{where}: {text}" if where else text


def install_abort_on_error() -> None:
    """Make an uncaught exception on any rank end the whole MPI job with one message, as the CLI does.

    An error the ranks agreed on (``mark_agreed``: every rank raised it alike) is printed once, by
    rank 0, and every rank exits 1 by itself. Any other error is printed on one line by the rank that
    raised it, which then ends every rank (MPI_Abort): without that the other ranks would wait
    forever in their next collective. ``HPCDL_TRACEBACK=1`` prints the full traceback as well.
    """
    comm = world()
    if comm.size == 1:
        return

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            code = 130
        elif issubclass(exc_type, SystemExit):
            code = exc.code if isinstance(exc.code, int) else 1
        else:
            code = 1
            if os.environ.get("HPCDL_TRACEBACK"):
                traceback.print_exception(exc_type, exc, tb)
            if is_agreed(exc):
                if comm.rank == 0:
                    sys.stderr.write(f"hpcdl: error on all {comm.size} ranks: {error_line(exc_type, exc, tb)}\n")
                    sys.stderr.flush()
                return  # every rank raised it: each exits 1, none waits for another
            hint = (
                ""
                if issubclass(exc_type, (ValueError, OSError, RuntimeError, KeyError))
                else " (HPCDL_TRACEBACK=1: traceback)"
            )
            sys.stderr.write(
                f"hpcdl: rank {comm.rank} failed; aborting all {comm.size} ranks: {error_line(exc_type, exc, tb)}{hint}\n"
            )
        sys.stderr.flush()
        comm.abort(code)

    sys.excepthook = hook


def abort_on_error_by_default() -> None:
    """The Python API's entry points under mpiexec: install the abort hook unless the
    script has its own ``sys.excepthook``, so that an uncaught error on one rank (a
    bad frame path, a failed assertion) ends every rank instead of leaving the others
    in a collective. Exceptions the script catches are not affected."""
    if sys.excepthook is sys.__excepthook__:
        install_abort_on_error()


def on_this_node(comm: Comm, value: T) -> list[T]:
    """``value`` of every rank of ``comm`` that shares this node, in rank order (the thread
    check compares the cores of the ranks on a node)."""
    if comm.size == 1 or not comm.is_mpi:
        return [value]
    local = comm.node_local()
    try:
        return local.allgather(value)
    finally:
        local.Free()


def node_leader_first(comm: Comm, work: Callable[[], T]) -> T:
    """``work()`` on the first rank of each node, then, once it is done, on the node's other
    ranks: one rank compiles the Numba kernels into the node's cache while the others wait
    and then load them, instead of every rank compiling the same code. The leader reaches
    the node's barrier even if ``work`` fails (its error is raised on it afterwards)."""
    if comm.size == 1 or not comm.is_mpi:
        return work()
    local = comm.node_local()
    try:
        if local.Get_rank() == 0:
            try:
                return work()
            finally:
                _idle_barrier(local)
        _idle_barrier(local)
        return work()
    finally:
        local.Free()


def _idle_barrier(local, poll_seconds: float = 0.05) -> None:
    """A barrier that sleeps while it waits: MPICH's Barrier spins on a core, the core the
    leader's compile could use (2 ranks on 2 cores)."""
    request = local.Ibarrier()
    while not request.Test():
        time.sleep(poll_seconds)
