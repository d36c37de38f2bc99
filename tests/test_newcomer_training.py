"""`hpcdl train` as a careless newcomer drives it: each trap ends in one clear line naming the user's
file (or option), a non-zero exit code, and no byte of the user's files changed."""

import hashlib
import os
import shutil
import signal
import subprocess
import sys

import pytest

import hpcdl

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")
HPCDL = os.path.join(os.path.dirname(sys.executable), "hpcdl")
ENV = {**os.environ, "NUMBA_NUM_THREADS": "1"}


@pytest.fixture
def workdir(tmp_path):
    shutil.copy(os.path.join(DATA, "iris_wheader.csv"), tmp_path / "iris.csv")
    shutil.copy(os.path.join(DATA, "prostate.csv"), tmp_path / "prostate.csv")
    return tmp_path


def _hpcdl(workdir, *args):
    return subprocess.run([HPCDL, *args], cwd=workdir, env=ENV, capture_output=True, text=True, timeout=300)


def _tree(directory):
    """Every file under ``directory`` with its content's hash: to show nothing changed."""
    out = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, directory)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def _one_error_line(result, code=1):
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_no_response_is_an_error_not_a_model_of_zeros(workdir):
    before = _tree(workdir)
    line = _one_error_line(_hpcdl(workdir, "train", "--training-frame", "iris.csv"))
    assert line == "hpcdl train: error: --y (the response column) is required unless --set autoencoder=true"
    assert _tree(workdir) == before  # nothing imported, no output directory


def test_a_response_that_is_not_a_column_names_the_csv(workdir):
    line = _one_error_line(_hpcdl(workdir, "train", "--training-frame", "iris.csv", "--y", "Class"))
    assert line == (
        f"hpcdl train: error: --y: {workdir / 'iris.csv'}: response column y='Class' not found (did you mean 'class'?)"
    )
    line = _one_error_line(
        _hpcdl(workdir, "train", "--training-frame", "iris.csv", "--y", "class", "--x", "sepal_len", "class")
    )
    assert line.endswith("y='class' is also listed in x; the response cannot be a predictor")


def test_an_unsupported_parameter_in_a_job_file_names_the_file_and_line(workdir):
    job = workdir / "iris.toml"
    job.write_text('[data]\ntraining_frame = "iris.csv"\ny = "class"\n\n[parameters]\ndistribution = "poisson"\n')
    before = _tree(workdir)
    line = _one_error_line(_hpcdl(workdir, "train", str(job)))
    assert line == (
        f"hpcdl train: error: {job}:6: [parameters] distribution: parameter 'distribution': 'poisson' is not "
        "supported by hpcdl (supported: AUTO, bernoulli, multinomial, gaussian, laplace, quantile, huber; "
        "see docs/differences.md)"
    )
    assert _tree(workdir) == before


def test_set_job_threads_abc_is_checked_like_the_job_table(workdir):
    job = workdir / "iris.toml"
    job.write_text('[data]\ntraining_frame = "iris.csv"\ny = "class"\n')
    line = _one_error_line(_hpcdl(workdir, "train", str(job), "--set", "job.threads=abc"))
    assert line == (
        "hpcdl train: error: --set job.threads=abc: threads = 'abc' is not valid; "
        "expected a whole number >= 1 (or 0 for automatic)"
    )


def test_a_fresh_run_after_a_signal_stopped_run_keeps_its_checkpoints(workdir):
    job = workdir / "p.toml"
    job.write_text(
        '[job]\nname = "p"\ncheckpoint_interval = 1000\nthreads = 1\n'
        '[data]\ntraining_frame = "prostate.csv"\ny = "CAPSULE"\nignored_columns = ["ID"]\n'
        'col_types = { CAPSULE = "enum" }\n'
        "[parameters]\nhidden = [5]\nepochs = 100000\ntrain_samples_per_iteration = 100\nstopping_rounds = 0\n"
        "quiet_mode = true\n"
    )
    proc = subprocess.Popen(
        [HPCDL, "train", str(job), "--quiet"], cwd=workdir, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout.readline().startswith(b"hpcdl: job p")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    before = _tree(workdir)
    checkpoints = workdir / "runs" / "p" / "checkpoints"
    assert len(os.listdir(checkpoints)) == 1
    line = _one_error_line(_hpcdl(workdir, "train", str(job), "--quiet"))
    assert line.startswith(f"hpcdl train: error: {job}: {checkpoints} holds the checkpoints of an unfinished run")
    assert "Continue it with --resume, or start over with --fresh" in line
    assert _tree(workdir) == before  # the stopped run's checkpoint and every input are as they were
