"""Multinomial AUC and AUCPR (auc_type, multinomial_auc_table): against scikit-learn's roc_auc_score
(one-vs-rest and one-vs-one, macro and weighted) and against the tables H2O-3 3.46.0.12 reported for its
own predictions. Where the H2O-3 figures came from: tests/data/h2o_parity/measure_h2o_parity.py (a
Deep Learning model, hidden=[2], epochs=1, seed=1, reproducible, trained on iris with each auc_type;
model_performance(iris) on 127.0.0.1, nthreads=2), trimmed into h2o_parity.json."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import hpcdl
from hpcdl.metrics import MULTINOMIAL_AUC_TYPES, multinomial_auc, multinomial_auc_table, multinomial_metrics

H2O = json.loads((Path(__file__).parent / "data" / "h2o_parity" / "h2o_parity.json").read_text())["mauc"]
IRIS = ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]
SKLEARN = {  # auc_type -> roc_auc_score's arguments
    "MACRO_OVR": dict(multi_class="ovr", average="macro"),
    "WEIGHTED_OVR": dict(multi_class="ovr", average="weighted"),
    "MACRO_OVO": dict(multi_class="ovo", average="macro"),
    "WEIGHTED_OVO": dict(multi_class="ovo", average="weighted"),
}


def _h2o_predictions():
    rows = H2O["preds"][1:]  # header: predict and the three class probabilities
    P = np.array([[float(v) for v in r[1:]] for r in rows])
    y = np.repeat([0, 1, 2], 50)  # iris_wheader.csv: 50 rows of each class in order
    return y, P


def _random_case(seed: int, n: int = 300, k: int = 4):
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=n, p=[0.5, 0.25, 0.15, 0.1])  # unbalanced: macro and weighted differ
    logits = rng.normal(size=(n, k)) + 1.2 * np.eye(k)[y]
    logits = np.round(logits, 1)  # ties in the scores
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, P


@pytest.mark.parametrize("seed", [1, 2])
def test_multinomial_auc_equals_sklearn_ovr_and_ovo(seed):
    y, P = _random_case(seed)
    tables = multinomial_auc(y, P, list("abcd"))
    for auc_type, kw in SKLEARN.items():
        assert tables[auc_type][0] == pytest.approx(roc_auc_score(y, P, **kw), abs=1e-12), auc_type
    assert tables["MACRO_OVR"][0] != pytest.approx(tables["WEIGHTED_OVR"][0], abs=1e-4)  # unbalanced classes
    # per class vs rest and per pair (Hand & Till: the mean of both directions)
    for i, row in enumerate(tables["ovr"]):
        assert row[1] == pytest.approx(roc_auc_score(y == i, P[:, i]), abs=1e-12)
    first, second = tables["ovo"][0][:2]
    assert (first, second) == ("a", "b")
    rows = np.isin(y, [0, 1])
    expected = (roc_auc_score(y[rows] == 1, P[rows, 1]) + roc_auc_score(y[rows] == 0, P[rows, 0])) / 2
    assert tables["ovo"][0][2] == pytest.approx(expected, abs=1e-12)
    # observation weights: one-vs-rest weighted by each class's weight, as scikit-learn's sample_weight
    w = np.random.default_rng(seed + 10).uniform(0.2, 3.0, size=y.size)
    weighted = multinomial_auc(y, P, list("abcd"), weights=w)
    for auc_type in ("MACRO_OVR", "WEIGHTED_OVR"):
        expected = roc_auc_score(y, P, sample_weight=w, **SKLEARN[auc_type])
        assert weighted[auc_type][0] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("auc_type", MULTINOMIAL_AUC_TYPES)
def test_multinomial_auc_tables_reproduce_h2o3(auc_type):
    y, P = _h2o_predictions()
    m = multinomial_metrics(y, P, IRIS, auc_type=auc_type)
    h2o = H2O[auc_type]
    assert m["AUC"] == pytest.approx(float(h2o["auc"]), abs=1e-12)
    assert m["pr_auc"] == pytest.approx(float(h2o["aucpr"]), abs=1e-12)
    for pr, key in ((False, "auc_table"), (True, "aucpr_table")):
        ours = multinomial_auc_table(m["multinomial_auc"], pr=pr)
        theirs = h2o[key]
        assert ours.col_header == theirs["header"] and ours.table_header == theirs["title"]
        assert len(ours.cell_values) == len(theirs["rows"]) == 3 + 2 + 3 + 2
        for a, b in zip(ours.cell_values, theirs["rows"]):
            assert a[:3] == b[:3]
            assert a[3] == pytest.approx(b[3], abs=1e-12), a[0]


def test_auc_type_auto_and_none_compute_nothing_as_h2o3():
    y, P = _h2o_predictions()
    for auc_type in ("AUTO", "NONE"):
        assert H2O[auc_type]["auc"] == "'NaN'" and H2O[auc_type]["parms_auc_type"]["default_value"] == "AUTO"
        m = multinomial_metrics(y, P, IRIS, auc_type=auc_type)
        assert "AUC" not in m and "multinomial_auc" not in m
    # more than 50 classes: none either (H2O-3's MAX_AUC_CLASSES)
    y = np.arange(102) % 51
    P = np.full((102, 51), 1 / 51)
    assert "AUC" not in multinomial_metrics(y, P, [str(i) for i in range(51)], auc_type="MACRO_OVR")


def test_model_auc_type_and_model_performance_override(tmp_path):
    data = os.path.join(os.path.dirname(hpcdl.__file__), "datasets", "iris_wheader.csv")
    iris = hpcdl.import_file(data, destination=str(tmp_path / "i.h5"))
    m = hpcdl.deeplearning(
        y="class", training_frame=iris, hidden=[2], epochs=1, seed=1, reproducible=True, auc_type="macro_ovo"
    )
    assert m.parms["auc_type"]["actual_value"] == "MACRO_OVO"
    P = m.predict(iris).as_data_frame()[IRIS].to_numpy()
    y = np.repeat([0, 1, 2], 50)
    perf = m.model_performance(iris)
    assert perf.auc() == pytest.approx(roc_auc_score(y, P, multi_class="ovo", average="macro"), abs=1e-6)
    assert m.auc() == m.training_metrics["AUC"] and not math.isnan(m.auc())
    assert perf.multinomial_auc_table().cell_values[-2][0] == "Macro OVO"
    assert perf.multinomial_aucpr_table().col_header[-1] == "auc_pr"
    other = m.model_performance(iris, auc_type="WEIGHTED_OVR")
    assert other.auc() == pytest.approx(roc_auc_score(y, P, multi_class="ovr", average="weighted"), abs=1e-6)
    stored = m.model_performance(train=True, auc_type="MACRO_OVR")
    assert stored.auc() == m.training_metrics["multinomial_auc"]["MACRO_OVR"][0]
    with pytest.raises(ValueError, match="auc_type"):
        m.model_performance(iris, auc_type="OVR")
    plain = hpcdl.deeplearning(y="class", training_frame=iris, hidden=[2], epochs=1, seed=1, reproducible=True)
    with pytest.raises(ValueError, match="multinomial AUC was not computed"):
        plain.model_performance(iris).multinomial_auc_table()
    assert plain.model_performance(iris, auc_type="MACRO_OVO").auc() == pytest.approx(perf.auc(), abs=1e-6)


def test_stopping_on_auc_of_several_classes_needs_an_auc_type():
    from hpcdl.params import DeepLearningParameters, ParameterError

    DeepLearningParameters(stopping_metric="AUC", auc_type="WEIGHTED_OVO").validate(classification=True, n_classes=3)
    with pytest.raises(ParameterError, match="needs a binary response .*set auc_type"):
        DeepLearningParameters(stopping_metric="AUCPR").validate(classification=True, n_classes=3)
