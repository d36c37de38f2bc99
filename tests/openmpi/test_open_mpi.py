"""hpcdl under Open MPI's own mpiexec with its default binding (with 2 ranks or fewer it binds
each rank to one core). tests/run_all.sh's Open MPI stage runs this module in a virtualenv whose
mpi4py is built against Debian's Open MPI, as the README's site-MPI recipe builds it; elsewhere
(mpi4py on PyPI's MPICH, no Open MPI) it skips and says why."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
OMPI_INFO = shutil.which("ompi_info")
MPIEXEC = os.path.join(os.path.dirname(OMPI_INFO), "mpiexec") if OMPI_INFO else None
# As root (CI, containers) Open MPI's mpiexec refuses to start without these two (or --allow-run-as-root).
ROOT_OK = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def _env() -> dict:
    """This virtualenv first; no thread settings: the threads come from the cores each rank sees."""
    env = {**os.environ, **ROOT_OK, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    for var in ("NUMBA_NUM_THREADS", "HPCDL_THREADS", "HPCDL_JUNIT_DIR"):
        env.pop(var, None)
    return {k: v for k, v in env.items() if not k.startswith(("SLURM_", "PMI_", "OMPI_COMM_"))} | ROOT_OK


def _mpiexec(n: int, *cmd: str, timeout: float = 600, binding: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MPIEXEC, *binding, "-n", str(n), *cmd], capture_output=True, text=True, env=_env(), timeout=timeout, cwd=REPO
    )


def _why_not() -> str | None:
    if not MPIEXEC or not os.path.exists(MPIEXEC):
        return "Open MPI is not installed (no ompi_info on PATH): apt-get install openmpi-bin libopenmpi-dev"
    probe = _mpiexec(1, sys.executable, "-c", "from mpi4py import MPI; print(MPI.Get_library_version())", timeout=60)
    if not probe.stdout.startswith("Open MPI"):
        return f"this Python's mpi4py is not built against Open MPI ({(probe.stdout or probe.stderr)[:80]!r})"
    return None


WHY_NOT = _why_not()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=str(WHY_NOT))


def _cores_of_two_ranks() -> list[list[int]]:
    code = "import os; print(sorted(os.sched_getaffinity(0)))"
    run = _mpiexec(2, sys.executable, "-c", code, timeout=60)
    assert run.returncode == 0, run.stderr
    return [ast.literal_eval(line) for line in run.stdout.splitlines()]


def _train(n: int, out, *options: str, binding: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """jobs/prostate.toml (the README's first run), 2 epochs, under Open MPI's mpiexec."""
    run = _mpiexec(
        n, os.path.join(BIN, "hpcdl"), "train", "jobs/prostate.toml", "--output-dir", str(out),
        "--quiet", "--set", "epochs=2", *options, binding=binding,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert os.path.exists(os.path.join(out, "prostate.h5")), run.stdout
    return run


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="Open MPI binds 2 ranks to 2 cores: this machine has 1")
def test_two_ranks_bound_to_a_core_each_train_without_a_core_warning(tmp_path):
    cores = _cores_of_two_ranks()  # the case of the false warning: each rank sees one core, its own
    assert len(cores) == 2 and all(len(c) == 1 for c in cores) and cores[0] != cores[1], cores
    run = _train(2, tmp_path / "run")
    assert "2 rank(s) x 1 thread(s)" in run.stdout, run.stdout
    assert "warning" not in run.stderr, run.stderr


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the rank must be bound to fewer cores than the node has")
def test_one_rank_bound_to_one_core_with_two_threads_names_open_mpis_option(tmp_path):
    run = _train(1, tmp_path / "bound", "--threads", "2")
    warnings = [line for line in run.stderr.splitlines() if "warning" in line]
    assert warnings == [
        f"hpcdl: warning: 1 rank(s) x 2 threads on this node, but a rank is bound to 1 core(s) of the node's "
        f"{os.cpu_count()}: its threads will share them; give each rank 2 cores "
        "(Open MPI: mpiexec --map-by slot:PE=2 (or --bind-to none))"
    ], run.stderr
    # ... and the option it names gives the rank its two cores: no warning then
    run = _train(1, tmp_path / "pe2", "--threads", "2", binding=("--map-by", "slot:PE=2"))
    assert "warning" not in run.stderr, run.stderr
