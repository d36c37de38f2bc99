"""H2O-3 Deep Learning parameters hpcdl lacks (params.NOT_SUPPORTED): at their H2O-3 default they are
no-ops (H2O-3 scripts and model.params round-trips pass them), any other value is refused with the
reason, one message wherever it comes from (Python API, estimators, grid, job file, --set)."""

import os
import re
from pathlib import Path

import pytest

import hpcdl
from hpcdl.estimators import H2ODeepLearningEstimator
from hpcdl.grid import grid
from hpcdl.jobs import JobError, load_job
from hpcdl.params import (
    NOT_SUPPORTED,
    NOT_SUPPORTED_DEFAULTS,
    DeepLearningParameters,
    ParameterError,
    check_value,
    lookup,
)
from hpcdl.sklearn import DeepLearningClassifier

DOCS = Path(__file__).parent.parent / "docs"
IRIS = os.path.join(os.path.dirname(hpcdl.__file__), "datasets", "iris_wheader.csv")

# H2O-3 3.46's H2ODeepLearningEstimator properties that hpcdl lacks (its data arguments aside): the
# properties of h2o.estimators.deeplearning in /work/h2ovenv less hpcdl's names, listed 2026-12-08.
H2O3_ONLY = {
    "initial_weights",
    "initial_biases",
    "pretrained_autoencoder",
    "custom_metric_func",
    "export_checkpoints_dir",
    "gainslift_bins",
    "col_major",
}
# a value each that asks for something hpcdl does not do
NON_DEFAULT = {
    "initial_weights": ["w1", "w2"],
    "initial_biases": ["b1", "b2"],
    "pretrained_autoencoder": "ae_model",
    "custom_metric_func": "python:mm=custom_metrics.Mae",
    "export_checkpoints_dir": "/tmp/checkpoints",
    "gainslift_bins": 10,
    "col_major": True,
}


def _message(name, value):
    with pytest.raises(ParameterError) as info:
        DeepLearningParameters(**{name: value})
    return str(info.value)


def test_every_h2o3_only_parameter_has_a_reason_and_a_default():
    assert set(NOT_SUPPORTED) == H2O3_ONLY == set(NOT_SUPPORTED_DEFAULTS) == set(NON_DEFAULT)
    # H2O-3's defaults (h2o-py/h2o/estimators/deeplearning.py): None, gainslift_bins -1, col_major False
    assert NOT_SUPPORTED_DEFAULTS["gainslift_bins"] == -1 and NOT_SUPPORTED_DEFAULTS["col_major"] is False


def test_the_h2o3_defaults_are_accepted_as_no_ops():
    p = DeepLearningParameters(hidden=[3], **NOT_SUPPORTED_DEFAULTS)
    assert p.user_given == {"hidden"}
    assert p == DeepLearningParameters(hidden=[3])
    for name, default in NOT_SUPPORTED_DEFAULTS.items():
        assert check_value(name, default) == default


@pytest.mark.parametrize("name", sorted(NON_DEFAULT))
def test_another_value_is_refused_with_the_reason_not_a_typo_hint(name):
    msg = _message(name, NON_DEFAULT[name])
    assert msg == f"{name}={NON_DEFAULT[name]!r}: {NOT_SUPPORTED[name]} (see docs/differences.md)"
    assert "did you mean" not in msg and "unknown" not in msg
    with pytest.raises(ParameterError) as info:
        check_value(name, NON_DEFAULT[name])
    assert str(info.value) == msg
    with pytest.raises(ParameterError, match=rf"^{name}: "):  # asked about by name alone (a grid's hyper_params)
        lookup(name)


@pytest.mark.parametrize("name, value", [("col_major", 0), ("gainslift_bins", -1.5), ("gainslift_bins", True)])
def test_only_the_default_itself_is_a_no_op(name, value):
    assert _message(name, value).startswith(f"{name}={value!r}: {NOT_SUPPORTED[name]}")


def test_the_h2o_estimator_accepts_defaults_and_refuses_values_with_the_same_message():
    est = H2ODeepLearningEstimator(hidden=[3], col_major=False, initial_weights=None, gainslift_bins=-1)
    assert est.col_major is False and est.initial_weights is None and est.gainslift_bins == -1
    est.export_checkpoints_dir = None  # H2O-3 scripts set parameters as attributes too
    for name, value in NON_DEFAULT.items():
        with pytest.raises(ParameterError) as info:
            H2ODeepLearningEstimator(**{name: value})
        assert str(info.value) == _message(name, value)
        with pytest.raises(ParameterError) as info:
            setattr(est, name, value)
        assert str(info.value) == _message(name, value)


def test_the_sklearn_estimators_give_the_reason():
    with pytest.raises(TypeError, match=re.escape(NOT_SUPPORTED["col_major"])):
        DeepLearningClassifier(col_major=True)


def test_a_grid_accepts_defaults_and_refuses_values():
    with pytest.raises(ParameterError) as info:
        grid(training_frame=IRIS, y="class", hyper_params={"hidden": [[3]]}, gainslift_bins=10)
    assert str(info.value) == _message("gainslift_bins", 10)
    with pytest.raises(ParameterError, match=r"^initial_weights: "):
        grid(training_frame=IRIS, y="class", hyper_params={"initial_weights": [None, ["w"]]})
    # the defaults pass the fixed parameters' checks: the error is a later one, parallelism's
    with pytest.raises(Exception, match="parallelism") as info:
        grid(training_frame=IRIS, y="class", hyper_params={"hidden": [[3]]}, parallelism=9, col_major=False)
    assert "col_major" not in str(info.value)


def _job_file(tmp_path, parameters):
    path = tmp_path / "j.toml"
    path.write_text(
        f'[job]\nname = "j"\noutput_dir = "{tmp_path / "out"}"\n'
        f'[data]\ntraining_frame = "{IRIS}"\ny = "class"\n'
        f"[parameters]\nhidden = [3]\n{parameters}\n"
    )
    return str(path)


def test_a_job_file_accepts_defaults_and_names_file_and_line_for_values(tmp_path):
    path = _job_file(tmp_path, "col_major = false\ngainslift_bins = -1")
    load_job(path)  # no error
    path = _job_file(tmp_path, 'export_checkpoints_dir = "/tmp/c"')
    with pytest.raises(JobError) as info:
        load_job(path)
    assert str(info.value) == f"{path}:9: [parameters] export_checkpoints_dir: " + _message(
        "export_checkpoints_dir", "/tmp/c"
    )


def test_set_accepts_defaults_and_names_the_argument_for_values(tmp_path):
    path = _job_file(tmp_path, "")
    load_job(path, ["col_major=false", "gainslift_bins=-1"])  # no error
    with pytest.raises(JobError) as info:
        load_job(path, ["col_major=true"])
    assert str(info.value) == f"--set col_major=true: {_message('col_major', True)}"


def test_the_docs_list_every_one():
    differences = (DOCS / "differences.md").read_text().split("## Not supported")[1].split("\n## ")[0]
    python_api = (DOCS / "python-api.md").read_text()
    for name in NOT_SUPPORTED:
        assert re.search(rf"^\|[^\n]*`{name}\b", differences, re.M), name
        assert f"`{name}`" in python_api, name
