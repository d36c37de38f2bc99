"""Autoencoders: training, the anomaly score's space, per-feature errors, deep features, the
booklet's ECG use case (section 4.2), the ``hpcdl anomaly``/``deepfeatures`` commands and the
job runner's anomaly table. References are plain numpy computations from the raw data."""

from __future__ import annotations

import csv
import dataclasses
import os

import numpy as np
import pytest

import hpcdl
from hpcdl import cli, kernels
from hpcdl.frame import frame_from_numpy

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATASETS = os.path.join(REPO, "hpcdl", "datasets")
ECG_TRAIN = os.path.join(DATASETS, "ecg_discord_train.csv")
ECG_TEST = os.path.join(DATASETS, "ecg_discord_test.csv")
ECG_JOB = os.path.join(REPO, "jobs", "ecg_anomaly.toml")
BOOKLET = {"autoencoder": True, "activation": "Tanh", "hidden": [50, 20, 50], "l1": 1e-4, "epochs": 100}
# Over 40 runs (seeds 0-19, reproducible and 2 HOGWILD! threads) the smallest anomaly error was
# >= 340x the largest normal one; 100x is "clearly apart" with a wide safety margin.
ECG_GAP = 100.0


def _raw(path):
    return np.loadtxt(path, delimiter=",", ndmin=2)


def _normalize(values, train):
    """The autoencoder's NORMALIZE transform from the raw training data: (x - mean) / (max - min)."""
    mean = np.nanmean(train, axis=0)
    rng = np.nanmax(train, axis=0) - np.nanmin(train, axis=0)
    rng = np.where(rng > 0, rng, 1.0)
    return np.nan_to_num((values - mean) / rng, nan=0.0), mean, rng  # scoring: NA -> 0 (the mean)


def _read_csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], np.array(rows[1:], dtype=np.float64)


@pytest.fixture(autouse=True)
def _frames_in_tmp(tmp_path, monkeypatch):
    """CSV files given to the commands are imported here, not into the user's frame cache."""
    monkeypatch.setenv("HPCDL_FRAME_DIR", str(tmp_path / "frames"))


@pytest.fixture(scope="module")
def ecg(tmp_path_factory):
    d = tmp_path_factory.mktemp("ecg")
    train = hpcdl.import_file(ECG_TRAIN, destination=str(d / "train.h5"))
    test = hpcdl.import_file(ECG_TEST, destination=str(d / "test.h5"))
    return train, test


@pytest.fixture(scope="module")
def ecg_model(ecg):
    train, _ = ecg
    return hpcdl.deeplearning(training_frame=train, seed=1234, reproducible=True, **BOOKLET)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Numerics on very different scales (with NAs) and two categoricals (with an NA)."""
    rng = np.random.default_rng(3)
    n = 300
    z = rng.normal(size=(n, 2))
    cols = {
        "small": z[:, 0] * 0.01,
        "big": 1000.0 * z[:, 0] - 500.0 * z[:, 1],
        "mid": z[:, 1] + 0.1 * rng.normal(size=n),
        "c3": (z[:, 0] > 0).astype(np.int32) + (z[:, 1] > 1).astype(np.int32),
        "c2": (z[:, 1] > 0).astype(np.int32),
    }
    cols["big"][[4, 40]] = np.nan
    cols["c3"][7] = -1
    d = tmp_path_factory.mktemp("mixed")
    frame = frame_from_numpy(cols, str(d / "mixed.h5"), domains={"c3": ["a", "b", "c"], "c2": ["no", "yes"]})
    model = hpcdl.deeplearning(
        training_frame=frame,
        autoencoder=True,
        activation="Tanh",
        hidden=[6, 3, 6],
        epochs=20,
        seed=5,
        reproducible=True,
    )
    return frame, cols, model


def _expanded_target(cols, names, train_cols):
    """The expanded, normalized input row for each name of the model's input layout."""
    out = []
    for name in names:
        if "." in name:  # one-hot slot of a categorical: <col>.<level> or <col>.missing(NA)
            col, level = name.split(".", 1)
            domain = {"c3": ["a", "b", "c"], "c2": ["no", "yes"]}[col]
            codes = cols[col]
            if level == "missing(NA)":
                out.append((codes < 0).astype(np.float64))
            else:
                out.append((codes == domain.index(level)).astype(np.float64))
        else:
            xn, _, _ = _normalize(cols[name][:, None], train_cols[name][:, None])
            out.append(xn[:, 0])
    return np.column_stack(out)


# -- the space of the anomaly score --------------------------------------------------------
def test_anomaly_equals_numpy_from_predict_renormalized(mixed):
    frame, cols, model = mixed
    names = model.dinfo.input_names
    assert sorted(names) == sorted(
        ["c3.a", "c3.b", "c3.c", "c3.missing(NA)", "c2.no", "c2.yes", "c2.missing(NA)", "small", "big", "mid"]
    )  # all levels, NA slots
    x = _expanded_target(cols, names, cols)
    pred = model.predict(frame).read()
    recon = []
    for name in names:
        v = np.asarray(pred[f"reconstr_{name}"], dtype=np.float64)
        if "." not in name:  # numerics came back on the original scale: normalize with the training stats
            v, _, _ = _normalize(v[:, None], cols[name][:, None])
            v = v[:, 0]
        recon.append(v)
    recon = np.column_stack(recon)
    expected = ((recon - x) ** 2).mean(axis=1)  # mean over ALL expanded columns
    got = model.anomaly(frame).column("Reconstruction.MSE")
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-9)
    # a hand computation on the original scale is a different number (the big column dominates)
    orig = np.column_stack([np.nan_to_num(cols[c], nan=np.nanmean(cols[c])) for c in ("small", "big", "mid")])
    naive = ((np.column_stack([pred[f"reconstr_{c}"] for c in ("small", "big", "mid")]) - orig) ** 2).mean(axis=1)
    assert np.median(naive / got) > 100
    # training metrics use the same per-row quantity
    assert model.model_performance(frame)["MSE"] == pytest.approx(got.mean(), rel=1e-6)


def test_per_feature_squared_errors(mixed):
    frame, cols, model = mixed
    names = model.dinfo.input_names
    per = model.anomaly(frame, per_feature=True)
    assert per.names == [f"reconstr_{n}.SE" for n in names]
    se = per.as_numpy()
    row = model.anomaly(frame).column("Reconstruction.MSE")
    np.testing.assert_allclose(se.mean(axis=1), row, rtol=1e-12)
    x = _expanded_target(cols, names, cols)
    out = kernels.predict(model.net, model.hyper, x.astype(np.float32))
    np.testing.assert_allclose(se, (out - x) ** 2, rtol=1e-4, atol=1e-9)
    assert np.all(se >= 0)


def test_predict_returns_original_scale(ecg, ecg_model):
    _, test = ecg
    pred = ecg_model.predict(test).read()
    assert list(pred) == [f"reconstr_C{j}" for j in range(1, 211)]
    raw = _raw(ECG_TEST)
    recon = np.column_stack(list(pred.values()))
    spread = _raw(ECG_TRAIN).max(axis=0) - _raw(ECG_TRAIN).min(axis=0)
    # normal heartbeats come back close to their raw values (a few % of each column's range) ...
    assert np.sqrt((((recon[:20] - raw[:20]) / spread) ** 2).mean()) < 0.1
    # ... the appended bad ones do not
    assert np.sqrt((((recon[20:] - raw[20:]) / spread) ** 2).mean()) > 1.0


# -- training ---------------------------------------------------------------------------------
def _low_rank(seed, rank=2, noise=0.05, n=200, p=10):
    rng = np.random.default_rng(seed)
    if rank is None:
        return rng.normal(size=(n, p))
    return rng.normal(size=(n, rank)) @ rng.normal(size=(rank, p)) + noise * rng.normal(size=(n, p))


@pytest.mark.parametrize("hidden", [[2], [8, 2, 8]])
def test_low_rank_data_reconstructed_through_a_bottleneck(tmp_path, hidden):
    X = _low_rank(7)
    frame = frame_from_numpy(X, str(tmp_path / "lr.h5"))
    model = hpcdl.deeplearning(
        training_frame=frame, autoencoder=True, activation="Tanh", hidden=hidden, epochs=50, seed=1, reproducible=True
    )
    xn, _, _ = _normalize(X, X)
    trivial = (xn**2).mean()  # predicting the column mean: 0 in the normalized space
    ratio = model.anomaly(frame).column("Reconstruction.MSE").mean() / trivial
    assert ratio < 0.05  # measured ~0.01; the issue asks for < 0.2
    # the best rank-2 linear reconstruction (PCA) bounds what a 2-unit bottleneck can reach
    u, s, vt = np.linalg.svd(xn, full_matrices=False)
    pca = ((xn - (u[:, :2] * s[:2]) @ vt[:2]) ** 2).mean() / trivial
    assert ratio > 0.5 * pca


def test_bottleneck_cannot_reconstruct_full_rank_noise(tmp_path):
    """Control for the test above: the small error comes from the data's low rank."""
    X = _low_rank(7, rank=None)
    frame = frame_from_numpy(X, str(tmp_path / "noise.h5"))
    model = hpcdl.deeplearning(
        training_frame=frame, autoencoder=True, activation="Tanh", hidden=[2], epochs=50, seed=1, reproducible=True
    )
    xn, _, _ = _normalize(X, X)
    assert model.anomaly(frame).column("Reconstruction.MSE").mean() / (xn**2).mean() > 0.5


def test_y_is_ignored_x_names_the_inputs(ecg):
    """The booklet calls h2o.deeplearning(x=1:210, y=1, autoencoder=T): y is ignored and every x
    column, C1 included, is an input and an output. Without x, y stays out like in h2o's R client."""
    train, _ = ecg
    names = [f"C{j}" for j in range(1, 211)]
    model = hpcdl.deeplearning(
        x=names, y="C1", training_frame=train, seed=1, reproducible=True, **{**BOOKLET, "epochs": 1}
    )
    assert model.kind == "autoencoder" and model.dinfo.response is None
    assert model.dinfo.input_names == names
    assert model.net.units[0] == model.net.units[-1] == 210
    assert model.effective["loss"] == "Quadratic"
    default_x = hpcdl.deeplearning(y="C1", training_frame=train, seed=1, reproducible=True, **{**BOOKLET, "epochs": 1})
    assert default_x.dinfo.input_names == names[1:]


def test_sparsity_pulls_mean_hidden_activation_to_target(tmp_path):
    frame = frame_from_numpy(_low_rank(7), str(tmp_path / "lr.h5"))
    gaps = {}
    for beta in (0.0, 2.0):
        model = hpcdl.deeplearning(
            training_frame=frame,
            autoencoder=True,
            activation="Tanh",
            hidden=[20],
            epochs=50,
            seed=1,
            reproducible=True,
            sparsity_beta=beta,
            average_activation=-0.5,
        )
        acts = model.deepfeatures(frame, 0).as_numpy()
        gaps[beta] = np.abs(acts.mean(axis=0) + 0.5).mean()
    assert gaps[0.0] > 0.3  # unconstrained Tanh units sit near 0
    assert gaps[2.0] < 0.05  # measured ~0.006


def test_one_sgd_step_follows_the_numerical_gradient_of_the_reconstruction_loss(mixed):
    """End to end: DataInfo's normalized row is the target, and one plain-SGD step moves every
    layer's weights by -rate x the finite-difference gradient of the row's squared error."""
    frame, _, model = mixed
    X, _, _ = model.dinfo.transform(frame, 0, 8)
    hyper = dataclasses.replace(
        model.hyper,
        adaptive_rate=False,
        rate=1e-3,
        rate_annealing=0.0,
        rate_decay=1.0,
        l1=0.0,
        l2=0.0,
        momentum_start=0.0,
        momentum_stable=0.0,
        fast_mode=False,
    )
    row = X[3:4]

    def loss(net):
        return float(kernels.row_loss(net, hyper, row, None)[0])

    # the loss the kernels train on is the squared error against the transformed input row
    out = kernels.predict(model.net, hyper, row)
    assert loss(model.net) == pytest.approx(float(((out - row) ** 2).sum()), rel=1e-5)
    after = model.net.copy()
    kernels.train(after, hyper, row, None, np.array([0]), seed=1, samples_before=0, n_threads=1)
    for layer in range(len(model.net.units) - 1):
        w = model.net.weights(layer)
        step = (after.weights(layer).astype(np.float64) - w) / -hyper.rate  # the gradient SGD used
        for i, j in zip(*np.unravel_index(np.argsort(-np.abs(step), axis=None)[:3], step.shape)):
            probe = model.net.copy()
            eps = 1e-2
            probe.weights(layer)[i, j] = w[i, j] + eps
            up = loss(probe)
            probe.weights(layer)[i, j] = w[i, j] - eps
            down = loss(probe)
            assert step[i, j] == pytest.approx((up - down) / (2 * eps), rel=0.03, abs=1e-4), (layer, i, j)


# -- deep features ------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["Tanh", "TanhWithDropout"])
def test_deepfeatures_shape_values_and_reproducibility(mixed, activation):
    frame, cols, _ = mixed
    kw = {
        "training_frame": frame,
        "autoencoder": True,
        "activation": activation,
        "hidden": [6, 3, 6],
        "epochs": 3,
        "seed": 11,
        "reproducible": True,
    }
    if activation == "TanhWithDropout":
        kw["hidden_dropout_ratios"] = [0.2, 0.1, 0.3]
    a = hpcdl.deeplearning(**kw)
    b = hpcdl.deeplearning(**kw)
    np.testing.assert_array_equal(a.net.buffer, b.net.buffer)
    keep = [0.8, 0.9, 0.7] if activation == "TanhWithDropout" else [1.0, 1.0, 1.0]
    h = _expanded_target(cols, a.dinfo.input_names, cols)
    for layer, width in enumerate([6, 3, 6]):
        fa = a.deepfeatures(frame, layer)
        assert fa.names == [f"DF.L{layer + 1}.C{j + 1}" for j in range(width)]
        arr = fa.as_numpy()
        assert arr.shape == (frame.nrow, width)
        np.testing.assert_array_equal(arr, b.deepfeatures(frame, layer).as_numpy())
        # independent forward pass: inference scales a dropout layer by (1 - ratio)
        h = np.tanh(h @ a.net.weights(layer).T.astype(np.float64) + a.net.biases(layer)) * keep[layer]
        np.testing.assert_allclose(arr, h, atol=2e-5)
    with pytest.raises(ValueError, match="layer"):
        a.deepfeatures(frame, 3)


def test_anomaly_needs_an_autoencoder(tmp_path):
    rng = np.random.default_rng(0)
    frame = frame_from_numpy({"a": rng.normal(size=50), "y": rng.normal(size=50)}, str(tmp_path / "r.h5"))
    model = hpcdl.deeplearning(y="y", training_frame=frame, hidden=[3], epochs=1, seed=1, reproducible=True)
    with pytest.raises(ValueError, match="autoencoder"):
        model.anomaly(frame)
    assert model.deepfeatures(frame, 0).as_numpy().shape == (50, 3)  # works supervised too


# -- the booklet's ECG use case ----------------------------------------------------------------------
def test_ecg_files_have_no_header_and_get_h2o_names(ecg):
    train, test = ecg
    assert (train.nrow, test.nrow) == (20, 23)  # the first heartbeat is data, not a header
    assert train.names == [f"C{j}" for j in range(1, 211)] == test.names
    np.testing.assert_allclose(train.as_numpy(), _raw(ECG_TRAIN))


def _assert_three_appended_rows_stand_out(errors):
    errors = np.asarray(errors)
    assert errors.shape == (23,)
    assert set(np.argsort(-errors)[:3]) == {20, 21, 22}
    assert errors[20:].min() > ECG_GAP * errors[:20].max()


def test_ecg_bad_heartbeats_have_the_largest_errors(ecg, ecg_model):
    _, test = ecg
    _assert_three_appended_rows_stand_out(hpcdl.anomaly(ecg_model, test).column("Reconstruction.MSE"))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ecg_result_holds_across_seeds_with_hogwild_threads(ecg, seed):
    train, test = ecg
    model = hpcdl.deeplearning(training_frame=train, seed=seed, threads=2, **BOOKLET)
    _assert_three_appended_rows_stand_out(model.anomaly(test).column("Reconstruction.MSE"))


# -- command line and job runner -------------------------------------------------------------------
@pytest.fixture(scope="module")
def ecg_model_file(ecg_model, tmp_path_factory):
    return ecg_model.save(str(tmp_path_factory.mktemp("models") / "ecg.h5"))


def test_cli_anomaly_csv_threshold_and_listing(ecg_model_file, ecg_model, ecg, tmp_path, capsys):
    out = tmp_path / "errors.csv"
    assert cli.main(["anomaly", ecg_model_file, ECG_TEST, "--out", str(out), "--threshold", "0.5"]) == 0
    header, values = _read_csv(out)
    assert header == ["Reconstruction.MSE"]
    np.testing.assert_allclose(values[:, 0], ecg_model.anomaly(ecg[1]).column("Reconstruction.MSE"), rtol=1e-12)
    text = capsys.readouterr().out
    assert "3 of 23 row(s) above threshold 0.5" in text
    table = text[text.index(" rank ") :].splitlines()[1:]
    listed = [int(line.split()[1]) for line in table if line.strip()]
    assert sorted(listed) == [21, 22, 23]  # 1-based rows of the three appended heartbeats

    assert cli.main(["anomaly", ecg_model_file, ECG_TEST, "--out", str(out), "--quantile", "0.5"]) == 1
    assert "file exists; use --force" in capsys.readouterr().err  # a re-run never replaces a result silently
    assert cli.main(["anomaly", ecg_model_file, ECG_TEST, "--out", str(out), "--quantile", "0.5", "--force"]) == 0
    assert "11 of 23 row(s) above threshold" in capsys.readouterr().out  # strictly above the median row


def test_cli_anomaly_per_feature(ecg_model_file, ecg_model, ecg, tmp_path, capsys):
    out = tmp_path / "se.csv"
    assert cli.main(["anomaly", ecg_model_file, ECG_TEST, "--out", str(out), "--per-feature", "--top", "3"]) == 0
    header, values = _read_csv(out)
    assert header == [f"reconstr_C{j}.SE" for j in range(1, 211)]
    np.testing.assert_allclose(values.mean(axis=1), ecg_model.anomaly(ecg[1]).column("Reconstruction.MSE"), rtol=1e-10)
    text = capsys.readouterr().out
    assert "largest reconstruction errors (3 of 23 rows)" in text


def test_cli_anomaly_plot(ecg_model_file, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "errors.png"
    assert (
        cli.main(
            [
                "anomaly",
                ecg_model_file,
                ECG_TEST,
                "--out",
                str(tmp_path / "e.csv"),
                "--plot",
                str(png),
                "--quantile",
                "0.85",
            ]
        )
        == 0
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary leftovers


def test_cli_anomaly_bad_input_writes_nothing(ecg_model_file, ecg, tmp_path, capsys, monkeypatch):
    out = tmp_path / "e.csv"
    assert cli.main(["anomaly", ecg_model_file, ECG_TEST, "--out", str(out), "--plot", str(tmp_path / "e.gif")]) == 1
    assert "e.gif" in capsys.readouterr().err and not out.exists()
    assert cli.main(["anomaly", ecg_model_file, ECG_TEST, "--out", str(out), "--quantile", "1.5"]) == 1
    assert "--quantile" in capsys.readouterr().err and not out.exists()
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # as if not installed
    assert cli.main(["anomaly", ecg_model_file, ECG_TEST, "--out", str(out), "--plot", str(tmp_path / "e.png")]) == 1
    assert "hpcdl[plot]" in capsys.readouterr().err and not out.exists()
    monkeypatch.undo()
    # a supervised model has no reconstruction error
    rng = np.random.default_rng(0)
    frame = frame_from_numpy({"a": rng.normal(size=30), "y": rng.normal(size=30)}, str(tmp_path / "r.h5"))
    sup = hpcdl.deeplearning(y="y", training_frame=frame, hidden=[2], epochs=1, seed=1, reproducible=True)
    sup_file = sup.save(str(tmp_path / "sup.h5"))
    assert cli.main(["anomaly", sup_file, frame.path, "--out", str(out)]) == 1
    assert "autoencoder" in capsys.readouterr().err and not out.exists()
    assert cli.main(["anomaly", str(tmp_path / "missing.h5"), ECG_TEST, "--out", str(out)]) == 1
    assert not out.exists()


def test_cli_deepfeatures(ecg_model_file, ecg_model, ecg, tmp_path, capsys):
    out = tmp_path / "df.csv"
    assert cli.main(["deepfeatures", ecg_model_file, ECG_TEST, "--layer", "1", "--out", str(out)]) == 0
    header, values = _read_csv(out)
    assert header == [f"DF.L2.C{j}" for j in range(1, 21)]
    expected = ecg_model.deepfeatures(ecg[1], 1).as_numpy()
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    assert cli.main(["deepfeatures", ecg_model_file, ECG_TEST, "--layer", "3", "--out", str(tmp_path / "x.csv")]) == 1
    assert "layer" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()


def test_ecg_job_prints_and_writes_the_anomaly_table(ecg, tmp_path, capsys):
    assert cli.main(["train", ECG_JOB, "--output-dir", str(tmp_path), "--quiet", "--set", "reproducible=true"]) == 0
    header, values = _read_csv(tmp_path / "ecg_anomaly_anomaly.csv")
    assert header == ["Reconstruction.MSE"]
    _assert_three_appended_rows_stand_out(values[:, 0])
    text = capsys.readouterr().out
    table = text[text.index("Reconstruction error per row of the test frame") :]
    table = table[table.index(" rank ") :].splitlines()[1:24]
    ranks = [line.split() for line in table]
    assert [int(r[0]) for r in ranks] == list(range(1, 24))
    assert sorted(int(r[1]) for r in ranks[:3]) == [21, 22, 23]
    errors = [float(r[2]) for r in ranks]
    assert errors == sorted(errors, reverse=True)
    model = hpcdl.load_model(str(tmp_path / "ecg_anomaly.h5"))
    np.testing.assert_allclose(values[:, 0], model.anomaly(ecg[1]).column("Reconstruction.MSE"), rtol=1e-12)
