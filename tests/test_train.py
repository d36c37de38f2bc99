"""End-to-end training on one rank: accuracy bands on known data, stopping, best model, predictions."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from kernel_hyper import make_hyper
from sklearn.metrics import r2_score

import hpcdl
from hpcdl.frame import frame_from_numpy
from hpcdl.params import ParameterError

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(hpcdl.__file__)))


@pytest.fixture(scope="module")
def iris_split(tmp_path_factory):
    d = tmp_path_factory.mktemp("iris")
    full = hpcdl.import_file(os.path.join(DATA, "iris_wheader.csv"), destination=str(d / "iris.h5"))
    df = full.as_data_frame()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(df))
    train = frame_from_numpy(df.iloc[idx[:100]].reset_index(drop=True), str(d / "train.h5"))
    valid = frame_from_numpy(df.iloc[idx[100:]].reset_index(drop=True), str(d / "valid.h5"))
    return train, valid


@pytest.fixture(scope="module")
def prostate(tmp_path_factory):
    d = tmp_path_factory.mktemp("prostate")
    return hpcdl.import_file(
        os.path.join(DATA, "prostate.csv"), destination=str(d / "p.h5"), col_types={"CAPSULE": "enum"}
    )


def _regression_frames(tmp_path, n=1500, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = 3.0 * X[:, 0] - 2.0 * X[:, 1] + np.sin(2 * X[:, 2]) + 0.1 * rng.normal(size=n) + 50.0
    cols = {f"x{i}": X[:, i] for i in range(4)}
    cols["y"] = y
    train = frame_from_numpy({k: v[:1000] for k, v in cols.items()}, str(tmp_path / "rtrain.h5"))
    valid = frame_from_numpy({k: v[1000:] for k, v in cols.items()}, str(tmp_path / "rvalid.h5"))
    return train, valid, y[1000:]


def test_iris_multinomial_accuracy_band(iris_split):
    train, valid = iris_split
    m = hpcdl.deeplearning(
        y="class", training_frame=train, validation_frame=valid, hidden=[20, 20], epochs=100, seed=1, threads=1
    )
    assert m.kind == "multinomial"
    # Fisher's iris is nearly separable: a small MLP misclassifies at most a few of 50 held-out flowers.
    assert m.validation_metrics["classification_error"] <= 0.10
    assert len(m.validation_metrics["hit_ratios"]) == 3
    assert m.validation_metrics["hit_ratios"][-1] == pytest.approx(1.0)


def test_predict_frame_layout_matches_h2o(iris_split):
    train, valid = iris_split
    m = hpcdl.deeplearning(y="class", training_frame=train, hidden=[10], epochs=20, seed=3, threads=1)
    preds = m.predict(valid)
    domain = train.domains["class"]
    assert preds.names == ["predict", *domain]
    assert preds.domains["predict"] == domain
    data = preds.read()
    P = np.column_stack([data[c] for c in domain])
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(data["predict"], P.argmax(axis=1))
    # metrics on a frame agree with the predictions made on it
    perf = m.model_performance(valid)
    truth = valid.column("class")
    assert perf["classification_error"] == pytest.approx(np.mean(P.argmax(axis=1) != truth))


def test_binomial_prostate_auc(prostate):
    x = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
    m = hpcdl.deeplearning(
        x=x, y="CAPSULE", training_frame=prostate, activation="Tanh", hidden=[10, 10], epochs=30, seed=1, threads=1
    )
    assert m.kind == "binomial"
    # H2O's demo reaches a training AUC around 0.8-0.9 on this data.
    assert m.training_metrics["AUC"] > 0.78
    data = m.predict(prostate).read()
    labels = (data["p1"] >= m.threshold()).astype(int)
    np.testing.assert_array_equal(data["predict"], labels)


def test_regression_predictions_on_original_scale(tmp_path):
    train, valid, y_valid = _regression_frames(tmp_path)
    m = hpcdl.deeplearning(
        y="y", training_frame=train, validation_frame=valid, hidden=[32, 32], epochs=40, seed=2, threads=1
    )
    assert m.kind == "regression"
    pred = m.predict(valid).column("predict")
    r2 = 1 - np.mean((pred - y_valid) ** 2) / np.var(y_valid)
    assert r2 > 0.95
    assert m.validation_metrics["r2"] == pytest.approx(r2_score(y_valid, pred), abs=1e-6)  # as H2O-3
    assert abs(pred.mean() - y_valid.mean()) < 0.5  # mapped back from the standardized response


@pytest.mark.parametrize("activation", ["Tanh", "Rectifier", "Maxout", "RectifierWithDropout"])
def test_every_activation_learns(iris_split, activation):
    train, valid = iris_split
    m = hpcdl.deeplearning(
        y="class",
        training_frame=train,
        validation_frame=valid,
        activation=activation,
        hidden=[16, 16],
        epochs=60,
        seed=4,
        threads=1,
    )
    assert m.validation_metrics["classification_error"] <= 0.2


def test_manual_rate_with_momentum_learns(iris_split):
    train, valid = iris_split
    m = hpcdl.deeplearning(
        y="class",
        training_frame=train,
        validation_frame=valid,
        adaptive_rate=False,
        rate=0.01,
        momentum_start=0.5,
        momentum_ramp=1000,
        momentum_stable=0.9,
        hidden=[16],
        epochs=60,
        seed=5,
        threads=1,
    )
    assert m.validation_metrics["classification_error"] <= 0.15


def test_reproducible_same_seed_identical(iris_split):
    train, _ = iris_split
    kw = dict(
        y="class",
        training_frame=train,
        hidden=[8],
        epochs=5,
        seed=11,
        reproducible=True,
        activation="RectifierWithDropout",
        input_dropout_ratio=0.1,
    )
    a = hpcdl.deeplearning(**kw)
    b = hpcdl.deeplearning(**kw)
    c = hpcdl.deeplearning(**{**kw, "seed": 12})
    np.testing.assert_array_equal(a.net.buffer, b.net.buffer)
    assert not np.array_equal(a.net.buffer, c.net.buffer)


def test_classification_stop_ends_training_early(iris_split):
    train, _ = iris_split
    m = hpcdl.deeplearning(
        y="class",
        training_frame=train,
        hidden=[16],
        epochs=1000,
        seed=1,
        classification_stop=0.5,
        train_samples_per_iteration=100,
        threads=1,
    )
    assert m.run_info["stop_reason"] == "early stopping"
    assert m.run_info["epochs"] < 1000


def test_stopping_rounds_uses_moving_average(iris_split):
    train, valid = iris_split
    m = hpcdl.deeplearning(
        y="class",
        training_frame=train,
        validation_frame=valid,
        hidden=[16],
        epochs=2000,
        seed=1,
        stopping_rounds=2,
        stopping_tolerance=0.5,
        classification_stop=-1,
        score_each_iteration=True,
        train_samples_per_iteration=100,
        threads=1,
    )
    assert m.run_info["stop_reason"] == "early stopping"
    # k=2 needs at least 2k scoring events before it may stop
    assert len(m.scoring_events) >= 4


def test_overwrite_with_best_model_keeps_best(iris_split):
    train, valid = iris_split
    m = hpcdl.deeplearning(
        y="class",
        training_frame=train,
        validation_frame=valid,
        hidden=[50, 50],
        epochs=300,
        seed=7,
        score_each_iteration=True,
        train_samples_per_iteration=200,
        stopping_rounds=0,
        classification_stop=-1,
        adaptive_rate=False,
        rate=0.05,
        rate_annealing=0.0,
        threads=1,
    )
    losses = [row["validation_logloss"] for row in m.scoring_events]
    final = m.model_performance(valid)["logloss"]
    # the returned model is the best scored one (up to float noise), never worse than the last event
    assert final <= min(losses[:-1]) + 1e-6


def test_score_training_samples_limits_scoring_rows(tmp_path):
    train, _, _ = _regression_frames(tmp_path)
    m = hpcdl.deeplearning(
        y="y", training_frame=train, hidden=[4], epochs=2, seed=1, score_training_samples=100, threads=1
    )
    assert m.training_metrics["nobs"] == 100


def test_history_rows_have_h2o_columns(prostate):
    m = hpcdl.deeplearning(
        y="CAPSULE", training_frame=prostate, x=["AGE", "PSA", "GLEASON"], hidden=[5], epochs=5, seed=1, threads=1
    )
    row = m.scoring_events[-1]
    for key in (
        "timestamp",
        "duration",
        "training_speed",
        "epochs",
        "iterations",
        "samples",
        "training_rmse",
        "training_logloss",
        "training_auc",
        "training_classification_error",
    ):
        assert key in row
    assert row["epochs"] == pytest.approx(5.0)
    assert row["samples"] == 5 * prostate.nrow
    # the printed model's scoring history shows the metrics METRICS lists for it, in the registry's order
    header = next(
        line for line in str(m).splitlines()[str(m).splitlines().index("Scoring History:") :] if "timestamp" in line
    )
    shown = [c for c in header.split() if c.startswith("training_") and c != "training_speed"]
    assert shown == [
        "training_rmse",
        "training_logloss",
        "training_auc",
        "training_classification_error",
        "training_r2",
    ]


def test_unknown_and_bad_parameters_are_named(iris_split):
    train, _ = iris_split
    with pytest.raises(ParameterError, match="hiden"):
        hpcdl.deeplearning(y="class", training_frame=train, hiden=[10])
    with pytest.raises(ParameterError, match="input_dropout_ratio"):
        hpcdl.deeplearning(y="class", training_frame=train, input_dropout_ratio=1.5)


def test_numpy_and_pandas_inputs(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["label"] = pd.Categorical(np.where(X[:, 0] + X[:, 1] > 0, "yes", "no"))
    m = hpcdl.deeplearning(y="label", training_frame=df, hidden=[8], epochs=30, seed=1, threads=1)
    assert m.training_metrics["classification_error"] < 0.1


def _cli(*args, cwd):
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "hpcdl.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_train_job_file_json_and_predict(tmp_path):
    job = os.path.join(REPO, "jobs", "iris.toml")
    r = _cli(
        "train", job, "--set", "epochs=5", "--set", "hidden=[8]", "--json", "--output-dir", str(tmp_path), cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["run_info"]["epochs"] == pytest.approx(5.0)
    model_path = out["model_path"]
    assert os.path.exists(model_path)
    r = _cli(
        "predict", model_path, os.path.join(DATA, "iris_wheader.csv"), "--out", str(tmp_path / "p.csv"), cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    lines = open(tmp_path / "p.csv").read().splitlines()
    assert lines[0] == "predict,Iris-setosa,Iris-versicolor,Iris-virginica"
    assert len(lines) == 151


def test_cli_train_without_job_file(tmp_path):
    r = _cli(
        "train",
        "--training-frame",
        os.path.join(DATA, "iris_wheader.csv"),
        "--y",
        "class",
        "--set",
        "epochs=3",
        "--set",
        "hidden=[4]",
        "--output-dir",
        str(tmp_path),
        "--name",
        "m",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert os.path.exists(tmp_path / "m.h5")


def test_cli_bad_parameter_exits_nonzero_with_message(tmp_path):
    job = os.path.join(REPO, "jobs", "iris.toml")
    r = _cli("train", job, "--set", 'activation="Sigmoid"', "--output-dir", str(tmp_path), cwd=tmp_path)
    assert r.returncode != 0
    assert "activation" in r.stderr and "Traceback" not in r.stderr
    assert not os.path.exists(tmp_path / "iris.h5")


def test_gathered_rows_train_exactly_as_rows_of_x():
    """train.gather_rows copies an iteration's small rows into one block: the block holds the
    rows asked for, and training on it is bit-identical to training on X with the indices;
    rows too wide to copy are passed through."""
    from hpcdl import kernels
    from hpcdl.train import GATHER_MAX_BYTES, gather_rows

    rng = np.random.default_rng(3)
    X = rng.normal(size=(5000, 14)).astype(np.float32)
    T = rng.integers(0, 2, size=5000).astype(np.float32)
    rows = rng.integers(0, 5000, size=3000)
    Xi, Ti, at = gather_rows(X, T, rows)
    for k in (0, 1, 1234, 2999):
        assert Xi[at[k]].tolist() == X[rows[k]].tolist() and Ti[at[k]] == T[rows[k]]
    hyper = make_hyper(hidden_dropout_ratios=(0.3,))
    nets = []
    for args in ((X, T, rows), (Xi, Ti, at)):
        net = kernels.Net([14, 32, 2], "Rectifier", "softmax", adaptive_rate=True, momentum=False)
        net.initialize(seed=1)
        kernels.train(net, hyper, *args, seed=5, samples_before=7, n_threads=1)
        nets.append(net.buffer)
    assert np.array_equal(nets[0], nets[1])
    wide = np.zeros((10, 784), np.float32)
    assert gather_rows(wide, T[:10], np.arange(10))[0] is wide
    many = np.zeros((GATHER_MAX_BYTES // 40 + 1, 10), np.float32)
    assert gather_rows(many, np.zeros(len(many), np.float32), np.arange(len(many)))[0] is many
