"""Parameters: H2O-3 defaults, type/range errors, aliases, effective rewriting,
checkpoint rules. Expected values are H2O-3's (docs/parameters.md), written out here, not read from params.py."""

import json
import math
import pickle
import warnings
from pathlib import Path

import pytest

from hpcdl.params import (
    DeepLearningParameters as P,
)
from hpcdl.params import (
    ParameterError,
    check_checkpoint_change,
    parameters_markdown,
    reported_actual_values,
)

# H2O-3 defaults (docs/parameters.md); max_w2 and max_hit_ratio_k are ours.
H2O3_DEFAULTS = {
    "activation": "Rectifier",
    "hidden": [200, 200],
    "epochs": 10,
    "train_samples_per_iteration": -2,
    "target_ratio_comm_to_comp": 0.05,
    "seed": -1,
    "adaptive_rate": True,
    "optimizer": "AUTO",  # optimizer, beta1, beta2, weight_decay: hpcdl's Adam (PyTorch's defaults)
    "beta1": 0.9,
    "beta2": 0.999,
    "weight_decay": 0.0,
    "rho": 0.99,
    "epsilon": 1e-8,
    "rate": 0.005,
    "rate_annealing": 1e-6,
    "rate_decay": 1.0,
    "momentum_start": 0,
    "momentum_ramp": 1e6,
    "momentum_stable": 0,
    "nesterov_accelerated_gradient": True,
    "input_dropout_ratio": 0,
    "hidden_dropout_ratios": None,
    "l1": 0,
    "l2": 0,
    "max_w2": math.inf,
    "initial_weight_distribution": "UniformAdaptive",
    "initial_weight_scale": 1.0,
    "loss": "Automatic",
    "distribution": "AUTO",
    "quantile_alpha": 0.5,
    "tweedie_power": 1.5,
    "huber_alpha": 0.9,
    "score_interval": 5,
    "score_training_samples": 10000,
    "score_validation_samples": 0,
    "score_duty_cycle": 0.1,
    "score_validation_sampling": "Uniform",
    "score_each_iteration": False,
    "score_progress": 0.0,  # hpcdl's progress-following cadence, off: H2O's score_interval
    "classification_stop": 0,
    "regression_stop": 1e-6,
    "stopping_rounds": 5,
    "stopping_metric": "AUTO",
    "stopping_tolerance": 0,
    "max_runtime_secs": 0,
    "overwrite_with_best_model": True,
    "balance_classes": False,
    "class_sampling_factors": None,
    "max_after_balance_size": 5.0,
    "variable_importances": True,
    "fast_mode": True,
    "ignore_const_cols": True,
    "use_all_factor_levels": True,
    "missing_values_handling": "MeanImputation",
    "standardize": True,
    "autoencoder": False,
    "sparse": False,
    "sparsity_beta": 0,
    "average_activation": 0,
    "max_categorical_features": 2147483647,
    "reproducible": False,
    "mini_batch_size": 1,
    "elastic_averaging": False,
    "elastic_averaging_moving_rate": 0.9,
    "elastic_averaging_regularization": 1e-3,
    "export_weights_and_biases": False,
    "diagnostics": True,
    "quiet_mode": False,
    "force_load_balance": True,
    "replicate_training_data": True,
    "single_node_mode": False,
    "shuffle_training_data": False,
    "categorical_encoding": "AUTO",
    "nfolds": 0,
    "fold_column": None,
    "weights_column": None,  # H2O-3 DeepLearningParameters: _weights_column null
    "offset_column": None,
    "fold_assignment": "AUTO",
    "keep_cross_validation_predictions": False,
    "keep_cross_validation_models": True,
    "keep_cross_validation_fold_assignment": False,
    "auc_type": "AUTO",
    "max_confusion_matrix_size": 20,
    "max_hit_ratio_k": 10,
    "checkpoint": None,
    "model_id": None,
    "unseen_level_policy": "NA",
    "classification": None,
    # hpcdl's name for what H2O-3 does without a parameter (one mask seed for all layers)
    "hidden_dropout_masks": "Shared",
}


@pytest.mark.parametrize("name,expected", sorted(H2O3_DEFAULTS.items()))
def test_default_matches_h2o3(name, expected):
    assert getattr(P(), name) == expected


def test_every_declared_parameter_has_a_checked_default():
    assert set(P().to_dict()) == set(H2O3_DEFAULTS)


def test_user_given_and_attribute_access():
    p = P(hidden=(10, 5), epochs=3)
    assert p.hidden == [10, 5] and p.epochs == 3.0 and isinstance(p.epochs, float)
    assert p.user_given == {"hidden", "epochs"}
    assert p["epochs"] == 3.0
    with pytest.raises(AttributeError):
        p.epochs = 4
    p.hidden.append(7)  # a copy: the object stays unchanged
    assert p.hidden == [10, 5]


def test_unknown_name_suggests_close_match():
    with pytest.raises(ParameterError, match="epochs") as e:
        P(epoch=3)
    assert e.value.parameter == "epoch"
    with pytest.raises(ParameterError, match="hidden_dropout_ratios"):
        P(hiden_dropout_ratios=[0.1])
    with pytest.raises(ParameterError, match="unknown parameter 'zzz'"):
        P(zzz=1)


@pytest.mark.parametrize(
    "kw",
    [
        {"hidden": "abc"},
        {"hidden": [10, "a"]},
        {"hidden": [1.5]},
        {"epochs": "x"},
        {"epochs": True},
        {"standardize": "true"},
        {"adaptive_rate": 1},
        {"activation": 3},
        {"seed": 1.5},
        {"model_id": 5},
        {"l1": float("nan")},
    ],
)
def test_wrong_type_names_parameter_and_value(kw):
    ((name, value),) = kw.items()
    with pytest.raises(ParameterError) as e:
        P(**kw)
    assert e.value.parameter == name
    assert name in str(e.value) and repr(value)[:5] in str(e.value)


@pytest.mark.parametrize(
    "name,value,shown",
    [
        ("epochs", 0, "> 0"),
        ("epochs", -1, "> 0"),
        ("input_dropout_ratio", 1.0, "[0, 1)"),
        ("hidden_dropout_ratios", [0.5, 1.0], "[0, 1)"),
        ("hidden", [200, 0], "≥ 1"),
        ("score_duty_cycle", 1.5, "[0, 1]"),
        ("l1", -1e-5, "≥ 0"),
        ("max_w2", 0, "> 0"),
        ("max_categorical_features", 0, "≥ 1"),
        ("nfolds", 1, "0 or ≥ 2"),
        ("train_samples_per_iteration", -3, "≥ -2"),
        ("classification_stop", -0.5, "-1 or [0, 1]"),
        ("momentum_stable", 1.0, "[0, 1)"),
        ("tweedie_power", 2.0, "(1, 2)"),
        ("mini_batch_size", 0, "≥ 1"),
        ("distribution", "quasibinomial", "gaussian"),
        ("loss", "ModifiedHuber", "CrossEntropy"),
    ],
)
def test_out_of_range(name, value, shown):
    with pytest.raises(ParameterError) as e:
        P(**{name: value, "activation": "RectifierWithDropout"} if name == "hidden_dropout_ratios" else {name: value})
    assert e.value.parameter == name
    assert name in str(e.value) and shown in str(e.value)


def test_ranges_accept_edges_and_special_values():
    P(classification_stop=-1, regression_stop=-1, nfolds=0, train_samples_per_iteration=0)
    P(train_samples_per_iteration=-1, input_dropout_ratio=0.0, max_w2=math.inf, score_duty_cycle=1)
    assert P(score_training_samples=1e4).score_training_samples == 10000  # R passes doubles
    assert P(hidden=[]).hidden == []


def test_enum_values_are_case_insensitive():
    p = P(
        activation="rectifierwithdropout",
        loss="crossentropy",
        distribution="Bernoulli",
        stopping_metric="auc",
        missing_values_handling="skip",
    )
    assert (p.activation, p.loss, p.distribution, p.stopping_metric, p.missing_values_handling) == (
        "RectifierWithDropout",
        "CrossEntropy",
        "bernoulli",
        "AUC",
        "Skip",
    )


def test_booklet_aliases():
    p = P(
        override_with_best_model=False,
        neverov_accelerated_gradient=False,
        key="m1",
        activation="TanhWithDropout",
        hidden=[5],
        hidden_dropout_ratio=[0.2],
    )
    assert p.overwrite_with_best_model is False
    assert p.nesterov_accelerated_gradient is False
    assert p.model_id == "m1" and p.hidden_dropout_ratios == [0.2]
    assert "overwrite_with_best_model" in p.user_given
    assert p.override_with_best_model is False  # readable under the alias too
    with pytest.raises(ParameterError, match="twice"):
        P(override_with_best_model=False, overwrite_with_best_model=True)


@pytest.mark.parametrize(
    "kw,name",
    [
        ({"hidden_dropout_ratios": [0.1, 0.1]}, "hidden_dropout_ratios"),  # non-dropout activation
        ({"activation": "TanhWithDropout", "hidden_dropout_ratios": [0.1]}, "hidden_dropout_ratios"),
        ({"sparsity_beta": 0.1}, "sparsity_beta"),
        (
            {"autoencoder": True, "sparsity_beta": 0.1, "activation": "Tanh", "average_activation": 1.0},
            "average_activation",
        ),
        ({"autoencoder": True, "sparsity_beta": 0.1, "average_activation": 0.0}, "average_activation"),
        ({"class_sampling_factors": [1.0, 2.0]}, "class_sampling_factors"),
        ({"autoencoder": True, "loss": "CrossEntropy"}, "loss"),
        ({"autoencoder": True, "activation": "Maxout"}, "activation"),
        ({"autoencoder": True, "nfolds": 3}, "nfolds"),
        ({"autoencoder": True, "stopping_metric": "logloss"}, "stopping_metric"),
        ({"distribution": "gaussian", "loss": "Absolute"}, "loss"),
        ({"distribution": "laplace", "loss": "Huber"}, "loss"),
        ({"adaptive_rate": True, "rho": 0.0}, "rho"),
        ({"adaptive_rate": False, "rate": 0.0}, "rate"),
        ({"nfolds": 3, "fold_column": "f"}, "fold_column"),
        ({"checkpoint": "m", "nfolds": 3}, "nfolds"),
        ({"classification": True, "loss": "Huber"}, "loss"),
        ({"classification": False, "loss": "CrossEntropy"}, "loss"),
    ],
)
def test_cross_parameter_rules(kw, name):
    with pytest.raises(ParameterError) as e:
        P(**kw)
    assert e.value.parameter == name


def test_cross_rules_that_pass():
    P(autoencoder=True, sparsity_beta=0.1, activation="Tanh", average_activation=-0.5)
    P(autoencoder=True, sparsity_beta=0.1, average_activation=0.1)
    P(autoencoder=True, activation="MaxoutWithDropout")  # H2O rejects only plain Maxout
    P(adaptive_rate=False, rho=0.0, epsilon=0.0)
    P(balance_classes=True, class_sampling_factors=[1, 2])


def test_problem_dependent_validation():
    p = P(stopping_metric="AUC")
    p.validate(classification=True, n_classes=2)
    with pytest.raises(ParameterError, match="binary"):
        p.validate(classification=True, n_classes=3)
    with pytest.raises(ParameterError, match="classification only"):
        p.validate(classification=False)
    with pytest.raises(ParameterError, match="regression only"):
        P(stopping_metric="deviance").validate(classification=True, n_classes=2)
    with pytest.raises(ParameterError) as e:
        P(balance_classes=True).validate(classification=False)
    assert e.value.parameter == "balance_classes"
    with pytest.raises(ParameterError) as e:
        P(distribution="gaussian").validate(classification=True, n_classes=2)
    assert e.value.parameter == "distribution"
    with pytest.raises(ParameterError):
        P(distribution="bernoulli").validate(classification=True, n_classes=4)
    with pytest.raises(ParameterError, match="classification"):
        P(classification=False).validate(classification=True, n_classes=2)


# ----- effective parameters (docs/parameters.md) -------------------------------


def test_adaptive_clears_manual_rate_and_momentum_with_warning():
    p = P(momentum_start=0.5, rate=0.01)
    with pytest.warns(UserWarning, match="momentum_start"):
        e = p.effective(classification=False)
    for n in ("rate", "rate_annealing", "rate_decay", "momentum_start", "momentum_ramp", "momentum_stable"):
        assert getattr(e, n) == 0
    assert (e.rho, e.epsilon) == (0.99, 1e-8)


def test_no_warning_when_manual_params_untouched():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P().effective(classification=False)


def test_manual_rate_clears_adadelta():
    e = P(adaptive_rate=False, rate=0.01, momentum_start=0.5).effective(classification=False)
    assert (e.rho, e.epsilon) == (0, 0)
    assert (e.rate, e.momentum_start, e.momentum_ramp) == (0.01, 0.5, 1e6)


def test_with_dropout_default_ratios():
    e = P(activation="MaxoutWithDropout", hidden=[3, 4, 5]).effective(classification=False)
    assert e.hidden_dropout_ratios == [0.5, 0.5, 0.5]
    e = P(activation="TanhWithDropout", hidden=[3, 4], hidden_dropout_ratios=[0.1, 0.2]).effective(classification=False)
    assert e.hidden_dropout_ratios == [0.1, 0.2]
    e = P(activation="Tanh", hidden=[3, 4]).effective(classification=False)
    assert e.hidden_dropout_ratios is None and e.layer_dropout_ratios() == [0.0, 0.0]


def test_autoencoder_forces_all_factor_levels_and_mse():
    e = P(autoencoder=True, use_all_factor_levels=False).effective(classification=False)
    assert e.use_all_factor_levels is True
    assert e.stopping_metric == "MSE"
    assert (e.distribution, e.loss) == ("gaussian", "Quadratic")


@pytest.mark.parametrize(
    "kw,classification,n_classes,dist,loss,metric",
    [
        ({}, True, 2, "bernoulli", "CrossEntropy", "logloss"),
        ({}, True, 5, "multinomial", "CrossEntropy", "logloss"),
        ({"loss": "Quadratic"}, True, 3, "multinomial", "Quadratic", "logloss"),
        ({}, False, None, "gaussian", "Quadratic", "deviance"),
        ({"loss": "Absolute"}, False, None, "laplace", "Absolute", "deviance"),
        ({"loss": "Huber"}, False, None, "huber", "Huber", "deviance"),
        ({"loss": "Quantile"}, False, None, "quantile", "Quantile", "deviance"),
        ({"distribution": "laplace"}, False, None, "laplace", "Absolute", "deviance"),
        ({"distribution": "huber", "stopping_metric": "MAE"}, False, None, "huber", "Huber", "MAE"),
    ],
)
def test_loss_and_distribution_resolution(kw, classification, n_classes, dist, loss, metric):
    e = P(**kw).effective(classification=classification, n_classes=n_classes)
    assert (e.distribution, e.loss, e.stopping_metric) == (dist, loss, metric)
    assert e.classification is classification


def test_effective_node_dependent_and_misc_rules():
    e = P().effective(classification=False, n_nodes=1)
    assert e.replicate_training_data is False and e.single_node_mode is False
    e = P(single_node_mode=True).effective(classification=False, n_nodes=4)
    assert e.replicate_training_data is True and e.single_node_mode is True
    e = P(single_node_mode=True, replicate_training_data=False).effective(classification=False, n_nodes=4)
    assert e.single_node_mode is False
    e = P(nfolds=3).effective(classification=False)
    assert e.overwrite_with_best_model is False and e.fold_assignment == "Random"
    e = P(mini_batch_size=32).effective(classification=False)
    assert e.mini_batch_size == 32  # honoured, unlike H2O
    e = P(reproducible=True).effective(classification=False)
    assert e.score_each_iteration is True and e.train_samples_per_iteration == -1
    assert (
        P(reproducible=True, train_samples_per_iteration=500)
        .effective(classification=False)
        .train_samples_per_iteration
        == 500
    )
    assert e.categorical_encoding == "OneHotInternal"


def test_rectifier_max_w2_cap_only_when_not_user_given():
    assert P().effective(classification=False).max_w2 == 1000
    assert P(activation="Tanh").effective(classification=False).max_w2 == math.inf
    assert P(max_w2=math.inf).effective(classification=False).max_w2 == math.inf
    assert P(max_w2=10).effective(classification=False).max_w2 == 10


def test_effective_rejects_inconsistent_problem():
    with pytest.raises(ParameterError):
        P(autoencoder=True).effective(classification=True, n_classes=2)
    with pytest.raises(ParameterError):
        P().effective(classification=True)  # n_classes missing


# ----- checkpoint --------------------------------------------------------------


def test_checkpoint_change_allowed_for_m_parameters():
    old = P(hidden=[20, 20], epochs=5)
    new = P(
        hidden=[20, 20],
        epochs=50,
        l1=1e-5,
        seed=7,
        score_interval=1,
        loss="Quadratic",
        input_dropout_ratio=0.1,
        stopping_rounds=0,
        overwrite_with_best_model=False,
    )
    check_checkpoint_change(old, new)


def test_checkpoint_change_refused_lists_every_f_parameter():
    old = P(hidden=[200, 200])
    new = P(hidden=[100], activation="Tanh", rho=0.95, epochs=20)
    with pytest.raises(ParameterError) as e:
        check_checkpoint_change(old, new)
    msg = str(e.value)
    assert "cannot change 'hidden' on checkpoint restart: was [200, 200], now [100]" in msg
    assert "'activation'" in msg and "'rho'" in msg and "'epochs'" not in msg


# ----- serialization -----------------------------------------------------------


def test_to_dict_from_dict_round_trip():
    p = P(
        hidden=(7,),
        activation="TanhWithDropout",
        hidden_dropout_ratios=(0.3,),
        epochs=2,
        stopping_metric="mse",
        model_id="x",
    )
    d = p.to_dict()
    allowed = (str, int, float, bool, type(None), list)
    assert all(isinstance(v, allowed) for v in d.values())
    assert all(isinstance(x, (int, float)) for v in d.values() if isinstance(v, list) for x in v)
    q = P.from_dict(json.loads(json.dumps(d)))
    assert q == p
    assert P.from_dict(p.to_dict(user_given_only=True)) == p
    assert P.from_dict(p.to_dict(user_given_only=True)).user_given == p.user_given


def test_effective_round_trips_and_pickles():
    e = P(activation="RectifierWithDropout", hidden=[3]).effective(classification=True, n_classes=3)
    assert P.from_dict(e.to_dict()) == e
    r = pickle.loads(pickle.dumps(e))
    assert r == e and r.user_given == e.user_given


def test_docs_table_is_generated_from_declarations():
    doc = Path(__file__).resolve().parents[1] / "docs" / "parameters.md"
    assert parameters_markdown() in doc.read_text(encoding="utf-8")


# ----- optimizer="Adam" (an hpcdl extension) ---------------------------------------


def test_adam_replaces_adadelta_and_momentum():
    eff = P(optimizer="adam").effective(classification=True, n_classes=3)
    assert (eff.optimizer, eff.adaptive_rate, eff.rate, eff.beta1, eff.beta2, eff.epsilon) == (
        "Adam",
        False,
        0.001,
        0.9,
        0.999,
        1e-8,
    )
    assert P(optimizer="Adam", rate=0.01).effective(classification=True, n_classes=3).rate == 0.01
    plain = P().effective(classification=True, n_classes=3)
    assert plain.optimizer == "AUTO" and plain.adaptive_rate  # H2O's default is unchanged
    assert P(**eff.to_dict()).effective(classification=True, n_classes=3) == eff  # a model file's round trip


@pytest.mark.parametrize(
    "given,named",
    [
        ({"optimizer": "Adam", "rho": 0.9}, "rho"),
        ({"optimizer": "Adam", "momentum_stable": 0.9}, "momentum_stable"),
        ({"optimizer": "Adam", "nesterov_accelerated_gradient": False}, "nesterov_accelerated_gradient"),
        ({"optimizer": "Adam", "epsilon": 0.0}, "epsilon"),
        ({"beta1": 0.5}, "beta1"),
        ({"adaptive_rate": False, "weight_decay": 0.1}, "weight_decay"),
    ],
)
def test_adam_contradictions_name_the_parameter(given, named):
    with pytest.raises(ParameterError, match=named) as info:
        P(**given)
    assert info.value.parameter == named


# model.parms as H2O-3 3.46.0.12 reports it (input_value, actual_value of every parameter), measured by
# tests/data/h2o_parity/measure_h2o_parity.py (h2o.init(ip="127.0.0.1", nthreads=2); the trimmed output is
# tests/data/h2o_parity/h2o_parity.json). The cross-validated cases are checked end to end in test_cv.py.
H2O_PARITY = Path(__file__).parent / "data" / "h2o_parity" / "h2o_parity.json"
# differences listed in docs/differences.md ("model.parms"): max_w2's default is +inf (H2O-3: Float.MAX_VALUE,
# and Rectifier's cap of 1000 that H2O-3 intends but never applies); model_id/response_column carry no
# __meta/URL (compared by name below)
_PARMS_DIFFER_ON_PURPOSE = {"max_w2", "model_id", "response_column"}
_PARMS_CASES = {  # case -> (hpcdl parameters as measure_h2o_parity.py gave them to H2O-3, classification, n_classes)
    "binomial": (dict(hidden=[5], epochs=1, seed=1), True, 2),
    "multinomial": (dict(hidden=[5], epochs=1, seed=1, activation="TanhWithDropout"), True, 3),
    "regression": (dict(hidden=[5], epochs=1, seed=1, reproducible=True), False, None),
    "regression_huber": (dict(hidden=[5], epochs=1, seed=1, loss="Huber"), False, None),
    "manual_rate": (
        dict(
            hidden=[5],
            epochs=1,
            seed=1,
            adaptive_rate=False,
            rate=0.01,
            momentum_start=0.5,
            activation="RectifierWithDropout",
            hidden_dropout_ratios=[0.2],
        ),
        False,
        None,
    ),
    "autoencoder": (dict(hidden=[5], epochs=1, seed=1, autoencoder=True), False, None),
}


def _same_parm(h2o, ours) -> bool:
    if isinstance(h2o, list) and isinstance(ours, list):
        return [float(a) for a in h2o] == [float(b) for b in ours]
    if isinstance(h2o, float) or isinstance(ours, float):
        return h2o is not None and ours is not None and float(h2o) == float(ours)
    return h2o == ours


@pytest.mark.parametrize("case", sorted(_PARMS_CASES))
def test_reported_actual_values_are_h2o3s(case):
    kw, classification, n_classes = _PARMS_CASES[case]
    h2o = json.loads(H2O_PARITY.read_text())["parms"][case]
    given = P(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # adaptive_rate=True ignoring nothing here; keep the run quiet
        eff = given.effective(classification=classification, n_classes=n_classes)
    actual = reported_actual_values(given, eff)
    inputs = given.to_dict()
    compared = 0
    for name, h in h2o.items():
        if name not in actual or name in _PARMS_DIFFER_ON_PURPOSE:
            continue
        assert _same_parm(h["actual"], actual[name]), f"{case} {name}: H2O-3 {h['actual']!r}, hpcdl {actual[name]!r}"
        assert _same_parm(h["input"], inputs[name]), f"{case} {name}: H2O-3 input {h['input']!r}"
        compared += 1
    assert compared >= 70  # every parameter both have (76)
    if "loss" not in kw:  # what training reads is not what H2O-3 reports (the rule above is no no-op)
        assert eff["loss"] != "Automatic" and actual["loss"] == "Automatic"
