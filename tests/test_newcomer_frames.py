"""A newcomer's day with data files, through the ``hpcdl`` command (issue 14: frames).

Same-named CSVs in two folders, a Latin-1 file, a file with multi-line quoted
fields, a stray ``n/a`` in a numeric column, a corrupt gzip: each gets the right
result or one clear error naming the user's file, and no input byte changes.
"""

import csv
import gzip
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import hpcdl

HERE = os.path.dirname(os.path.abspath(__file__))
PROSTATE = os.path.join(HERE, os.pardir, "hpcdl", "datasets", "prostate.csv")


@pytest.fixture
def home(tmp_path):
    """A working directory and a private frame cache for the commands."""
    (tmp_path / "cache").mkdir()
    return tmp_path


def hpcdl_cli(home, *args):
    env = dict(os.environ, NUMBA_NUM_THREADS="1", HPCDL_FRAME_DIR=str(home / "cache"), HPCDL_NO_MPI="1")
    return subprocess.run(
        [sys.executable, "-m", "hpcdl.cli", *args], cwd=home, env=env, capture_output=True, text=True, timeout=300
    )


def digests(paths):
    return {p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths}


def write_rows(path, rows, header=("a", "b", "y")):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def regression_rows(n, seed, shift):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) + shift
    y = 2.0 * X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=n)
    return [[f"{a:.6f}", f"{b:.6f}", f"{t:.6f}"] for (a, b), t in zip(X, y)]


def test_training_and_validation_csvs_with_the_same_name(home):
    tr = write_rows(home / "tr" / "data.csv", regression_rows(120, 1, 0.0))
    va = write_rows(home / "va" / "data.csv", regression_rows(37, 2, 3.0))
    before = digests([tr, va])
    # `hpcdl import` of both: two frames, each with its own rows
    first, second = hpcdl_cli(home, "import", tr), hpcdl_cli(home, "import", va)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.split(":")[0] != second.stdout.split(":")[0]
    assert "120 rows x 3 columns" in first.stdout and "37 rows x 3 columns" in second.stdout
    job = home / "job.toml"
    job.write_text(
        '[job]\nname = "same"\noutput_dir = "out"\ncheckpoint_interval = 0\n'
        '[data]\ntraining_frame = "tr/data.csv"\nvalidation_frame = "va/data.csv"\ny = "y"\n'
        "[parameters]\nhidden = [4]\nepochs = 3\nseed = 1\nreproducible = true\n"
    )
    r = hpcdl_cli(home, "train", str(job), "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["training_metrics"]["nobs"] == 120 and out["validation_metrics"]["nobs"] == 37
    # the validation MSE, recomputed from va/data.csv read with the csv module (no hpcdl import)
    with open(va, newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    va_x = {"a": np.array([float(r[0]) for r in rows]), "b": np.array([float(r[1]) for r in rows])}
    va_y = np.array([float(r[2]) for r in rows])
    model = hpcdl.load_model(out["model_path"])
    pred = model.predict(va_x).column("predict")
    assert out["validation_metrics"]["MSE"] == pytest.approx(float(np.mean((pred - va_y) ** 2)), rel=1e-6)
    assert len(os.listdir(home / "out" / "frames")) == 2 and digests([tr, va]) == before


def test_latin1_csv_imports_with_one_warning(home):
    p = home / "names.csv"
    p.write_bytes(b"id,name\n1,Anna\n2,M\xfcller\n3,Fran\xe7ois\n")
    before = digests([str(p)])
    r = hpcdl_cli(home, "import", str(p), "--summary")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("not UTF-8 text") == 1 and f"{p}: not UTF-8 text (first at line 3)" in r.stderr
    assert "Müller" in r.stdout and "François" in r.stdout and digests([str(p)]) == before


def test_multiline_quoted_fields_import(home):
    p = home / "notes.csv"
    p.write_text('id,note,score\n1,"first line\nsecond line",0.5\n2,"plain",1.5\n3,"a, b\n""c""",2.5\n', newline="")
    before = digests([str(p)])
    r = hpcdl_cli(home, "import", str(p), "--summary")
    assert r.returncode == 0, r.stderr
    assert "3 rows x 3 columns" in r.stdout and digests([str(p)]) == before
    frame = hpcdl.get_frame(r.stdout.split(":")[0])
    assert frame.head()["note"].tolist() == ["first line\nsecond line", "plain", 'a, b\n"c"']


def test_model_trained_on_clean_prostate_scores_a_file_with_a_stray_na(home):
    lines = open(PROSTATE).read().splitlines()
    cells = lines[5].split(",")
    cells[6] = "n/a"  # PSA of the 5th patient
    lines[5] = ",".join(cells)
    dirty = home / "prostate_na.csv"
    dirty.write_text("\n".join(lines) + "\n")
    before = digests([str(dirty), PROSTATE])
    r = hpcdl_cli(
        home,
        *("train", "--training-frame", PROSTATE, "--y", "CAPSULE", "--name", "p", "--output-dir", "out"),
        *("--set", "hidden=[3]", "--set", "epochs=1", "--quiet"),
    )
    assert r.returncode == 0, r.stderr
    r = hpcdl_cli(home, "predict", "out/p.h5", str(dirty), "--out", "pred.csv")
    assert r.returncode == 0, r.stderr
    assert "column 'PSA' (real): 1, first at line 6: 'n/a'" in r.stderr
    assert len(open(home / "pred.csv").read().splitlines()) == 381 and digests([str(dirty), PROSTATE]) == before


def test_corrupt_gzip_is_one_line_naming_the_file(home):
    bad = home / "data.csv.gz"
    good = gzip.compress(b"a,b\n" + b"".join(f"{k},{k * k}\n".encode() for k in range(20000)))
    bad.write_bytes(good[:10] + b"\x00garbage after a gzip header" * 40)
    before = digests([str(bad)])
    r = hpcdl_cli(home, "import", str(bad))
    assert r.returncode == 1
    assert (
        r.stderr.startswith("hpcdl") and f"error: {bad}: not a readable gzip file (corrupt or truncated): " in r.stderr
    )
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    job = home / "job.toml"
    job.write_text(f'[job]\nname = "g"\noutput_dir = "out"\n[data]\ntraining_frame = "{bad}"\ny = "b"\n')
    r = hpcdl_cli(home, "train", str(job), "--quiet")
    assert r.returncode == 1 and f"{bad}: not a readable gzip file" in r.stderr and "Traceback" not in r.stderr
    assert digests([str(bad)]) == before
    assert os.listdir(home / "cache") == [] and os.listdir(home / "out" / "frames") == []


def test_errors_about_a_jobs_data_name_its_csv(home):
    """Not '<output_dir>/frames/allna-<hash>.h5: ...': the user never made that file."""
    allna = write_rows(home / "allna.csv", [["1", "2", "NA"], ["3", "4", ""]])
    job = home / "job.toml"
    job.write_text('[job]\nname = "na"\noutput_dir = "out"\n[data]\ntraining_frame = "allna.csv"\ny = "y"\n')
    r = hpcdl_cli(home, "train", str(job), "--quiet")
    assert r.returncode == 1 and f"{allna}: response column 'y' is all NA" in r.stderr
    assert "frames" not in r.stderr and "Traceback" not in r.stderr
