"""H2O-3's model surface on hpcdl models (issue 16 item 1), checked against independent computations:
metrics objects against brute force over thresholds, the metric shortcuts' train/valid/xval rule,
prediction column names, exported weights against a NumPy forward pass, the model registry,
save_model, and refused builds as EnvironmentError."""

import csv
import gc
import json
import math
import os

import numpy as np
import pytest

import hpcdl
from hpcdl import cli, store
from hpcdl.estimators import H2OAutoEncoderEstimator, H2ODeepLearningEstimator, H2OGridSearch
from hpcdl.frame import frame_from_numpy
from hpcdl.metrics import (
    ConfusionMatrix,
    ModelMetricsBinomial,
    ModelMetricsMultinomial,
    TwoDimTable,
    binomial_metrics,
    multinomial_metrics,
)
from hpcdl.model import get_model, probability_names
from hpcdl.params import ParameterError

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")
FAST = {"hidden": [5], "epochs": 3, "seed": 7, "reproducible": True}
QUICK = {k: v for k, v in FAST.items() if k != "hidden"}  # for grids over hidden


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    return hpcdl.import_file(
        os.path.join(DATA, "iris_wheader.csv"), destination=str(tmp_path_factory.mktemp("i") / "i.h5")
    )


@pytest.fixture(scope="module")
def prostate(tmp_path_factory):
    d = tmp_path_factory.mktemp("p")
    return hpcdl.import_file(
        os.path.join(DATA, "prostate.csv"), destination=str(d / "p.h5"), col_types={"CAPSULE": "enum"}
    )


@pytest.fixture(scope="module")
def binomial(prostate):
    return hpcdl.deeplearning(
        x=["AGE", "PSA", "GLEASON", "DPROS"], y="CAPSULE", training_frame=prostate, validation_frame=prostate, **FAST
    )


# -- prediction column names ---------------------------------------------------------------------
def test_probability_columns_follow_h2o3_integer_label_rule():
    """H2O-3 prefixes "p" when Java's Integer.valueOf accepts the label (sign, digits, 32 bits)."""
    labels = ["0", "1", "-1", "+2", "007", "2147483647", "-2147483648"]
    assert probability_names(labels) == ["p0", "p1", "p-1", "p+2", "p007", "p2147483647", "p-2147483648"]
    kept = ["2147483648", "1.0", "1e3", "a1", " 1", "", "-", "+", "YES", "Iris-setosa"]
    assert probability_names(kept) == kept


def test_predictions_of_integer_classes_are_named_p0_p1(binomial, prostate):
    pred = binomial.predict(prostate)
    assert pred.names == ["predict", "p0", "p1"] and pred.domains["predict"] == ["0", "1"]


# -- metrics objects against brute force -----------------------------------------------------------
def _brute_threshold_scan(y, p1):
    """(threshold, accuracy, mean per-class accuracy, F1) at every distinct score, predicting 1 when p1 >= t."""
    out = []
    for t in sorted(set(p1), reverse=True):
        pred = (p1 >= t).astype(int)
        tp = int(((pred == 1) & (y == 1)).sum())
        fp = int(((pred == 1) & (y == 0)).sum())
        fn = int(((pred == 0) & (y == 1)).sum())
        tn = int(((pred == 0) & (y == 0)).sum())
        acc = (tp + tn) / len(y)
        mpca = (tp / (tp + fn) + tn / (tn + fp)) / 2
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        out.append((t, acc, mpca, f1))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_binomial_threshold_metrics_against_a_scan(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    p1 = np.round(np.clip(rng.random(300) * 0.7 + 0.3 * y, 0, 1), 2)  # ties
    perf = ModelMetricsBinomial(binomial_metrics(y, p1, ["no", "yes"]))
    scan = _brute_threshold_scan(y, p1)

    def best(k):  # the highest threshold among the maxima, as for max F1
        top = max(r[k] for r in scan)
        return next(r for r in scan if r[k] == top)

    t, acc, _, _ = best(1)
    assert perf.error() == [[t, pytest.approx(1 - acc)]] and perf.error().value == pytest.approx(1 - acc)
    assert perf.accuracy().value == pytest.approx(acc)
    t, _, mpca, _ = best(2)
    assert perf.mean_per_class_error()[0] == [t, pytest.approx(1 - mpca)]
    t, _, _, f1 = best(3)
    assert perf.F1() == [[t, pytest.approx(f1)]] and perf.find_threshold_by_max_metric("f1") == t
    assert perf["max_f1_threshold"] == t  # the confusion matrix's threshold
    cm = perf.confusion_matrix()
    assert isinstance(cm, ConfusionMatrix) and cm.threshold == t
    want = [[int(((y == a) & ((p1 >= t).astype(int) == b)).sum()) for b in (0, 1)] for a in (0, 1)]
    assert cm.to_list() == want
    assert perf.gini() == pytest.approx(2 * perf.auc() - 1)
    assert perf.aucpr() == perf["pr_auc"] and perf.nobs() == 300


def test_metrics_objects_refuse_what_their_kind_lacks_and_thresholds():
    y = np.array([0, 1, 1, 0, 1])
    perf = ModelMetricsBinomial(binomial_metrics(y, np.array([0.2, 0.7, 0.6, 0.4, 0.9]), ["a", "b"]))
    with pytest.raises(ValueError, match=r"mae\(\) is not defined for binomial metrics \(only for regression\)"):
        perf.mae()
    with pytest.raises(ValueError, match="need the scored rows"):  # stored metrics keep only the maxima
        perf.F1(thresholds=[0.5])
    with pytest.raises(ValueError, match="need the scored rows"):
        perf.confusion_matrix(metrics="accuracy")
    perf.scored = (y, np.array([0.2, 0.7, 0.6, 0.4, 0.9]))  # as model_performance(frame) leaves it
    assert perf.F1(thresholds=[0.5]) == [[0.5, 1.0]]
    assert perf.confusion_matrix(thresholds=0.65).to_list() == [[2, 0], [1, 2]]
    old = {k: v for k, v in perf.items() if k != "max_criteria"}  # metrics saved before max_criteria existed
    with pytest.raises(ValueError, match="older hpcdl"):
        ModelMetricsBinomial(old).error()


def test_multinomial_metrics_object_tables():
    rng = np.random.default_rng(3)
    P = rng.dirichlet(np.ones(3), size=60)
    y = rng.integers(0, 3, 60)
    m = multinomial_metrics(y, P, ["a", "b", "c"])
    perf = ModelMetricsMultinomial(m)
    pred = P.argmax(axis=1)
    cm = perf.confusion_matrix()
    assert cm.to_list() == [[int(((y == i) & (pred == j)).sum()) for j in range(3)] for i in range(3)]
    df = cm.as_data_frame()
    assert list(df.columns) == ["", "a", "b", "c", "Error", "Rate"] and df.iloc[-1, 0] == "Totals"
    assert df["Error"].iloc[-1] == pytest.approx(np.mean(pred != y))
    hits = perf.hit_ratio_table()
    assert isinstance(hits, TwoDimTable) and hits["k"] == [1, 2, 3]
    assert hits["hit_ratio"][0] == pytest.approx(np.mean(pred == y)) and hits["hit_ratio"][2] == 1.0
    assert perf.mean_per_class_error() == m["mean_per_class_error"]
    assert perf["logloss"] == perf.logloss() and dict(perf) == m
    assert "Top-3 Hit Ratios" in str(perf) and "** Reported on test data. **" in str(perf)


def test_confusion_matrix_is_one_type_fresh_and_loaded(binomial, tmp_path):
    fresh = binomial.training_metrics["confusion_matrix"]
    back = hpcdl.load_model(binomial.save(str(tmp_path / "m.h5")))
    loaded = back.training_metrics["confusion_matrix"]
    assert type(fresh) is type(loaded) is list and fresh == loaded
    assert all(type(v) is int for row in fresh for v in row)
    assert binomial.confusion_matrix().to_list() == back.confusion_matrix().to_list() == fresh


# -- the model's accessors -----------------------------------------------------------------------------
def test_model_performance_on_a_frame_is_the_metrics_of_its_predictions(binomial, prostate):
    perf = binomial.model_performance(test_data=prostate)
    pred = binomial.predict(prostate).as_data_frame()
    y = prostate.column("CAPSULE")
    p_true = np.where(y == 1, pred["p1"], pred["p0"])
    assert perf.logloss() == pytest.approx(float(np.mean(-np.log(np.maximum(p_true, 1e-15)))), rel=1e-6)
    assert perf.mse() == pytest.approx(float(np.mean((1 - p_true) ** 2)), rel=1e-6)
    assert perf.on == "test" and binomial.model_performance().on == "train"
    with pytest.raises(ValueError, match="no response column 'CAPSULE'"):
        binomial.model_performance(frame_from_numpy({"AGE": np.ones(3)}, str(prostate.path) + ".noy.h5"))


def test_metric_shortcuts_follow_h2o3_train_valid_xval_rule(binomial, iris):
    tm, vm = binomial.training_metrics, binomial.validation_metrics
    assert binomial.auc() == binomial.auc(train=True) == tm["AUC"]
    assert binomial.auc(valid=True) == vm["AUC"] and binomial.logloss(valid=True) == vm["logloss"]
    assert binomial.rmse(train=True, valid=True) == {"train": tm["RMSE"], "valid": vm["RMSE"]}
    assert binomial.auc(xval=True) is None  # no folds: H2O-3 answers None
    assert binomial.model_performance(xval=True) is None
    assert binomial.model_performance(train=True, valid=True).on == "train"  # train is checked first
    cv = hpcdl.deeplearning(y="class", training_frame=iris, nfolds=2, **FAST)
    assert cv.logloss(xval=True) == cv.cross_validation_metrics["logloss"]
    assert cv.mean_per_class_error(xval=True) == cv.cross_validation_metrics["mean_per_class_error"]
    assert cv.hit_ratio_table(xval=True)["hit_ratio"] == cv.cross_validation_metrics["hit_ratios"]
    with pytest.raises(ValueError, match=r"error\(\) is not defined for multinomial models"):
        cv.error()
    with pytest.raises(ValueError, match=r"auc\(\): multinomial AUC was not computed .*auc_type"):
        cv.auc()


def test_cross_validation_accessors_are_h2o3_methods(iris, binomial, tmp_path):
    cv = hpcdl.deeplearning(y="class", training_frame=iris, nfolds=3, **FAST)
    keys = [f"{cv.model_id}_cv_{k}" for k in (1, 2, 3)]
    assert cv.is_cross_validated() and cv.xval_keys() == keys
    folds = cv.cross_validation_models()
    assert [m.model_id for m in folds] == keys and all(hpcdl.get_model(k) is m for k, m in zip(keys, folds))
    table = cv.cross_validation_metrics_summary()
    assert table.col_header == ["", "mean", "sd", "cv_1_valid", "cv_2_valid", "cv_3_valid"]
    row = table.cell_values[table[""].index("logloss")]
    fold_logloss = [m.validation_metrics["logloss"] for m in folds]  # each fold model on its held-out rows
    assert row[3:] == pytest.approx(fold_logloss) and row[1] == pytest.approx(np.mean(fold_logloss))
    assert row[2] == pytest.approx(np.std(fold_logloss, ddof=1))
    back = hpcdl.load_model(cv.save(str(tmp_path / "cv.h5")))
    with pytest.raises(ValueError, match="fold models are not in memory"):
        back.cross_validation_models()
    assert back.cross_validation_metrics_summary().cell_values == table.cell_values
    assert binomial.cross_validation_models() is None and binomial.cross_validation_metrics_summary() is None
    assert not binomial.is_cross_validated() and binomial.xval_keys() is None


# H2O-3 3.46.0.12's cross-validation frames, measured by tests/data/h2o_parity/measure_h2o_parity.py
# (iris, nfolds=3, fold_assignment="Modulo", keep_cross_validation_predictions and
# keep_cross_validation_fold_assignment; h2o.init(ip="127.0.0.1", nthreads=2)) into h2o_parity.json.
with open(os.path.join(os.path.dirname(__file__), "data", "h2o_parity", "h2o_parity.json")) as _f:
    H2O_PARITY = json.load(_f)
H2O_CV = H2O_PARITY["cv"]


def test_cross_validation_predictions_and_fold_assignment_as_h2o3(iris, prostate, tmp_path):
    h2o = H2O_CV["multinomial"]
    assert h2o["keep_defaults"] == {
        "keep_cross_validation_models": True,
        "keep_cross_validation_predictions": False,
        "keep_cross_validation_fold_assignment": False,
    }
    assert {n: hpcdl.params.DeepLearningParameters()[n] for n in h2o["keep_defaults"]} == h2o["keep_defaults"]
    cv = hpcdl.deeplearning(
        y="class",
        training_frame=iris,
        nfolds=3,
        fold_assignment="Modulo",
        keep_cross_validation_predictions=True,
        keep_cross_validation_fold_assignment=True,
        **FAST,
    )
    fa = cv.cross_validation_fold_assignment()
    theirs = h2o["fold_assignment"]
    assert fa.names == theirs["names"] == ["fold_assignment"] and fa.types == theirs["types"]
    folds = fa.as_data_frame()["fold_assignment"].to_numpy()
    assert folds.tolist() == [int(r[0]) for r in theirs["data"][1:]]  # Modulo: row % 3, 0-based
    per_fold = cv.cross_validation_predictions()
    assert len(per_fold) == len(h2o["per_fold"]) == 3
    holdout = cv.cross_validation_holdout_predictions().as_data_frame()
    for k, (ours, their) in enumerate(zip(per_fold, h2o["per_fold"])):
        assert ours.names == their["names"] and ours.types == their["types"] and ours.nrow == their["nrow"]
        df = ours.as_data_frame()
        inside = folds == k
        # H2O-3 fills the other folds' rows with 0: the first level, probabilities 0.0
        their_outside = {tuple(r) for i, r in enumerate(their["data"][1:]) if i % 3 != k}
        assert their_outside == {("Iris-setosa", "0.0", "0.0", "0.0")}
        assert (df.loc[~inside, "predict"] == "Iris-setosa").all() and (df.loc[~inside, IRIS_P] == 0).all().all()
        assert df[inside].equals(holdout[inside])  # and the fold model's own predictions inside the fold
    # the fold models' predictions of their own rows (what H2O-3 puts inside the fold)
    X = iris.as_data_frame()
    for k, fm in enumerate(cv.cross_validation_models()):
        own = fm.predict(iris).as_data_frame()[IRIS_P].to_numpy()[folds == k]
        assert np.allclose(per_fold[k].as_data_frame()[IRIS_P].to_numpy()[folds == k], own, atol=1e-6)
    assert len(X) == len(folds)
    assert cv.parms["keep_cross_validation_fold_assignment"]["actual_value"] is True
    # a cross-validated main model's parms as H2O-3 reports them (its multinomial_cv case: Modulo, 3 folds)
    h2o_parms = H2O_PARITY["parms"]["multinomial_cv"]
    for name in (
        "fold_assignment",
        "nfolds",
        "stopping_rounds",
        "stopping_metric",
        "overwrite_with_best_model",
        "loss",
    ):
        assert cv.parms[name]["actual_value"] == h2o_parms[name]["actual"], name
    assert cv.parms["epochs"]["actual_value"] == pytest.approx(np.mean(cv.run_info["cross_validation"]["fold_epochs"]))
    # binomial names and types as H2O-3's
    b = hpcdl.deeplearning(
        x=["AGE", "PSA"], y="CAPSULE", training_frame=prostate, nfolds=2, keep_cross_validation_predictions=True, **FAST
    )
    h2o_b = H2O_CV["binomial"]["per_fold"][0]
    assert b.cross_validation_predictions()[0].names == h2o_b["names"]
    assert b.cross_validation_predictions()[0].types == h2o_b["types"]
    # not kept: H2O-3 returns None; hpcdl says which parameter keeps it
    with pytest.raises(ValueError, match="keep_cross_validation_fold_assignment=True"):
        b.cross_validation_fold_assignment()
    assert H2O_CV["without_keep"]["without_keep_cross_validation_fold_assignment"] == "None"
    with pytest.raises(ValueError, match="not cross-validated"):
        hpcdl.deeplearning(y="class", training_frame=iris, **FAST).cross_validation_predictions()
    written = cv.cross_validation_predictions(destination=str(tmp_path))
    assert [os.path.basename(f.path) for f in written] == ["fold_1.h5", "fold_2.h5", "fold_3.h5"]


IRIS_P = ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]


def test_scoring_history_is_a_data_frame_of_the_stored_rows(binomial, tmp_path):
    df = binomial.scoring_history()
    rows = binomial.scoring_events
    assert len(df) == len(rows) >= 2 and list(df["epochs"]) == [r["epochs"] for r in rows]
    assert df["validation_auc"].iloc[-1] == rows[-1]["validation_auc"]
    table = binomial.scoring_history(as_data_frame=False)
    assert table["iterations"] == [r["iterations"] for r in rows]
    # the file keeps the rows under its old key, so files written before the rename read back alike
    path = binomial.save(str(tmp_path / "h.h5"))
    assert store.read_model_summary(path)["history"] == rows
    assert hpcdl.load_model(path).scoring_history().equals(df)


def test_parms_type_and_actual_params(iris, binomial):
    m = hpcdl.deeplearning(y="class", training_frame=iris, activation="RectifierWithDropout", **FAST)
    p = m.parms
    assert p["hidden_dropout_ratios"]["input_value"] is None  # not given
    # H2O-3 3.46 reports None and "Automatic" (tests/test_params.py); training used these:
    assert p["hidden_dropout_ratios"]["actual_value"] is None and m.effective["hidden_dropout_ratios"] == [0.5]
    assert p["epochs"] == {"name": "epochs", "default_value": 10.0, "input_value": 3.0, "actual_value": 3.0}
    assert p["loss"]["input_value"] == p["loss"]["actual_value"] == "Automatic"
    assert m.effective["loss"] == "CrossEntropy"
    assert p["response_column"]["actual_value"] == {"column_name": "class"}
    assert m.actual_params["model_id"] == m.model_id and m.actual_params["response_column"] == "class"
    assert m.default_params["epochs"] == 10.0
    assert (m.type, binomial.type) == ("classifier", "classifier")
    reg = hpcdl.deeplearning(x=["sepal_len"], y="petal_len", training_frame=iris, **FAST)
    ae = hpcdl.deeplearning(x=["sepal_len", "petal_len"], training_frame=iris, autoencoder=True, **FAST)
    assert (reg.type, ae.type) == ("regressor", "unsupervised") and reg.algo == "deeplearning"
    with pytest.raises(ValueError, match=r"confusion_matrix\(\) is not defined for regression models"):
        reg.confusion_matrix(iris)
    assert m.confusion_matrix(iris).to_list() == m.model_performance(iris).confusion_matrix().to_list()
    with pytest.raises(ValueError, match="thresholds= are for binomial models"):
        m.confusion_matrix(thresholds=[0.5])


def test_exported_weights_reproduce_the_predictions(iris):
    """A NumPy forward pass through weights(i)/biases(i) gives model.predict's probabilities."""
    m = hpcdl.deeplearning(
        y="class",
        training_frame=iris,
        activation="Tanh",
        export_weights_and_biases=True,
        **{**FAST, "hidden": [6, 4]},
    )
    X, _, _ = m.dinfo.transform(iris)
    h = X.astype(np.float64)
    for i in range(3):
        w = m.weights(i).as_numpy()
        b = m.biases(i).as_numpy()[:, 0]
        assert w.shape == (m.net.units[i + 1], m.net.units[i]) and m.biases(i).names == ["C1"]
        h = h @ w.T + b
        if i < 2:
            h = np.tanh(h)
    probs = np.exp(h - h.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    pred = m.predict(iris).as_data_frame()
    np.testing.assert_allclose(pred[["Iris-setosa", "Iris-versicolor", "Iris-virginica"]].to_numpy(), probs, atol=1e-5)
    assert m.weights(0).names == list(m.dinfo.input_names) and m.weights(1).names == [f"C{j}" for j in range(1, 7)]


# -- models by id, save_model ----------------------------------------------------------------------
def test_get_model_finds_models_while_something_holds_them(iris, tmp_path):
    m = hpcdl.deeplearning(y="class", training_frame=iris, model_id="held", **FAST)
    assert get_model("held") is m and hpcdl.get_model("held") is m
    path = m.save(str(tmp_path / "held.h5"))
    del m
    gc.collect()
    with pytest.raises(ValueError, match="no model 'held' in this process.*hpcdl.load_model"):
        hpcdl.get_model("held")
    loaded = hpcdl.load_model(path)
    assert hpcdl.get_model("held") is loaded  # loading makes it findable again


def test_checkpoint_by_id_and_a_file_of_the_same_name(iris, tmp_path, monkeypatch):
    first = hpcdl.deeplearning(y="class", training_frame=iris, model_id="ckpt_id", **FAST)
    more = hpcdl.deeplearning(y="class", training_frame=iris, checkpoint="ckpt_id", **{**FAST, "epochs": 5})
    assert more.model_id != first.model_id and more.epochs_trained == pytest.approx(5.0)
    named = hpcdl.deeplearning(
        y="class", training_frame=iris, checkpoint=first, model_id="mine", **{**FAST, "epochs": 4}
    )
    assert named.model_id == "mine"
    monkeypatch.chdir(tmp_path)
    other = hpcdl.deeplearning(y="class", training_frame=iris, model_id="other", **FAST)
    other.save(str(tmp_path / "ckpt_id"))  # a file named like the model id, holding another model
    with pytest.raises(ValueError, match="names a model of this process and also the file"):
        hpcdl.deeplearning(y="class", training_frame=iris, checkpoint="ckpt_id", **{**FAST, "epochs": 5})
    hpcdl.save_model(first, force=True, filename="ckpt_id")  # now the file holds that very model: no ambiguity
    assert hpcdl.deeplearning(y="class", training_frame=iris, checkpoint="ckpt_id", **{**FAST, "epochs": 5})


def test_save_model_is_h2o3_save_model(iris, tmp_path, monkeypatch):
    m = hpcdl.deeplearning(y="class", training_frame=iris, **FAST)
    monkeypatch.chdir(tmp_path)
    path = hpcdl.save_model(m)
    assert path == os.path.join(str(tmp_path), m.model_id + ".h5")  # the current directory, the model id
    assert hpcdl.load_model(os.path.join(str(tmp_path), m.model_id)).model_id == m.model_id  # H2O-3's name loads
    with pytest.raises(Exception, match="exists"):
        hpcdl.save_model(m)
    assert hpcdl.save_model(m, force=True) == path
    nested = hpcdl.save_model(m, path=str(tmp_path / "a" / "b"), filename="best.h5")
    assert nested == str(tmp_path / "a" / "b" / "best.h5") and hpcdl.load_model(nested).model_id == m.model_id
    with pytest.raises(ValueError, match="is a file, not a directory"):
        hpcdl.save_model(m, path=nested)
    est = H2ODeepLearningEstimator(**FAST)
    assert est._id is None and est.key is None  # H2O-3's ModelBase: the id is in _id (the booklet reads it)
    est.train(y="class", training_frame=iris)
    assert est._id == est.key == est.model_id and hpcdl.get_model(model_id=est._id).model_id == est.model_id
    assert hpcdl.load_model(hpcdl.save_model(est, path=str(tmp_path))).model_id == est.model_id
    from hpcdl.commands.models import list_models

    rows, _ = list_models(str(tmp_path))  # models/ subfolders are listed too (issue 25)
    assert os.path.join("a", "b", "best.h5") in [r["file"] for r in rows]


# -- refused builds --------------------------------------------------------------------------------
def _species_files(tmp_path):
    with open(os.path.join(DATA, "iris_wheader.csv"), newline="") as fh:
        rows = [r for r in csv.reader(fh) if r]
    out = {}
    for name, keep in (("two", lambda r: r[4] != "Iris-virginica"), ("third", lambda r: r[4] == "Iris-virginica")):
        out[name] = str(tmp_path / f"{name}.csv")
        with open(out[name], "w", newline="") as fh:
            csv.writer(fh).writerows([rows[0], *filter(keep, rows[1:])])
    return out


def test_a_refused_build_is_an_environment_error_and_one_cli_line(tmp_path, capsys):
    files = _species_files(tmp_path)
    two = hpcdl.import_file(files["two"])
    m = hpcdl.deeplearning(x=["sepal_len", "class"], y="petal_wid", training_frame=two, **FAST)
    with pytest.raises(EnvironmentError, match=r"column 'class' has levels \['Iris-virginica'\]") as info:
        hpcdl.deeplearning(x=["sepal_len", "class"], y="petal_wid", training_frame=files["third"], checkpoint=m, **FAST)
    assert isinstance(info.value, hpcdl.ModelBuildError) and isinstance(info.value, ValueError)
    path = m.save(str(tmp_path / "m.h5"))
    job = tmp_path / "cont.toml"
    job.write_text(
        f'[job]\nname = "cont"\noutput_dir = "{tmp_path / "out"}"\n\n[data]\ntraining_frame = "{files["third"]}"\n'
        f'x = ["sepal_len", "class"]\ny = "petal_wid"\n\n[parameters]\ncheckpoint = "{path}"\nhidden = [5]\n'
        "epochs = 5\nseed = 7\nreproducible = true\n"
    )
    assert cli.main(["train", str(job), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Iris-virginica" in err[0] and err[0].startswith("hpcdl train: error")


def test_a_job_continuing_a_checkpoint_names_its_model_after_the_job(iris, tmp_path):
    m = hpcdl.deeplearning(y="class", training_frame=iris, model_id="start", **FAST)
    path = m.save(str(tmp_path / "start.h5"))
    job = tmp_path / "more.toml"
    job.write_text(
        f'[job]\nname = "more"\noutput_dir = "{tmp_path / "out"}"\n\n[data]\n'
        f'training_frame = "{os.path.join(DATA, "iris_wheader.csv")}"\ny = "class"\n\n'
        f'[parameters]\ncheckpoint = "{path}"\nhidden = [5]\nepochs = 5\nseed = 7\nreproducible = true\n'
    )
    assert cli.main(["train", str(job), "--quiet"]) == 0
    more = hpcdl.load_model(str(tmp_path / "out" / "more.h5"))
    assert more.model_id == "more" and more.epochs_trained == pytest.approx(5.0)
    assert hpcdl.load_model(path).model_id == "start"


# -- estimators: the one gate, the one path ------------------------------------------------------
def test_estimator_parameters_go_through_the_parameters_object(iris):
    est = H2ODeepLearningEstimator(hidden=[3], epochs=2)
    assert est.hidden == [3] and est.epochs == 2.0 and est.rho == 0.99  # H2O-3's defaults
    est.epochs = 4
    assert est.epochs == 4.0
    with pytest.raises(ParameterError, match="invalid value for parameter 'epochs'"):
        est.epochs = 0
    with pytest.raises(ParameterError, match="did you mean 'hidden'"):
        H2ODeepLearningEstimator(hiden=[3])
    # an offset on a classification: one message from the constructor, train(), hpcdl.deeplearning
    message = (
        "offset_column='o': offsets apply to regression only (H2O-3 refuses them for classification and autoencoders)"
    )
    for call in (
        lambda: est.train(y="class", training_frame=iris, offset_column="o"),
        lambda: H2ODeepLearningEstimator(offset_column="o", distribution="multinomial"),
        lambda: hpcdl.deeplearning(y="class", training_frame=iris, offset_column="o"),
        lambda: H2OAutoEncoderEstimator(offset_column="o"),
    ):
        with pytest.raises(ParameterError) as err:
            call()
        assert str(err.value) == message
    with pytest.raises(AttributeError, match="not trained yet"):
        est.predict(iris)
    assert "no model trained yet" in str(est)
    assert H2OAutoEncoderEstimator().autoencoder is True and not H2OAutoEncoderEstimator().supervised_learning


def test_estimator_columns_by_index_as_h2o3(iris):
    est = H2ODeepLearningEstimator(**FAST)
    assert est.train(x=[0, -4], y=-1, training_frame=iris) is est
    assert est.hpcdl_model.dinfo.predictors == ["sepal_len", "sepal_wid"] and est.hpcdl_model.dinfo.response == "class"
    with pytest.raises(ParameterError, match=r"x: column index 5 does not exist in .* \(5 columns\)"):
        est.train(x=[5], y=4, training_frame=iris)
    est.train(y="class", training_frame=iris, ignored_columns=["petal_wid", 0])
    assert est.hpcdl_model.dinfo.predictors == ["sepal_wid", "petal_len"]
    with pytest.raises(ParameterError, match="give x or ignored_columns, not both"):
        est.train(x=[1], y=4, training_frame=iris, ignored_columns=[0])
    ae = H2OAutoEncoderEstimator(**FAST)
    ae.train(x=[0, 1], y=4, training_frame=iris)  # an unsupervised model ignores y, as H2O-3
    assert ae.hpcdl_model.dinfo.predictors == ["sepal_len", "sepal_wid"] and ae.type == "unsupervised"


def test_grid_search_failures_warn_and_none_trained_is_an_error(iris):
    gs = H2OGridSearch(H2ODeepLearningEstimator, {"hidden": [[3], [4]], "stopping_metric": ["AUC", "logloss"]})
    with pytest.warns(UserWarning, match="stopping_metric.*AUC.*needs a binary response"):
        gs.train(y="class", training_frame=iris, **QUICK)
    assert len(gs) == 2 and len(gs.failed_params) == 2 and all(p["stopping_metric"] == "AUC" for p in gs.failed_params)
    bad = H2OGridSearch(H2ODeepLearningEstimator, {"stopping_metric": ["AUC", "AUCPR"]})
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no model trained"):
        bad.train(y="class", training_frame=iris, **FAST)
    with pytest.raises(ParameterError, match="y should not be specified for an autoencoder"):
        H2OGridSearch(H2OAutoEncoderEstimator, {"hidden": [[2]]}).train(y="class", training_frame=iris)


def test_grid_models_answer_per_model(iris):
    template = H2ODeepLearningEstimator(training_frame=iris, response_column="class", ignored_columns=[0], **QUICK)
    gs = H2OGridSearch(template, {"hidden": [[3], [4]]}).train()  # the data from the template, as H2O-3
    assert gs[0].hpcdl_model.dinfo.predictors == ["sepal_wid", "petal_len", "petal_wid"]
    assert gs.logloss() == {m.model_id: m.logloss() for m in gs}
    assert set(gs.model_performance(iris)) == set(gs.model_ids)
    assert math.isfinite(gs.mse()[gs.model_ids[0]])
