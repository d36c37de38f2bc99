"""H2O-3's remaining Python surface (issue 25): session calls, frame statistics and reshapes, per-threshold
metrics, refusals with a reason. Frame results are checked against numpy/pandas and, where the semantics
are H2O-3's own (names, shapes, NA rules, interpolation), against figures measured from H2O-3 3.46.0.12
on the same data (h2o.H2OFrame of FR below; the script: docs/python-api.md, "The H2O-3 surface")."""

import math
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, roc_curve

import hpcdl as h2o
from hpcdl.estimators import H2ODeepLearningEstimator

DATA = os.path.join(os.path.dirname(h2o.__file__), "datasets")
FR = {"a": [1, 2, 3, 4, None], "b": [0.5, 1.5, 2.5, 10.0, 3.0], "g": ["x", "y", "x", "y", "x"]}


@pytest.fixture
def fr():
    return h2o.H2OFrame(FR)


def test_statistics_agree_with_h2o3_and_numpy(fr):
    assert fr.types == {"a": "int", "b": "real", "g": "enum"}
    med = fr.median()
    assert math.isnan(med[0]) and med[1] == 2.5 and math.isnan(med[2])  # H2O-3: [nan, 2.5, nan]
    assert fr["a"].median(na_rm=True) == [2.5]
    q = fr.quantile(prob=[0.1, 0.25, 0.5]).as_data_frame()
    assert list(q.columns) == ["Probs", "aQuantiles", "bQuantiles", "gQuantiles"]  # H2O-3's names
    np.testing.assert_allclose(q["aQuantiles"], [1.3, 1.75, 2.5])  # measured from H2O-3
    np.testing.assert_allclose(q["bQuantiles"], np.quantile(FR["b"], [0.1, 0.25, 0.5]))
    assert q["gQuantiles"].isna().all()
    assert fr.quantile().nrow == 9
    assert fr["b"].var() == pytest.approx(np.var(FR["b"], ddof=1)) == pytest.approx(14.125)
    cov = fr[["a", "b"]].var(na_rm=True).as_data_frame().to_numpy()
    np.testing.assert_allclose(cov, [[1.66667, 4.91667], [4.91667, 18.7292]], rtol=1e-5)  # H2O-3: complete rows
    assert math.isnan(fr["a"].var())
    cor = fr[["a", "b"]].cor(na_rm=True).as_data_frame().to_numpy()
    np.testing.assert_allclose(cor[0, 1], 0.880009, rtol=1e-5)
    means = fr.mean(return_frame=True).as_data_frame()
    np.testing.assert_allclose(means.iloc[0].to_numpy(dtype=float), [2.5, 3.5, 0.4])  # H2O-3: an enum's code mean
    assert math.isnan(fr.mean(skipna=False, return_frame=True)[0, "a"])


def test_counts_groups_and_reshapes_agree_with_h2o3(fr):
    t = fr["g"].table()
    assert t.names == ["g", "Count"] and t.types == {"g": "enum", "Count": "int"}
    assert t.as_data_frame()["Count"].tolist() == [3, 2]
    assert fr[["g", "a"]].table().names == ["g", "a", "Counts"]
    assert fr["g"].unique().types == {"C1": "enum"} and fr["a"].unique().as_data_frame()["C1"].tolist() == [1, 2, 3, 4]
    gb = fr.group_by("g").count().mean("b").sum("a").min("b").max("b").sd("b").var("b").ss("b").get_frame()
    assert gb.names == ["g", "nrow", "mean_b", "sum_a", "min_b", "max_b", "sdev_b", "var_b", "sumSquares_b"]
    df = gb.as_data_frame()
    assert df["mean_b"].tolist() == [2.0, 5.75] and math.isnan(df["sum_a"][0]) and df["sum_a"][1] == 6.0
    np.testing.assert_allclose(df["var_b"], pd.DataFrame(FR).groupby("g")["b"].var())
    assert fr.sort("b", ascending=False).as_data_frame()["b"].tolist() == [10.0, 3.0, 2.5, 1.5, 0.5]
    other = h2o.H2OFrame({"g": ["x", "y"], "w": [10, 20]})
    merged = fr.merge(other).as_data_frame()
    assert list(merged.columns) == ["g", "a", "b", "w"]  # H2O-3's order; rows by key
    assert merged["b"].tolist() == [0.5, 2.5, 3.0, 1.5, 10.0] and merged["w"].tolist() == [10, 10, 10, 20, 20]
    assert (fr["b"] > 2).ifelse(1, 0).as_data_frame()["C1"].tolist() == [0, 0, 1, 1, 1]
    assert (fr["b"] > 2).ifelse("p", "q").types == {"C1": "enum"}
    assert fr.na_omit().nrow == 4
    scaled = fr[["a", "b"]].scale().as_data_frame()
    np.testing.assert_allclose(scaled["b"], (np.array(FR["b"]) - 3.5) / np.std(FR["b"], ddof=1))


def test_impute_and_math_functions_as_h2o3(fr):
    f2 = fr[["a", "b"]]
    assert np.isnan(f2.impute("a", method="mean")[1]) and f2.as_data_frame()["a"].tolist()[-1] == 2.5
    assert f2.types["a"] == "real"  # H2O-3 too: the mean 2.5 makes the int column real
    f4 = h2o.H2OFrame({"a": [1, 2, 3, 4, None, 10], "g": ["x", "x", "y", "y", "y", "x"]})
    f4.impute("a", method="mean", by=["g"])
    assert f4.as_data_frame()["a"].tolist()[4] == 3.5  # the y group's mean, as H2O-3
    assert fr["b"].log().names == ["log(b)"] and fr["b"].ceil().names == ["ceiling(b)"]
    assert fr["b"].floor().types == {"floor(b)": "int"} and fr["b"].round().names == ["b"]
    np.testing.assert_allclose(fr["b"].log().as_data_frame()["log(b)"], np.log(FR["b"]))
    assert h2o.H2OFrame({"v": [0.5, 1.5, 2.5, -0.5]}).round().as_data_frame()["v"].tolist() == [0, 2, 2, 0]
    np.testing.assert_allclose(fr["b"].trigamma().as_data_frame().iloc[:, 0][0], 4.934802200544614)


def test_session_calls_and_refusals(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from hpcdl import session

    session._SAID.discard("init")
    h2o.init(ip="localhost", nthreads=-1, max_mem_size="4G")
    h2o.init()
    assert capsys.readouterr().err.count("no cluster to start") == 1
    h2o.no_progress()
    h2o.cluster().shutdown(prompt=False)
    iris = h2o.upload_file(os.path.join(DATA, "iris_wheader.csv"), destination_frame="iris.hex")
    m = H2ODeepLearningEstimator(hidden=[3], epochs=1, seed=1, reproducible=True)
    m.train(y="class", training_frame=iris)
    assert m.model_id in h2o.ls()["key"].tolist()
    h2o.remove(m.model_id)
    assert m.model_id not in h2o.ls()["key"].tolist()
    assert m.summary().col_header[:3] == ["layer", "units", "type"] and m.full_parameters["epochs"]["actual_value"] == 1
    with pytest.raises(AttributeError, match="not MOJOs; export it to ONNX"):
        m.download_mojo(path=".")
    with pytest.raises(AttributeError, match="not POJOs"):
        h2o.download_pojo(m)
    with pytest.raises(AttributeError, match="no string columns"):
        iris.strsplit(",")
    out = h2o.export_file(iris[0:2, [0, 4]], "two.csv")
    assert open(out).read().splitlines() == ["sepal_len,class", "5.1,Iris-setosa", "4.9,Iris-setosa"]
    with pytest.raises(Exception, match="exists"):
        h2o.export_file(iris, "two.csv")
    path = h2o.download_model(m, path="models")
    assert path.endswith(m.model_id + ".h5") and h2o.load_model(path).model_id == m.model_id


def test_calls_of_h2o3_dl_pyunit_scripts_are_refused_with_a_reason():
    # h2o.upload_custom_metric is a module function of H2O-3 3.46 (h2o-py/h2o/h2o.py); its DL pyunit
    # scripts call it (tests/h2o3_scripts/run.py). create_frame is built: tests/test_create_frame.py.
    with pytest.raises(AttributeError, match=r"upload_custom_metric\(\): not available in hpcdl: .*custom metrics"):
        h2o.upload_custom_metric(None)


def test_per_threshold_metrics_agree_with_scikit_learn():
    pros = h2o.import_file(os.path.join(DATA, "prostate.csv"), col_types={"CAPSULE": "enum"})
    m = h2o.deeplearning(
        x=["AGE", "PSA", "GLEASON"], y="CAPSULE", training_frame=pros, hidden=[5], epochs=5, seed=1, reproducible=True
    )
    perf = m.model_performance(pros)
    y = pros["CAPSULE"].asnumeric().as_data_frame()["CAPSULE"].to_numpy()
    p1 = m.predict(pros).as_data_frame()["p1"].to_numpy()
    fpr, tpr, _ = roc_curve(y, p1, drop_intermediate=False)
    ours_fpr, ours_tpr = perf.roc()
    np.testing.assert_allclose(ours_fpr, fpr[1:], atol=1e-12)
    np.testing.assert_allclose(ours_tpr, tpr[1:], atol=1e-12)
    for t in (0.3, 0.5):
        assert perf.accuracy(thresholds=[t])[0][1] == pytest.approx(accuracy_score(y, p1 >= t))
        assert perf.confusion_matrix(thresholds=t).to_list() == confusion_matrix(y, p1 >= t).tolist()
    table = perf.thresholds_and_metric_scores()
    assert max(table["f1"]) == pytest.approx(perf.F1()[0][1])
    gl = perf.gains_lift().as_data_frame()
    assert gl["cumulative_data_fraction"].iloc[-1] == 1.0 and gl["cumulative_capture_rate"].iloc[-1] == pytest.approx(
        1.0
    )
    with pytest.raises(ValueError, match="need the scored rows"):
        m.model_performance().roc()


def test_errors_name_the_users_file_not_the_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open(os.path.join(DATA, "prostate.csv")) as src, open("prostate.csv", "w") as dst:
        dst.write(src.read())
    pros = h2o.import_file("prostate.csv")
    with pytest.raises(ValueError, match=r"^prostate.csv: response column y='CAPSUL' not found"):
        h2o.deeplearning(y="CAPSUL", training_frame=pros)
    train, _ = pros.split_frame([0.8], seed=1)
    with pytest.raises(ValueError, match=r"^prostate.csv \(split_frame part 1 of 2\): response column"):
        h2o.deeplearning(y="CAPSUL", training_frame=train)
