#!/usr/bin/env bash
# Run every hpcdl test: lint, the serial suite, the MPI suite under 2 and 3 ranks, the Open MPI
# stage (the README's site-MPI recipe with Debian's Open MPI standing in for a cluster's: mpi4py
# built against it in a virtualenv of its own, the MPI suite under its mpiexec, a job file under
# its default binding; as root, installing openmpi-bin and libopenmpi-dev if missing; it skips,
# loudly, where it cannot), then the Slurm suite (tests/slurm: a real Slurm, one node and two,
# started and stopped by the tests; as root, installing slurm-wlm and munge if missing; it skips,
# loudly, where it cannot).
# Creates/updates the virtualenv .venv (pip install -e ".[test,export,plot,mpich]") unless every
# package the tests need imports: a .venv made by the README's first command (".[test,mpich]")
# gets the export and plot extras here, so their tests run instead of skipping.
# Each MPI run is under `timeout`: a failed assertion on one rank must not leave
# the others waiting in a collective forever.
set -u
cd "$(dirname "$0")/.."
VENV=${HPCDL_VENV:-.venv}
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || exit 1
fi
if ! "$VENV/bin/python" -c "import hpcdl, pytest, pytest_mpi, mpi4py, ruff, sklearn, onnx, onnxruntime, matplotlib" 2>/dev/null \
    || [ "${HPCDL_REINSTALL:-0}" = 1 ]; then
    # PyPI's MPICH only where mpi4py has no MPI yet: a virtualenv built against the site's MPI keeps it.
    extras=test,export,plot
    "$VENV/bin/python" -c "from mpi4py import MPI" 2>/dev/null || extras=$extras,mpich
    "$VENV/bin/python" -m pip install -q -e ".[$extras]" || exit 1
fi
export PATH="$VENV/bin:$PATH"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
results=$(mktemp -d)
status=0

echo "== lint and format (ruff, configured in pyproject.toml)"
ruff check hpcdl tests benchmarks && ruff format --check hpcdl tests benchmarks || status=1

echo "== serial tests"
timeout 1200 python -m pytest -q -p no:cacheprovider --junitxml="$results/serial.xml" --ignore=tests/slurm \
    --ignore=tests/openmpi "$@" tests \
    || status=1

for n in 2 3; do
    echo "== MPI tests on $n ranks"
    HPCDL_JUNIT_DIR="$results" NUMBA_NUM_THREADS=1 timeout 600 \
        mpiexec -n $n python -m pytest -q -p no:cacheprovider --with-mpi -m mpi tests/mpi || status=1
done

tests/openmpi_stage.sh "$results" || status=1

echo "== Slurm tests (a real Slurm on this machine: one node, then two)"
HPCDL_SLURM_TESTS=1 timeout -k 60 1200 python -m pytest -q -p no:cacheprovider -rs --junitxml="$results/slurm.xml" \
    tests/slurm || status=1

python - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
slurm = glob.glob(sys.argv[1] + "/slurm.xml")
reasons = {s.get("message", "") for p in slurm for s in ET.parse(p).getroot().iter("skipped")}
for reason in sorted(reasons):  # the sbatch scripts were not run by Slurm: say so where nobody can miss it
    print(f"!!! SLURM TESTS SKIPPED: {reason}")
for path in glob.glob(sys.argv[1] + "/openmpi-skipped.txt"):  # neither was the site-MPI recipe
    print(f"!!! OPEN MPI TESTS SKIPPED: {open(path).read().strip()}")
for path in sorted(glob.glob(sys.argv[1] + "/**/*.xml", recursive=True)):  # openmpi/: the Open MPI stage
    for suite in ET.parse(path).getroot().iter("testsuite"):
        t, f, e, s = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        if "-rank" in path and not path.endswith("-rank0.xml"):
            failed += f + e  # other ranks: only their failures add to the tally
            continue
        passed += t - f - e - s; failed += f + e; skipped += s
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
