"""The output traps a new user walks into, driven through the CLI (docs/outputs.md).

Output onto an input (import, predict, anomaly, deepfeatures, export, models save), a re-run into a
used output without and with --force, and ``--out -``. Each trap: the exit code, the message naming
the file and the flag, and not one input byte changed (SHA-256 before and after).
"""

import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import hpcdl
from hpcdl import cli

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")


def _sha(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A user's directory: a CSV, a supervised model and an autoencoder trained on it."""
    d = tmp_path_factory.mktemp("newcomer")
    shutil.copy(os.path.join(DATA, "prostate.csv"), d / "data.csv")
    frame = hpcdl.import_file(str(d / "data.csv"), destination=str(d / "data.h5"), col_types={"CAPSULE": "enum"})
    x = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
    model = hpcdl.deeplearning(x=x, y="CAPSULE", training_frame=frame, hidden=[4], epochs=1, seed=1, reproducible=True)
    ae = hpcdl.deeplearning(
        x=x, training_frame=frame, autoencoder=True, hidden=[3], epochs=1, seed=1, reproducible=True
    )
    model.save(str(d / "model.h5"))
    ae.save(str(d / "ae.h5"))
    return d


@pytest.fixture
def inputs(work, monkeypatch):
    """cd into the user's directory; after the test, every input is byte for byte what it was."""
    monkeypatch.chdir(work)
    monkeypatch.setenv("HPCDL_FRAME_DIR", str(work / "cache"))
    names = ["data.csv", "data.h5", "model.h5", "ae.h5"]
    before = {n: _sha(work / n) for n in names}
    yield work
    assert {n: _sha(work / n) for n in names} == before


def _run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


ONTO_INPUT = [
    ("import", "data.csv", "--out", "data.csv"),
    ("import", "data.csv", "--out", "./data.csv", "--force"),
    ("predict", "model.h5", "data.csv", "--out", "data.csv", "--force"),
    ("predict", "model.h5", "data.csv", "--out", "model.h5", "--force"),
    ("predict", "model.h5", "data.h5", "--out", "data.h5", "--force"),
    ("anomaly", "ae.h5", "data.csv", "--out", "data.csv", "--force"),
    ("deepfeatures", "model.h5", "data.csv", "--layer", "0", "--out", "data.csv", "--force"),
    ("export", "model.h5", "--format", "python", "--out", "model.h5", "--force"),
    ("models", "save", "model.h5", "./model.h5", "--force"),
]


@pytest.mark.parametrize("argv", ONTO_INPUT, ids=[" ".join(a) for a in ONTO_INPUT])
def test_output_onto_an_input_is_refused_even_with_force(inputs, capsys, argv):
    code, out, err = _run(capsys, *argv)
    assert code == 1
    assert "is an input of this command" in err and "--force does not apply" in err
    assert err.count("\n") == 1 and err.startswith(f"hpcdl {argv[0]}: error: ")


def test_anomaly_plot_and_table_cannot_share_a_file(inputs, capsys):
    pytest.importorskip("matplotlib")
    code, _, err = _run(capsys, "anomaly", "ae.h5", "data.csv", "--out", "e.png", "--plot", "./e.png")
    assert code == 1 and "--plot and --out both name e.png" in err
    assert not (inputs / "e.png").exists()  # refused before anything was written


RERUNS = [
    ("import", "data.csv", "--out", "again.h5"),
    ("predict", "model.h5", "data.csv", "--out", "again.csv"),
    ("anomaly", "ae.h5", "data.csv", "--out", "again.csv"),
    ("deepfeatures", "ae.h5", "data.csv", "--layer", "0", "--out", "again.csv"),
    ("export", "model.h5", "--format", "python", "--out", "again.py"),
    ("models", "save", "model.h5", "again.h5"),
]


@pytest.mark.parametrize("argv", RERUNS, ids=[" ".join(a) for a in RERUNS])
def test_a_rerun_into_a_used_output_needs_force(inputs, capsys, argv):
    out_path = inputs / argv[argv.index("--out") + 1 if "--out" in argv else -1]
    try:
        assert _run(capsys, *argv)[0] == 0
        first = _sha(out_path)
        os.utime(out_path, (1, 1))
        code, _, err = _run(capsys, *argv)
        assert code == 1
        assert err.strip().endswith(f"{out_path.name}: file exists; use --force (force=True in Python) to replace it")
        assert _sha(out_path) == first and os.stat(out_path).st_mtime == 1  # not touched
        assert _run(capsys, *argv, "--force")[0] == 0
        assert os.stat(out_path).st_mtime > 1  # replaced
        if argv[0] in ("predict", "anomaly", "deepfeatures"):
            assert _sha(out_path) == first  # same inputs, same table
    finally:
        for p in (out_path, out_path.with_suffix(".npz")):
            if p.exists():
                p.unlink()


@pytest.mark.parametrize(
    "argv",
    [
        ("predict", "model.h5", "data.csv"),
        ("anomaly", "ae.h5", "data.csv"),
        ("deepfeatures", "ae.h5", "data.csv", "--layer", "0"),
    ],
)
def test_out_dash_writes_the_table_to_stdout(inputs, capsys, argv):
    code, stdout, err = _run(capsys, *argv, "--out", "-")
    assert code == 0 and not (inputs / "-").exists()
    assert _run(capsys, *argv, "--out", "table.csv")[0] == 0
    try:
        with open(inputs / "table.csv", newline="") as fh:
            assert list(csv.reader(io.StringIO(stdout))) == list(csv.reader(fh))  # the same CSV
    finally:
        (inputs / "table.csv").unlink()
    assert err.startswith("-: 380 ")  # the report goes to stderr, out of the table's way


@pytest.mark.parametrize(
    "argv",
    [
        ("import", "data.csv", "--out", "-"),
        ("export", "model.h5", "--out", "-"),
        ("models", "save", "model.h5", "-"),
    ],
)
def test_out_dash_for_a_file_that_is_not_a_table_is_an_error(inputs, capsys, argv):
    code, _, err = _run(capsys, *argv)
    assert code == 1 and "cannot be written to standard output ('-'); give a file name" in err
    assert not (inputs / "-").exists()


def test_predict_to_stdout_in_a_real_pipe(inputs):
    env = {**os.environ, "HPCDL_NO_MPI": "1", "HPCDL_FRAME_DIR": str(inputs / "cache")}
    run = subprocess.run(
        [sys.executable, "-m", "hpcdl.cli", "predict", "model.h5", "data.csv", "--out", "-"],
        capture_output=True,
        text=True,
        cwd=inputs,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    rows = list(csv.reader(io.StringIO(run.stdout)))
    assert rows[0] == ["predict", "p0", "p1"] and len(rows) == 381  # H2O-3's names for classes 0 and 1
    model = hpcdl.load_model(str(inputs / "model.h5"))
    expected = model.predict(str(inputs / "data.h5")).read()
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], expected["p1"], rtol=1e-12)
    assert run.stderr.startswith("-: 380 predictions")
