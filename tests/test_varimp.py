"""Variable importances (Gedeon 1997): the formula against a plain loop, ranking on known data, table, CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import hpcdl
from hpcdl.frame import frame_from_numpy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(hpcdl.__file__)))


def gedeon_loop(w0, w1):
    """docs/model-selection.md's formula written out with loops: w0 is (hidden1, inputs), w1 is (next layer, hidden1)."""
    n_hidden, n_in = w0.shape
    n_next = w1.shape[0]
    s1 = [sum(abs(float(w0[j, i])) for i in range(n_in)) for j in range(n_hidden)]
    s2 = [sum(abs(float(w1[k, j])) for j in range(n_hidden)) for k in range(n_next)]
    q = [[0.0] * n_next for _ in range(n_in)]
    for i in range(n_in):
        for k in range(n_next):
            q[i][k] = sum(abs(float(w0[j, i])) / s1[j] * abs(float(w1[k, j])) / s2[k] for j in range(n_hidden))
    for k in range(n_next):
        col = sum(q[i][k] for i in range(n_in))
        for i in range(n_in):
            q[i][k] /= col
    vi = [sum(q[i]) for i in range(n_in)]
    return vi


def _scaled(vi, zero=()):
    vi = list(vi)
    for i in zero:
        vi[i] = 0.0
    top = max(vi)
    return [v / top for v in vi]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Numeric and categorical predictors (one categorical with NAs, one without)."""
    rng = np.random.default_rng(1)
    n = 300
    color = rng.integers(0, 3, n)
    size = rng.integers(0, 2, n).astype(np.int32)
    size[:5] = -1  # NA
    a = rng.normal(size=n)
    y = (a + (color == 2) > 0.3).astype(int)
    d = tmp_path_factory.mktemp("vi")
    return frame_from_numpy(
        {
            "color": np.array(["red", "green", "blue"])[color],
            "size": size,
            "a": a,
            "b": rng.normal(size=n),
            "y": np.array(["n", "p"])[y],
        },
        str(d / "m.h5"),
        domains={"size": ["S", "L"]},
    )


@pytest.mark.parametrize("hidden", [[4, 3], [5], []])
def test_gedeon_matches_a_plain_loop(mixed, hidden):
    m = hpcdl.deeplearning(y="y", training_frame=mixed, hidden=hidden, epochs=2, seed=3, threads=1, activation="Tanh")
    w0 = m.net.weights(0).astype(np.float64)
    if hidden:
        vi = gedeon_loop(w0, m.net.weights(1).astype(np.float64))
    else:  # no hidden layer: the sum of |w| leaving each input
        vi = [float(np.abs(w0[:, i]).sum()) for i in range(w0.shape[1])]
    names = m.dinfo.input_names
    unseen_na = [names.index("color.missing(NA)")]  # color never had an NA in training; size did
    expected = dict(zip(names, _scaled(vi, unseen_na)))
    table = m.varimp_table()
    assert len(table) == len(names)
    for row in table:
        assert row["relative_importance"] == pytest.approx(expected[row["variable"]], rel=1e-9, abs=1e-12)
    assert expected["color.missing(NA)"] == 0.0 and expected["size.missing(NA)"] > 0.0


def test_table_is_h2o_shaped(mixed):
    m = hpcdl.deeplearning(
        y="y", training_frame=mixed, hidden=[6], epochs=2, seed=1, threads=1, variable_importances=True
    )
    table = m.variable_importances
    assert table == m.varimp_table()  # computed at scoring time, as H2O does
    # H2O-3's varimp(): the same rows as tuples, in the same order
    assert m.varimp() == [
        (r["variable"], r["relative_importance"], r["scaled_importance"], r["percentage"]) for r in table
    ]
    # one row per expanded input: categorical levels listed one by one, then the numerics
    assert {r["variable"] for r in table} == {
        "color.blue",
        "color.green",
        "color.red",
        "color.missing(NA)",
        "size.S",
        "size.L",
        "size.missing(NA)",
        "a",
        "b",
    }
    rel = [r["relative_importance"] for r in table]
    assert rel == sorted(rel, reverse=True) and rel[0] == 1.0
    assert all(r["scaled_importance"] == r["relative_importance"] for r in table)
    assert sum(r["percentage"] for r in table) == pytest.approx(1.0)
    for r in table:
        assert r["percentage"] == pytest.approx(r["relative_importance"] / sum(rel))
    df = m.varimp(use_pandas=True)
    assert list(df.columns) == ["variable", "relative_importance", "scaled_importance", "percentage"]
    assert df["variable"].tolist() == [r["variable"] for r in table]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_informative_features_rank_first(tmp_path, seed):
    """y depends on x3 and x7 only, out of ten columns."""
    rng = np.random.default_rng(seed)
    n = 1000
    X = rng.normal(size=(n, 10))
    y = (2 * X[:, 3] - 1.5 * X[:, 7] + 0.3 * rng.normal(size=n) > 0).astype(int)
    cols = {f"x{i}": X[:, i] for i in range(10)}
    cols["y"] = np.array(["a", "b"])[y]
    frame = frame_from_numpy(cols, str(tmp_path / "f.h5"))
    m = hpcdl.deeplearning(
        y="y",
        training_frame=frame,
        hidden=[10, 10],
        activation="Tanh",
        l1=1e-3,
        epochs=50,
        seed=seed,
        threads=1,
        variable_importances=True,
    )
    table = m.varimp_table()
    assert {table[0]["variable"], table[1]["variable"]} == {"x3", "x7"}
    assert table[1]["relative_importance"] > table[2]["relative_importance"] + 0.05


def test_varimp_saved_and_cli(mixed, tmp_path):
    m = hpcdl.deeplearning(y="y", training_frame=mixed, hidden=[6], epochs=2, seed=1, threads=1)
    path = m.save(str(tmp_path / "m.h5"))
    assert hpcdl.load_model(path).varimp() == m.varimp()
    res = subprocess.run(
        [sys.executable, "-m", "hpcdl.cli", "varimp", path, "--top", "3", "--json"],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == m.varimp_table()[:3]
    res = subprocess.run(
        [sys.executable, "-m", "hpcdl.cli", "varimp", path, "--top", "4"],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert res.returncode == 0 and "top 4 of 9" in res.stdout and m.varimp()[0][0] in res.stdout
    res = subprocess.run(
        [sys.executable, "-m", "hpcdl.cli", "varimp", path, "--plot", str(tmp_path / "vi.txt")],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert res.returncode == 1 and ".png" in res.stderr and not (tmp_path / "vi.txt").exists()


def test_varimp_plot(mixed, tmp_path):
    pytest.importorskip("matplotlib")
    from hpcdl.plot_varimp import plot_varimp

    m = hpcdl.deeplearning(y="y", training_frame=mixed, hidden=[6], epochs=1, seed=1, threads=1)
    out = plot_varimp(m.varimp_table(), str(tmp_path / "vi.png"), top=5)
    with open(out, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="top"):
        plot_varimp(m.varimp_table(), str(tmp_path / "x.png"), top=0)
