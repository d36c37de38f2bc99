"""hpcdl.sklearn: scikit-learn's own estimator checks, parameters from params.py's declarations, the
same model as hpcdl.deeplearning, pandas categoricals, classes_, Pipeline and GridSearchCV."""

import gc
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_iris, make_regression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import hpcdl
from hpcdl.frame import frame_from_numpy
from hpcdl.params import PARAMETERS, DeepLearningParameters, ParameterError
from hpcdl.sklearn import NOT_ESTIMATOR_PARAMETERS, DeepLearningClassifier, DeepLearningRegressor

# Small and seeded: check_estimator fits dozens of times; reproducible=True makes runs identical,
# which lets the determinism checks (fit idempotence, subset invariance) run too.
FAST = {"hidden": (16,), "epochs": 20, "seed": 1, "reproducible": True}


# A row of weight 2 is visited as H2O-3 visits it (more often, by importance sampling), not as two copies
# of it: the same in expectation, not the same fitted model. Zero and unit weights are exact (checked).
_WEIGHT_2_IS_NOT_TWO_ROWS = {
    "check_sample_weight_equivalence_on_dense_data": "SGD with importance sampling: weight 2 != two copies"
}


@parametrize_with_checks(
    [DeepLearningClassifier(**FAST), DeepLearningRegressor(**FAST)],
    expected_failed_checks=lambda estimator: _WEIGHT_2_IS_NOT_TWO_ROWS,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def _blobs(labels, n=60, seed=0):
    """Three well-separated clusters in 2-D, cluster k labelled ``labels[k]``; and the centers."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 6.0], [6.0, 0.0], [-6.0, -6.0]])
    k = rng.integers(0, 3, n)
    X = centers[k] + rng.normal(scale=0.5, size=(n, 2))
    return X, np.asarray(labels)[k], centers


# -- parameters --------------------------------------------------------------


def test_parameters_are_params_py_declarations_with_their_defaults():
    defaults = DeepLearningParameters().to_dict()
    got = DeepLearningClassifier().get_params()
    assert got.pop("random_state") is None  # scikit-learn's name for the seed, the one addition
    assert set(got) == {p.name for p in PARAMETERS} - set(NOT_ESTIMATOR_PARAMETERS)
    for name, value in got.items():
        expected = defaults[name]
        # a list default is given as a tuple (scikit-learn allows immutable defaults only)
        assert value == (tuple(expected) if isinstance(expected, list) else expected) or (
            isinstance(value, float) and math.isinf(value) and expected == value
        ), name
    assert got["hidden"] == (200, 200) and got["epochs"] == 10.0 and got["seed"] == -1
    assert DeepLearningRegressor().get_params() == {**got, "random_state": None}


def test_set_params_reaches_the_trained_model():
    X, y, _ = _blobs([0, 1, 2])
    est = DeepLearningClassifier(**FAST).set_params(hidden=[7, 3], l2=1e-3, activation="Tanh")
    est.fit(X, y)
    assert est.model_.params.hidden == [7, 3]
    assert list(est.model_.net.units) == [2, 7, 3, 3]  # 2 inputs, the hidden layers, 3 classes
    assert est.model_.effective["l2"] == 1e-3 and est.model_.effective["activation"] == "Tanh"


def test_unknown_and_excluded_parameters_are_type_errors_with_a_hint():
    with pytest.raises(TypeError, match=r"unknown parameter 'hiden'; did you mean 'hidden'"):
        DeepLearningClassifier(hiden=[10])
    with pytest.raises(TypeError, match=r"'nfolds' is not a parameter here: cross-validate with sklearn"):
        DeepLearningRegressor(nfolds=3)
    with pytest.raises(TypeError, match=r"'hidden_dropout_ratio' is an alias; use 'hidden_dropout_ratios'"):
        DeepLearningRegressor(hidden_dropout_ratio=[0.1])


def test_values_are_checked_by_deep_learning_parameters_at_fit():
    X, y, _ = _blobs([0, 1, 2])
    est = DeepLearningClassifier(epochs=-1, distribution="poisson")  # constructors only store
    with pytest.raises(ParameterError) as fit_error:
        est.fit(X, y)
    with pytest.raises(ParameterError) as gate_error:
        DeepLearningParameters(epochs=-1, distribution="poisson")
    assert str(fit_error.value) == str(gate_error.value)
    assert not hasattr(est, "model_")


def test_same_model_as_hpcdl_deeplearning(tmp_path):
    """The estimator is hpcdl.deeplearning on X and y: same effective parameters, same predictions
    (classes 3, 5, 7 sort the same as numbers and as strings, so the frames' domains agree)."""
    X, y, _ = _blobs([3, 5, 7])
    est = DeepLearningClassifier(**FAST).fit(X, y)
    cols = {"C1": X[:, 0], "C2": X[:, 1], "y": y.astype(str).astype(object)}
    frame = frame_from_numpy(cols, tmp_path / "train.h5")
    direct = hpcdl.deeplearning(x=["C1", "C2"], y="y", training_frame=frame, **FAST)
    assert est.model_.effective == direct.effective
    assert direct.effective["max_w2"] == 1000.0  # a default left alone is "not given" (Rectifier cap)
    pred = direct.predict(frame_from_numpy({"C1": X[:, 0], "C2": X[:, 1]}, tmp_path / "x.h5"))
    reference = np.column_stack([pred.column(k) for k in (1, 2, 3)])
    np.testing.assert_array_equal(est.predict_proba(X), reference)


def test_regressor_same_as_hpcdl_deeplearning(tmp_path):
    X, y = make_regression(n_samples=80, n_features=3, noise=1.0, random_state=0)
    est = DeepLearningRegressor(**FAST).fit(X, y)
    cols = {"C1": X[:, 0], "C2": X[:, 1], "C3": X[:, 2]}
    direct = hpcdl.deeplearning(
        x=list(cols), y="y", training_frame=frame_from_numpy({**cols, "y": y}, tmp_path / "train.h5"), **FAST
    )
    expected = direct.predict(frame_from_numpy(cols, tmp_path / "x.h5")).column(0)
    np.testing.assert_array_equal(est.predict(X), expected)
    assert est.score(X, y) > 0.9  # R²: a smooth 3-feature target is learned


def test_seed_with_reproducible_repeats_a_fit_and_another_seed_does_not():
    X, y, _ = _blobs([0, 1, 2])
    p1 = DeepLearningClassifier(**FAST).fit(X, y).predict_proba(X)
    p2 = DeepLearningClassifier(**FAST).fit(X, y).predict_proba(X)
    p3 = DeepLearningClassifier(**{**FAST, "seed": 2}).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)
    assert not np.array_equal(p1, p3)


def test_random_state_is_the_seed_and_makes_fits_repeatable():
    """scikit-learn's name for the seed: an unseeded estimator given random_state fits the same model
    twice (check_estimator's idempotency checks set it), the same as seed + reproducible=True."""
    from sklearn.utils.estimator_checks import check_fit_idempotent

    X, y, _ = _blobs([0, 1, 2])
    small = {"hidden": (16,), "epochs": 20}
    est = DeepLearningClassifier(**small, random_state=3)
    assert est.get_params()["random_state"] == 3 and not est.__sklearn_tags__().non_deterministic
    p1 = est.fit(X, y).predict_proba(X)
    p2 = DeepLearningClassifier(**small, seed=3, reproducible=True).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)
    assert est.model_.effective["seed"] == 3 and est.model_.effective["reproducible"] is True
    check_fit_idempotent("DeepLearningRegressor", DeepLearningRegressor(**small))  # sets random_state itself
    with pytest.raises(ValueError, match="random_state='x'; give an int"):
        DeepLearningClassifier(**small, random_state="x").fit(X, y)


def test_regressor_score_is_the_models_r2_and_r2_score(tmp_path):
    """H2O-3's r2 divides by the population variance, so the model's r2 is scikit-learn's r2_score."""
    from sklearn.metrics import r2_score

    X, y = make_regression(n_samples=40, n_features=3, noise=20.0, random_state=1)
    est = DeepLearningRegressor(hidden=(4,), epochs=2, seed=1, reproducible=True).fit(X, y)
    assert est.model_.r2() == pytest.approx(est.score(X, y), rel=1e-6)
    assert est.score(X, y) == pytest.approx(r2_score(y, est.predict(X)))


# -- classes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [[10, 2, -1], ["setosa", "versicolor", "virginica"], [2.0, 0.0, 1.0], ["b", "a", "c"], [True, False, True]],
)
def test_classes_keep_their_values_and_probability_columns_follow_them(labels):
    X, y, centers = _blobs(labels)
    # all epochs (no stop at zero training error) so that the probabilities, not only their
    # ranking, tell the clusters apart
    est = DeepLearningClassifier(**FAST, classification_stop=-1).fit(X, y)
    np.testing.assert_array_equal(est.classes_, np.unique(labels))
    assert est.classes_.dtype == np.asarray(labels).dtype
    proba = est.predict_proba(centers)
    # center k belongs to labels[k]: its most probable column is that label's place in classes_
    assert [est.classes_[j] for j in np.argmax(proba, axis=1)] == list(labels)
    pred = est.predict(centers)
    assert pred.dtype == est.classes_.dtype and list(pred) == list(labels)


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="at least 2 classes in y; got 1 class: 'a'$"):
        DeepLearningClassifier(**FAST).fit(np.arange(10.0).reshape(5, 2), ["a"] * 5)


# -- pandas -------------------------------------------------------------------


def _shop(n=240, seed=0):
    """y depends on a 3-level categorical (no order among the levels) and a number."""
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(size=n)
    X = pd.DataFrame(
        {
            "color": pd.Categorical(color),
            "shape": rng.choice(["a", "b"], n).astype(object),
            "size": size,
            "count": pd.array(rng.integers(0, 5, n), dtype="Int64"),
            "flag": rng.random(n) < 0.5,
            "code": pd.array(rng.choice(["x", "y"], n), dtype="string"),
        }
    )
    y = np.where(color == "green", "hot", np.where(size > 0, "big", "small"))
    return X, y


def test_dataframe_categoricals_become_enum_columns():
    X, y = _shop()
    X.loc[3, "count"] = pd.NA
    X.loc[4, "code"] = pd.NA
    X.loc[5, "shape"] = None
    est = DeepLearningClassifier(**FAST).fit(X, y)
    assert list(est.feature_names_in_) == list(X.columns) and est.n_features_in_ == 6
    info = est.model_.dinfo
    assert sorted(info.cat_cols) == ["code", "color", "shape"]
    # missing values are missing, not a level "<NA>"/"None"
    assert info.domains == {"color": ["blue", "green", "red"], "shape": ["a", "b"], "code": ["x", "y"]}
    assert est.score(X, y) > 0.95


def test_predict_is_model_predict_on_a_frame_of_x(tmp_path):
    """predict scores in memory; model_.predict on the same rows written as a frame is the reference."""
    X, y = _shop()
    X.loc[7, "size"] = np.nan
    X.loc[8, "shape"] = None
    est = DeepLearningClassifier(**FAST).fit(X, y)
    # frame_from_numpy takes numpy dtypes (not pandas' string dtype): the same values, converted
    numpy_typed = X.astype({"count": "float64", "flag": "float64", "shape": object, "code": object})
    frame = frame_from_numpy(numpy_typed, tmp_path / "x.h5")
    pred = est.model_.predict(frame)
    expected = np.column_stack([pred.column(str(c)) for c in est.classes_])
    np.testing.assert_allclose(est.predict_proba(X), expected, rtol=0, atol=1e-12)


def test_levels_are_matched_by_name_at_predict():
    X, y = _shop()
    est = DeepLearningClassifier(**FAST).fit(X, y)
    reordered = X.assign(color=pd.Categorical(X["color"].astype(str), categories=["red", "blue", "green"]))
    as_object = X.assign(color=X["color"].astype(str).astype(object))
    expected = est.predict_proba(X)
    np.testing.assert_array_equal(est.predict_proba(reordered), expected)
    np.testing.assert_array_equal(est.predict_proba(as_object), expected)
    unseen = X.head(4).assign(color=pd.Categorical(["purple"] * 4))  # H2O: the NA slot
    assert est.predict_proba(unseen).shape == (4, 3)


def test_dataframe_errors_name_the_column():
    X, y = _shop()
    est = DeepLearningClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="column 'size' was numeric in fit but is categorical here"):
        est.predict(X.assign(size=X["size"].astype(str)))
    with pytest.raises(
        ValueError, match=r"fitted on a DataFrame with categorical columns \['color', 'shape', 'code'\]"
    ):
        est.predict(X.to_numpy())
    with pytest.raises(ValueError, match="column 'when' has dtype datetime64"):
        DeepLearningClassifier(**FAST).fit(X.assign(when=pd.Timestamp("2024-01-01")), y)
    with pytest.raises(ValueError, match="column 'size' contains infinity"):
        DeepLearningClassifier(**FAST).fit(X.assign(size=np.inf), y)


# -- scikit-learn tools --------------------------------------------------------


def test_pipeline_with_column_transformer():
    X, y = _shop()
    pipe = make_pipeline(
        make_column_transformer((StandardScaler(), ["size"]), remainder="passthrough", verbose_feature_names_out=False),
        FunctionTransformer(lambda d: d.astype({"count": "float64"})),
        DeepLearningRegressor(**FAST),
    ).set_output(transform="pandas")
    target = X["size"].to_numpy() * 2 + (X["color"] == "red").to_numpy()
    pipe.fit(X, target)
    assert pipe[-1].model_.dinfo.cat_cols  # the categoricals came through the pipeline as categoricals
    assert pipe.score(X, target) > 0.9


def test_grid_search_cv():
    X, y = load_iris(return_X_y=True)
    search = GridSearchCV(
        DeepLearningClassifier(**FAST), {"hidden": [(4,), (16,)], "l2": [0.0, 1e-3]}, cv=3, n_jobs=1
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_
    assert best.model_.params.hidden == list(search.best_params_["hidden"])
    assert search.best_score_ > 0.8 and best.score(X, y) > 0.9


# -- in-process, quiet, no files left -------------------------------------------


def test_fit_and_predict_print_and_warn_nothing_and_leave_no_files(capfd, frame_writes):
    X, y, _ = _blobs([0, 1, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = DeepLearningClassifier(**FAST).fit(X, y)
        est.predict(X)
    out = capfd.readouterr()
    assert out.out == "" and out.err == ""
    assert len(frame_writes) == 1  # the training frame (predict scores in memory), temporary
    del est
    gc.collect()
    assert not [p for p in frame_writes if os.path.exists(p)]


def test_import_hpcdl_does_not_import_scikit_learn():
    code = "import sys, hpcdl; print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
