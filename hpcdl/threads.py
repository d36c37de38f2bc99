"""Thread control for one rank: how many Numba (HOGWILD!) threads run, BLAS kept to one
thread inside them, and whether the rank's cores can hold its threads.

The one place a rank's thread count is decided: ``resolve_threads`` (the order of
settings: ``--threads``, the Slurm allocation, the job or API, NUMBA_NUM_THREADS, the
cores) gives a :class:`ThreadCount`, and ``training_threads`` the count a run trains on
(1 when reproducible; at most Numba's pool). A count already resolved (the runner
resolves the job's with the node's ranks in view) passes through unchanged, so nothing
resolves it a second time. ``rank_cores`` is the one place that reads a rank's cores,
``core_shortage`` the one rule for the oversubscription warning (docs/mpi.md, "Threads,
cores and binding"). BLAS libraries are found and limited through threadpoolctl, which
knows every OpenBLAS/MKL/BLIS build by name.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator, Mapping, Sequence

import numba

from . import comm as comm_mod


# -- how many threads: the one decision -----------------------------------------------------
class ThreadCount(int):
    """A rank's thread count as :func:`resolve_threads` decided it: resolving it again gives it back."""


def resolve_threads(requested: int | None, ranks_per_node: int = 1, node_cores: int | None = None) -> ThreadCount:
    """Threads per rank: the first that is set of (README "Threads and ranks")

    1. ``HPCDL_THREADS`` (``--threads`` sets it): the user's word for this run;
    2. ``SLURM_CPUS_PER_TASK``: the allocation's CPUs per rank rule over a job file;
    3. ``requested``: the job's ``[job] threads`` or the Python API's ``threads=``;
    4. ``NUMBA_NUM_THREADS``;
    5. the cores available to the process, at most its share of ``node_cores`` (the cores the
       ranks on the node may run on together) / the ranks on the node.

    A count already resolved (a :class:`ThreadCount`) is given back as it is.
    Rank 0 warns (once per message) when a job's threads or an explicit value differ
    from the allocation: the user asked for one figure and Slurm granted another.
    """
    if isinstance(requested, ThreadCount):
        return requested
    explicit, allocation = _env_count("HPCDL_THREADS"), _env_count("SLURM_CPUS_PER_TASK")
    if explicit:
        if allocation and explicit != allocation:
            warn_once(
                f"--threads/HPCDL_THREADS {explicit} differs from the Slurm allocation's --cpus-per-task="
                f"{allocation}: using {explicit} threads per rank"
            )
        return ThreadCount(explicit)
    if allocation:
        if requested and int(requested) != allocation:
            warn_once(
                f"the job's threads = {int(requested)} differs from the Slurm allocation's --cpus-per-task="
                f"{allocation}: using {allocation} threads per rank (--threads N overrides the allocation)"
            )
        return ThreadCount(allocation)
    if requested:
        return ThreadCount(requested)
    numba_threads = _env_count("NUMBA_NUM_THREADS")
    if numba_threads:
        return ThreadCount(numba_threads)
    cores = len(rank_cores())  # bound ranks (Open MPI: one core each) have their own cores, unshared
    return ThreadCount(max(1, min(cores, (node_cores or cores) // max(1, ranks_per_node))))


def _env_count(var: str) -> int | None:
    value = os.environ.get(var, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def warn_team_fell_back(threads: int) -> None:
    """The per-sample team found its cores busy and trained on with one thread: same model
    (the algorithm is the one-thread algorithm), lower speed; the user should know why."""
    warn_once(
        f"per-sample training on {threads} threads went on with 1 thread for part of an iteration: "
        "its threads waited for cores that other work kept busy (docs/kernels.md, 'Threads'); "
        "fewer ranks x threads than cores, or a quieter machine, avoids it",
        any_rank=True,
    )


@functools.cache
def warn_once(message: str, any_rank: bool = False) -> None:
    """Print a warning once per process: rank 0's, or (``any_rank``: about this rank alone) any rank's."""
    world = comm_mod.world()
    if world.rank == 0 or any_rank:
        where = f"rank {world.rank}: " if any_rank and world.size > 1 else ""
        print(f"hpcdl: warning: {where}{message}", file=sys.stderr, flush=True)


def training_threads(requested: int | None, *, reproducible: bool = False) -> int:
    """The threads a run trains on: 1 when reproducible, else ``resolve_threads(requested)``, at most
    Numba's pool (:func:`use_threads`)."""
    return 1 if reproducible else use_threads(resolve_threads(requested))


def use_threads(n: int) -> int:
    """How many threads the kernels run (kernels/hogwild.py starts them as Python threads): n,
    capped at NUMBA_NUM_THREADS (the cores by default, or the variable's value), at least 1."""
    return max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))


def use_all_threads() -> int:
    """NUMBA_NUM_THREADS (inference, which has no shared writes)."""
    return use_threads(numba.config.NUMBA_NUM_THREADS)


# -- cores: does each rank have one for each of its threads? --------------------------------
def rank_cores() -> frozenset[int]:
    """The cores this process may run on: its binding (mpiexec, srun, taskset), else the node's."""
    if hasattr(os, "sched_getaffinity"):
        return frozenset(os.sched_getaffinity(0))
    return frozenset(range(os.cpu_count() or 1))


def launcher_of(environ: Mapping[str, str]) -> str:
    """Which launcher started this rank, from the variables it sets: "openmpi" (its mpiexec,
    also inside a Slurm allocation), "slurm" (srun, or MPICH's mpiexec launching through srun),
    "mpich" (MPICH's Hydra mpiexec), or "" when none is known."""
    if "OMPI_COMM_WORLD_SIZE" in environ:
        return "openmpi"
    if "SLURM_JOB_ID" in environ:
        return "slurm"
    if "MPI_LOCALNRANKS" in environ or "PMI_RANK" in environ:
        return "mpich"
    return ""


def more_cores_option(launcher: str, threads: int) -> str:
    """The launcher's option that gives each rank ``threads`` cores."""
    options = {
        "openmpi": f"Open MPI: mpiexec --map-by slot:PE={threads} (or --bind-to none)",
        "mpich": f"MPICH: mpiexec -bind-to core:{threads} (or -bind-to none)",
        "slurm": f"Slurm: --cpus-per-task={threads}",
    }
    return options.get(launcher) or "; ".join(options.values())


def core_shortage(threads: int, ranks_cores: Sequence[frozenset[int]], node_cores: int, launcher: str) -> str | None:
    """The warning (one line) when the ranks on a node have fewer cores than threads, else None.

    ``ranks_cores``: the cores each rank on this node may run on (``rank_cores`` of each);
    ``node_cores``: the node's cores. A rank's binding is told from the node: with Open MPI's
    default binding 2 ranks x 1 thread on 2 cores is one core each, no shortage, although
    each rank sees only 1 core. The advice names the cause: too many threads for the node,
    or a binding that gives a rank fewer cores than its threads (and the option to change)."""
    ranks = len(ranks_cores)
    usable = frozenset().union(*ranks_cores)
    node_cores = max(node_cores, len(usable))
    if ranks * threads > node_cores:
        return (
            f"{ranks} ranks x {threads} threads on this node exceed its {node_cores} cores: "
            "HOGWILD! threads will be oversubscribed; lower threads or ranks per node"
        )
    fewest = min(len(cores) for cores in ranks_cores)
    if fewest < threads:
        return (
            f"{ranks} rank(s) x {threads} threads on this node, but a rank is bound to {fewest} core(s) of the "
            f"node's {node_cores}: its threads will share them; give each rank {threads} cores "
            f"({more_cores_option(launcher, threads)})"
        )
    if ranks * threads > len(usable):
        return (
            f"{ranks} ranks x {threads} threads on this node share {len(usable)} core(s) of its {node_cores}: "
            f"HOGWILD! threads will be oversubscribed; bind each rank to {threads} cores of its own "
            f"({more_cores_option(launcher, threads)})"
        )
    return None


_controller = None


def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, found once. scipy's BLAS is
    loaded first: it is the one Numba's np.dot calls (the BLAS mini-batch engine)."""
    global _controller
    if _controller is None:
        import scipy.linalg.cython_blas  # noqa: F401 - loads the BLAS Numba's np.dot uses
        from threadpoolctl import ThreadpoolController  # with the BLAS it finds: on first use, not at import

        _controller = ThreadpoolController()
    return _controller


def blas_thread_counts() -> list[int]:
    """Threads of every BLAS library loaded in this process (for checks and tests)."""
    return [lib.num_threads for lib in _blas_controller().select(user_api="blas").lib_controllers]


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the block with every loaded BLAS limited to n threads, then restore."""
    with _blas_controller().limit(limits=int(n), user_api="blas"):
        yield
