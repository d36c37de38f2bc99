#!/usr/bin/env bash
# tests/run_all.sh's Open MPI stage: the README's site-MPI recipe, with Debian's Open MPI standing
# in for a cluster's MPI. mpi4py is built against it in a virtualenv of its own (HPCDL_OPENMPI_VENV,
# default .venv-openmpi; reused while its mpi4py runs on Open MPI, rebuilt with HPCDL_REINSTALL=1),
# then, under Open MPI's own mpiexec: the MPI suite on 2 ranks, a part of it on 3 (--oversubscribe on
# a 2-core machine), and tests/openmpi (a job file with its default binding: no false warning).
# As root it installs openmpi-bin and libopenmpi-dev with apt-get if missing; elsewhere it skips and
# says why (run_all.sh repeats that in its summary). Usage: tests/openmpi_stage.sh [RESULTS_DIR]
set -u
cd "$(dirname "$0")/.."
results=${1:-$(mktemp -d)}
junit="$results/openmpi"  # beside, not over, the MPICH runs' mpi2-rank0.xml ... (run_all.sh's tally reads both)
mkdir -p "$junit"
skip() {  # HPCDL_OPENMPI_REQUIRED=1 (CI, .ci/run): a skip is a failure
    echo "!!! Open MPI stage skipped: $1"
    echo "$1" > "$results/openmpi-skipped.txt"
    [ "${HPCDL_OPENMPI_REQUIRED:-0}" = 1 ] && { echo "error: HPCDL_OPENMPI_REQUIRED=1"; exit 1; }
    exit 0
}
echo "== Open MPI: mpi4py built against Debian's Open MPI (the README's site-MPI recipe)"
if ! command -v ompi_info >/dev/null 2>&1 || ! command -v mpicc.openmpi >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        skip "Open MPI is not installed and this is not root with apt-get: apt-get install openmpi-bin libopenmpi-dev"
    fi
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openmpi-bin libopenmpi-dev) >/dev/null \
        || skip "apt-get install openmpi-bin libopenmpi-dev failed"
fi
# Open MPI's own tools by their full names: PyPI MPICH's mpicc and mpiexec may come first on PATH.
OMPI_BIN=$(dirname "$(command -v ompi_info)")
MPICC=$(command -v mpicc.openmpi)
MPIEXEC=$OMPI_BIN/mpiexec.openmpi
[ -x "$MPIEXEC" ] || MPIEXEC=$OMPI_BIN/mpiexec
VENV=${HPCDL_OPENMPI_VENV:-.venv-openmpi}
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
on_open_mpi() {
    "$VENV/bin/python" -c "import hpcdl, pytest_mpi; from mpi4py import MPI; assert MPI.Get_library_version().startswith('Open MPI')" \
        2>/dev/null
}
if ! on_open_mpi || [ "${HPCDL_REINSTALL:-0}" = 1 ]; then
    # The README's recipe, less `module load`: a fresh virtualenv, mpi4py from source against this MPI
    # (--no-cache-dir: not a wheel pip built earlier against another MPI), then hpcdl without mpich.
    rm -rf "$VENV"
    python3 -m venv "$VENV" || exit 1
    MPICC=$MPICC "$VENV/bin/pip" install -q --no-cache-dir --no-binary=mpi4py mpi4py || exit 1
    "$VENV/bin/pip" install -q -e ".[test]" || exit 1
    on_open_mpi || { echo "error: $VENV: mpi4py does not run on Open MPI after the build"; exit 1; }
fi
"$VENV/bin/python" -c "from mpi4py import MPI; print(MPI.Get_library_version().splitlines()[0])"
# As root (CI, containers) Open MPI's mpiexec needs these, or --allow-run-as-root (README).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export PATH="$VENV/bin:$PATH"
status=0
# 2 ranks: the whole MPI suite, under Open MPI's default binding (a core per rank).
echo "== MPI tests on 2 ranks under Open MPI's mpiexec"
HPCDL_JUNIT_DIR="$junit" NUMBA_NUM_THREADS=1 timeout 600 "$MPIEXEC" -n 2 \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider --with-mpi -m mpi tests/mpi || status=1
# 3 ranks: the training loop, shards and the oversubscription check (an odd rank count splits rows
# unevenly); the rest ran on 3 ranks under MPICH and on 2 under Open MPI: it stays out for CI's time.
echo "== MPI tests on 3 ranks under Open MPI's mpiexec (tests/mpi/test_train_mpi.py, test_shards.py)"
HPCDL_JUNIT_DIR="$junit" NUMBA_NUM_THREADS=1 timeout 600 "$MPIEXEC" --oversubscribe -n 3 \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider --with-mpi -m mpi \
    tests/mpi/test_train_mpi.py tests/mpi/test_shards.py || status=1
echo "== A job file under Open MPI's mpiexec and its default binding (tests/openmpi)"
timeout 600 "$VENV/bin/python" -m pytest -q -p no:cacheprovider -rs --junitxml="$junit/launch.xml" tests/openmpi \
    || status=1
exit $status
