"""A failure on one rank must end the whole MPI job promptly, not leave the others in a collective.

Serial tests that launch ``mpiexec -n 2`` themselves (tests under tests/mpi/ are skipped
without --with-mpi, and mpiexec cannot be nested inside an MPI run). The failure is a trainer
hook the test passes in (FAIL_AT below): to the Python API as ``hooks=``, to the command line
through ``hpcdl.cli.main(argv, hooks=...)``, which is what the ``hpcdl`` command runs.
"""

import os
import subprocess
import sys
import time

import pytest

import hpcdl
from hpcdl.params import ParameterError
from hpcdl.prep import ColumnError

BIN = os.path.dirname(sys.executable)
JOBS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(hpcdl.__file__))), "jobs")
# A hook that makes rank 1 raise after its second iteration, while rank 0 waits in a collective.
FAIL_AT = (
    "from hpcdl.train import TrainHook\n"
    "class FailAt(TrainHook):\n"
    "    def after_iteration(self, ctx):\n"
    "        if ctx.comm.rank == 1 and ctx.iteration == 2:\n"
    "            raise RuntimeError(f'injected failure on rank {ctx.comm.rank} at iteration {ctx.iteration}')\n"
)


def _mpiexec(args, env_extra, timeout=120):
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", **env_extra}
    t0 = time.time()
    proc = subprocess.run(
        [os.path.join(BIN, "mpiexec"), "-n", "2", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc, time.time() - t0


@pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "mpiexec")), reason="no mpiexec beside the interpreter")
def test_failure_on_rank_1_aborts_the_whole_train_job(tmp_path):
    job = os.path.join(JOBS, "iris.toml")

    def args(out):
        return [
            os.path.join(BIN, "hpcdl"),
            "train",
            job,
            "--output-dir",
            str(out),
            "--quiet",
            "--set",
            "epochs=50",
            "--set",
            "train_samples_per_iteration=15",
        ]

    # the same job without the failure runs to completion (so the test below is not trivially true)
    ok, _ = _mpiexec(args(tmp_path / "ok"), {})
    assert ok.returncode == 0, ok.stderr
    assert os.path.exists(tmp_path / "ok" / "iris.h5")
    driver = FAIL_AT + "import sys\nfrom hpcdl import cli\nsys.exit(cli.main(sys.argv[1:], hooks=[FailAt()]))\n"
    proc, seconds = _mpiexec([sys.executable, "-c", driver, *args(tmp_path / "failed")[1:]], {})
    report = f"exit {proc.returncode} after {seconds:.1f} s\nstderr:\n{proc.stderr}"
    assert proc.returncode != 0, report
    assert "injected failure on rank 1 at iteration 2" in proc.stderr, report
    assert "(rank 1 of 2)" in proc.stderr, report
    assert seconds < 30, report  # rank 0, waiting in the Allreduce of iteration 2, was ended too
    assert not os.path.exists(tmp_path / "failed" / "iris.h5")  # no model written by a failed job


@pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "mpiexec")), reason="no mpiexec beside the interpreter")
def test_python_api_under_mpiexec_aborts_all_ranks_without_setup(tmp_path):
    """A script calling hpcdl.deeplearning under mpiexec gets the abort hook by itself."""
    iris = os.path.join(os.path.dirname(JOBS), "hpcdl", "datasets", "iris_wheader.csv")
    frame = hpcdl.import_file(iris, destination=str(tmp_path / "iris.h5"))
    script = (
        FAIL_AT + "import hpcdl, sys\n"
        f"f = hpcdl.get_frame({frame.path!r})\n"
        "hooks = [FailAt()] if sys.argv[1:] == ['fail'] else []\n"
        "m = hpcdl.deeplearning(y='class', training_frame=f, epochs=50, hidden=[5],\n"
        "                       train_samples_per_iteration=15, threads=1, hooks=hooks)\n"
        "print('finished on every rank')\n"
    )
    ok, _ = _mpiexec([sys.executable, "-c", script], {})
    assert ok.returncode == 0 and ok.stdout.count("finished on every rank") == 2, ok.stderr
    proc, seconds = _mpiexec([sys.executable, "-c", script, "fail"], {})
    report = f"exit {proc.returncode} after {seconds:.1f} s\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode != 0, report
    assert "rank 1 failed; aborting all 2 ranks" in proc.stderr, report
    assert "finished on every rank" not in proc.stdout, report
    assert seconds < 60, report


@pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "mpiexec")), reason="no mpiexec beside the interpreter")
def test_uncaught_exception_on_one_rank_aborts_all_ranks():
    script = (
        "import sys, time\n"
        "from hpcdl import comm as c\n"
        "c.install_abort_on_error()\n"
        "w = c.world()\n"
        "if w.rank == 1:\n"
        "    raise ZeroDivisionError('boom on rank 1')\n"
        "w.barrier()\n"  # rank 0 would wait here forever without the abort
        "print('rank 0 got past the barrier')\n"
    )
    proc, seconds = _mpiexec([sys.executable, "-c", script], {})
    report = f"exit {proc.returncode} after {seconds:.1f} s\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode != 0, report
    assert "boom on rank 1" in proc.stderr and "rank 1 failed; aborting all 2 ranks" in proc.stderr, report
    assert "got past" not in proc.stdout, report
    assert seconds < 30, report


@pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "mpiexec")), reason="no mpiexec beside the interpreter")
@pytest.mark.parametrize(
    "option, message",
    [
        (["--set", "epochs=-1"], "--set epochs=-1: invalid value for parameter 'epochs': -1; expected > 0"),
        (["--set", 'data.training_frame="absent.csv"'], "absent.csv: no such file"),
    ],
)
def test_a_refusal_every_rank_agrees_on_is_printed_once_and_ends_without_abort(tmp_path, option, message):
    """The same error on every rank (a bad parameter, a missing data file): one line from rank 0,
    every rank exits 1 by itself (no MPI_Abort, no rank number)."""
    out = tmp_path / "out"
    argv = [os.path.join(BIN, "hpcdl"), "train", os.path.join(JOBS, "iris.toml"), "--output-dir", str(out)]
    proc, seconds = _mpiexec([*argv, "--quiet", *option], {})
    report = f"exit {proc.returncode} after {seconds:.1f} s\nstderr:\n{proc.stderr}"
    assert proc.returncode == 1, report
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpcdl train: error: ") and message in lines[0], report
    assert "MPI_Abort" not in proc.stderr and "rank" not in lines[0], report
    assert not out.exists(), report  # nothing written, so no empty output directory (or frame cache) left behind


@pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "mpiexec")), reason="no mpiexec beside the interpreter")
def test_a_script_error_every_rank_agrees_on_is_one_line_naming_the_script_line(tmp_path):
    """Issue 25: a refused build under mpiexec -n 2 is one line from rank 0 (the script's file:line and the
    message naming the user's file), no traceback per rank, and every rank exits 1 without MPI_Abort."""
    iris = os.path.join(os.path.dirname(JOBS), "hpcdl", "datasets", "iris_wheader.csv")
    script = tmp_path / "bad_y.py"
    script.write_text(
        f"import hpcdl\nfr = hpcdl.import_file({iris!r})\nhpcdl.deeplearning(y='clas', training_frame=fr)\n"
    )
    proc, seconds = _mpiexec([sys.executable, str(script)], {"HPCDL_FRAME_DIR": str(tmp_path / "cache")})
    report = f"exit {proc.returncode} after {seconds:.1f} s\nstderr:\n{proc.stderr}"
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, report
    # the column check's error (issue 26: one check in prep) is a ParameterError, named by its own class
    assert issubclass(ColumnError, ParameterError)
    assert lines[0].startswith(f"hpcdl: error on all 2 ranks: {script}:3: hpcdl.prep.ColumnError: "), report
    assert "iris_wheader.csv: response column y='clas' not found" in lines[0] and "Traceback" not in proc.stderr, report
