"""Observation weights and offsets (weights_column, offset_column): H2O-3's semantics, one path.

References: scikit-learn's metrics with sample_weight, NumPy, and H2O-3 3.46 itself
(tests/data/h2o_weights: its predictions, weights and reported figures; measure_h2o.py made them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import hpcdl
from hpcdl import metrics
from hpcdl.estimators import H2ODeepLearningEstimator
from hpcdl.export import export_onnx
from hpcdl.model import as_frame
from hpcdl.params import ParameterError
from hpcdl.rows import weighted_pass
from hpcdl.sklearn import DeepLearningRegressor

DATA = Path(__file__).parent / "data" / "h2o_weights" / "h2o_3_46.json"
PROSTATE = Path(hpcdl.__file__).parent / "datasets" / "prostate.csv"
X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "GLEASON"]
FAST = {"hidden": [6], "epochs": 2, "seed": 3, "reproducible": True}


@pytest.fixture(scope="module")
def prostate() -> pd.DataFrame:
    df = pd.read_csv(PROSTATE)
    k = np.arange(len(df))
    df["w"] = (k % 4) / 2.0  # 0, 0.5, 1, 1.5: zeros and unequal weights
    df["one"] = 1.0
    df["o"] = np.round(np.sin(k), 3)
    return df


def _preds(m, df) -> dict:
    """The model's predictions of df's rows in float64 (a prediction frame stores float32)."""
    frame = as_frame(df)
    return m.predict_arrays(m.dinfo.transform(frame)[0], m.dinfo.special_rows(frame)[1])


def _fit(df, **kw):
    return hpcdl.deeplearning(x=kw.pop("x", X), training_frame=df, **{**FAST, **kw})


@pytest.mark.parametrize("mini_batch_size", [1, 4])
def test_unit_weights_train_bit_identical_to_no_weights(prostate, mini_batch_size):
    plain = _fit(prostate.drop(columns=["w", "one", "o"]), y="VOL", mini_batch_size=mini_batch_size)
    unit = _fit(prostate, y="VOL", weights_column="one", mini_batch_size=mini_batch_size)
    assert np.array_equal(plain.net.buffer, unit.net.buffer)
    np.testing.assert_equal(plain.training_metrics, unit.training_metrics)  # NaN == NaN here
    assert "one" not in unit.dinfo.predictors


def test_zero_weight_rows_count_for_nothing(prostate):
    """Rows of weight 0 change nothing: two frames that differ only in such rows train the same model
    (standardization, rows visited, N) and score the same metrics."""
    junk = prostate[prostate["w"] == 0].copy()
    other = prostate.copy()
    other.loc[junk.index, X + ["VOL"]] = junk[X + ["VOL"]].to_numpy()[::-1] * 3 + 7  # different junk
    a = _fit(prostate, y="VOL", weights_column="w")
    b = _fit(other, y="VOL", weights_column="w")
    assert np.array_equal(a.net.buffer, b.net.buffer)
    assert a.run.n_training_rows == int((prostate["w"] > 0).sum())
    pa, pb = a.model_performance(prostate), a.model_performance(other)
    assert pa.nobs() == pb.nobs() == int((prostate["w"] > 0).sum())
    assert pa.mse() == pytest.approx(pb.mse(), rel=1e-12) and pa.r2() == pytest.approx(pb.r2(), rel=1e-12)


def test_weighted_regression_metrics_match_scikit_learn(prostate):
    m = _fit(prostate, y="VOL", weights_column="w")
    perf = m.model_performance(prostate)
    y, w = prostate["VOL"].to_numpy(), prostate["w"].to_numpy()
    f = _preds(m, prostate)["predict"]
    # rel 1e-6: a scored frame's actual passes through the float32 standardized response
    assert perf.mse() == pytest.approx(skm.mean_squared_error(y, f, sample_weight=w), rel=1e-6)
    assert perf.rmse() == pytest.approx(np.sqrt(skm.mean_squared_error(y, f, sample_weight=w)), rel=1e-6)
    assert perf.mae() == pytest.approx(skm.mean_absolute_error(y, f, sample_weight=w), rel=1e-6)
    assert perf.r2() == pytest.approx(skm.r2_score(y, f, sample_weight=w), rel=1e-6)
    assert perf.mean_residual_deviance() == pytest.approx(perf.mse(), rel=1e-12)  # gaussian
    rmsle = np.sqrt(np.sum(w * (np.log1p(f) - np.log1p(y)) ** 2) / np.sum(w)) if (f > -1).all() else np.nan
    assert perf.rmsle() == pytest.approx(rmsle, rel=1e-6, nan_ok=True)
    unweighted = skm.mean_squared_error(y, f)
    assert abs(perf.mse() - unweighted) > 1e-3 * unweighted  # the weights matter here
    assert perf.nobs() == int((w > 0).sum())


def test_weighted_binomial_and_multinomial_metrics_match_scikit_learn(prostate):
    df = prostate.assign(CAPSULE=prostate["CAPSULE"].astype(str))
    m = _fit(df, y="CAPSULE", weights_column="w")
    perf = m.model_performance(df)
    y, w = prostate["CAPSULE"].to_numpy(), prostate["w"].to_numpy()
    p1 = _preds(m, df)["p1"]
    assert perf.auc() == pytest.approx(skm.roc_auc_score(y, p1, sample_weight=w), rel=1e-12)
    # rel 1e-6: the net's p0 and p1 are float32 that sum to 1 within rounding; scikit-learn takes p0 = 1 - p1
    assert perf.logloss() == pytest.approx(skm.log_loss(y, p1, sample_weight=w), rel=1e-6)
    assert perf.mse() == pytest.approx(np.sum(w * (y - p1) ** 2) / np.sum(w), rel=1e-6)
    labels = (p1 >= perf.find_threshold_by_max_metric("f1")).astype(int)
    mpce = 1 - skm.balanced_accuracy_score(y, labels, sample_weight=w)  # the binomial CM is weighted
    assert m.score_frame(df)["mean_per_class_error"] == pytest.approx(mpce, rel=1e-12)
    tp = float(np.sum(w * ((labels == 1) & (y == 1))))
    assert perf.confusion_matrix().to_list()[1][1] == pytest.approx(tp)
    # multinomial: the logloss weighted; the confusion matrix counts rows of nonzero weight (H2O-3)
    mm = _fit(df, y="DPROS", x=["AGE", "PSA", "VOL", "GLEASON"], weights_column="w", classification=True)
    pm = mm.model_performance(df)
    pred = _preds(mm, df)
    probs = np.column_stack([pred[c] for c in pred if c != "predict"])
    codes = prostate["DPROS"].to_numpy() - 1
    assert pm.logloss() == pytest.approx(skm.log_loss(codes, probs, sample_weight=w, labels=range(4)), rel=1e-6)
    kept = w > 0
    unweighted = 1 - skm.balanced_accuracy_score(codes[kept], np.argmax(probs, axis=1)[kept])
    assert pm.mean_per_class_error() == pytest.approx(unweighted, rel=1e-12)


def test_metrics_reproduce_h2o3_weighted_figures():
    """Our metric functions on H2O-3 3.46's own predictions and weights give H2O-3's figures."""
    h = json.loads(DATA.read_text())
    p = h["prostate"]
    y = pd.read_csv(PROSTATE)["CAPSULE"].to_numpy()
    b = metrics.binomial_metrics(y, np.array(p["p1"]), ["0", "1"], weights=np.array(p["w"]))
    for ours, theirs in (("AUC", "AUC"), ("pr_auc", "AUCPR"), ("logloss", "logloss"), ("MSE", "MSE"), ("r2", "r2")):
        assert b[ours] == pytest.approx(p[theirs], rel=1e-9), ours
    assert b["nobs"] == p["nobs"] == 309
    r = h["boston_w_o"]
    g = metrics.regression_metrics(np.array(r["medv"]), np.array(r["pred"]), weights=np.array(r["w"]))
    for key, theirs in (("MSE", "MSE"), ("MAE", "MAE"), ("mean_residual_deviance", "deviance"), ("r2", "r2")):
        assert g[key] == pytest.approx(r[theirs], rel=1e-9), key
    assert g["nobs"] == r["nobs"]


def test_offsets_shift_the_output_before_the_link(prostate):
    """Training on y + o with offset o is training on y (integer data: exact in float32), and the
    prediction is the net's output plus the row's offset."""
    df = prostate.assign(oi=(np.arange(len(prostate)) % 7) - 3.0)
    df["VOLo"] = df["VOL"].round() + df["oi"]
    df["VOLr"] = df["VOL"].round()
    kw = {"y": "VOLo", "offset_column": "oi", "standardize": False}
    with_offset = _fit(df, **kw)
    plain = _fit(df.drop(columns=["VOLo", "oi"]), y="VOLr", standardize=False)
    assert np.array_equal(with_offset.net.buffer, plain.net.buffer)
    shifted = with_offset.predict(df).as_data_frame()["predict"].to_numpy()
    base = plain.predict(df).as_data_frame()["predict"].to_numpy()
    np.testing.assert_allclose(shifted, base + df["oi"].to_numpy(), rtol=0, atol=1e-9)
    # negative offsets count too (H2O-3 3.46 adds only offsets > 0: measured, docs/differences.md)
    h = json.loads(DATA.read_text())["offset_preds_first5"]
    assert h["0.0"] == h["-5.0"] != h["5.0"]
    with pytest.raises(ValueError, match="offset column 'oi' .* is missing"):
        with_offset.predict(df.drop(columns=["oi"]))
    with pytest.raises(ValueError, match="offset column 'oi' .* is missing"):
        with_offset.model_performance(df.drop(columns=["oi"]))


def test_refusals_name_the_column(prostate):
    df = prostate.assign(neg=prostate["w"] - 1, na=prostate["w"].where(prostate.index != 5), zero=0.0)
    for col, match in (
        ("neg", "weights_column='neg' has negative weights"),
        ("na", "weights_column='na' has missing values"),
        ("zero", "weights_column='zero': every weight is 0"),
        ("nope", "weights_column='nope' not found"),
        ("VOL", "weights_column='VOL' is the response"),
    ):
        with pytest.raises(ParameterError, match=match):
            _fit(df, y="VOL", weights_column=col)
    with pytest.raises(ParameterError, match="offset_column='o' is also the weights_column"):
        hpcdl.deeplearning(y="VOL", training_frame=df, weights_column="o", offset_column="o")
    message = "offset_column='o': offsets apply to regression only"
    with pytest.raises(ParameterError, match=message):
        _fit(df, y="CAPSULE", classification=True, offset_column="o")


def test_weights_through_estimator_and_sklearn(prostate):
    """The same weighted model from the Python API and the estimator's train(); sklearn's sample_weight."""
    api = _fit(prostate, y="VOL", weights_column="w")
    est = H2ODeepLearningEstimator(**FAST)
    est.train(x=X + ["w"], y="VOL", training_frame=prostate, weights_column="w")  # in x: still no predictor
    assert np.array_equal(api.net.buffer, est.hpcdl_model.net.buffer)
    # scikit-learn: sample_weight is the weights column; score() weighs with it
    reg = DeepLearningRegressor(hidden=(6,), epochs=2, seed=3, reproducible=True)
    Xa, ya, w = prostate[X].to_numpy(), prostate["VOL"].to_numpy(), prostate["w"].to_numpy()
    reg.fit(Xa, ya, sample_weight=w)
    assert reg.model_.dinfo.weights_column == "sample_weight" and reg.model_.run.n_training_rows == (w > 0).sum()
    assert reg.score(Xa, ya, sample_weight=w) == pytest.approx(skm.r2_score(ya, reg.predict(Xa), sample_weight=w))


def test_offset_model_saved_loaded_and_continued(prostate, tmp_path):
    m = _fit(prostate, y="VOL", offset_column="o", weights_column="w")
    path = m.save(str(tmp_path / "m.h5"))
    back = hpcdl.load_model(path)
    np.testing.assert_array_equal(
        m.predict(prostate).as_data_frame()["predict"], back.predict(prostate).as_data_frame()["predict"]
    )
    more = hpcdl.deeplearning(
        x=X,
        y="VOL",
        training_frame=prostate,
        checkpoint=path,
        offset_column="o",
        weights_column="w",
        **FAST | {"epochs": 4},
    )
    assert more.epochs_trained == pytest.approx(4.0) and more.dinfo.offset_column == "o"
    with pytest.raises(ValueError, match="offset_column"):
        hpcdl.deeplearning(x=X, y="VOL", training_frame=prostate, checkpoint=path, **FAST | {"epochs": 4})
    with pytest.raises(ValueError, match="offset_column"):
        export_onnx(m, str(tmp_path / "m.onnx"))


def test_weighted_visiting_is_h2o3s_importance_sampling():
    """Every second row drawn from the weights, the others uniformly: row i is trained with
    probability proportional to w_i / sum(w) + 1 / n (hex/FrameTask.java)."""
    rng = np.random.default_rng(0)
    w = np.array([1.0, 1.0, 2.0, 6.0])
    counts = np.zeros(4)
    total = 0
    for _ in range(400):
        part = weighted_pass(rng, w, 1.0, float(w.mean()))
        counts += np.bincount(part, minlength=4)
        total += part.size
    expected = 0.5 * w / w.sum() + 0.5 / w.size
    np.testing.assert_allclose(counts / total, expected, atol=0.02)
    assert total == pytest.approx(400 * 4, rel=0.05)  # as many rows as without weights
