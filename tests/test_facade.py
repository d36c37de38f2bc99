"""One way to train (hpcdl/api.py): the API, jobs and grids call one function; the parameters
object is the only gate; a response is required; the runner's outcome becomes an exit code in
the CLI only."""

import ast
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hpcdl
from hpcdl import api, cli
from hpcdl.comm import SerialComm
from hpcdl.estimators import H2ODeepLearningEstimator, H2OGridSearch
from hpcdl.jobs import Job, JobError, load_job
from hpcdl.params import CV_ON_CHECKPOINT, ParameterError
from hpcdl.runner import Outcome, Status, run_job

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")
IRIS = os.path.join(DATA, "iris_wheader.csv")
FAST = {"hidden": [4], "epochs": 2, "seed": 3, "reproducible": True, "quiet_mode": True, "threads": 1}
MISSING = "/nonexistent/never/read.csv"


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    return hpcdl.import_file(IRIS, destination=str(tmp_path_factory.mktemp("iris") / "iris.h5"))


# -- item 4: a response is required ---------------------------------------------------------------
def test_no_response_is_an_error_naming_y_before_any_frame_is_read(iris):
    with pytest.raises(ParameterError, match=r"^y \(the response column\) is required unless autoencoder=True"):
        hpcdl.deeplearning(training_frame=MISSING, **FAST)  # the frame is never opened
    with pytest.raises(ParameterError, match="y .the response column. is required") as info:
        hpcdl.deeplearning(training_frame=iris, **FAST)  # used to train a 1-output model on zeros
    assert info.value.parameter == "y"
    with pytest.raises(Exception, match="read.csv"):  # an autoencoder needs no y: the error is the missing file
        hpcdl.deeplearning(training_frame=MISSING, autoencoder=True, **FAST)


def test_the_response_must_be_a_column_and_not_a_predictor(iris):
    with pytest.raises(ParameterError, match=r"response column y='clas' not found \(did you mean 'class'\?\)"):
        hpcdl.deeplearning(y="clas", training_frame=iris, **FAST)
    with pytest.raises(ParameterError, match=r"y='class' is also listed in x; the response cannot be a predictor"):
        hpcdl.deeplearning(x=["sepal_len", "class"], y="class", training_frame=iris, **FAST)
    with pytest.raises(ParameterError, match=r"x: column\(s\) \['petal_width'\] not found"):
        hpcdl.deeplearning(x=["petal_width"], y="class", training_frame=iris, **FAST)
    # an autoencoder may list y among its inputs (booklet 4.2): it reconstructs it
    model = hpcdl.deeplearning(x=["sepal_len", "class"], y="class", training_frame=iris, autoencoder=True, **FAST)
    assert model.kind == "autoencoder" and "class" in model.dinfo.predictors


# -- item 6: the parameters object is the only gate ----------------------------------------------
@pytest.mark.parametrize("kw", [{"distribution": "poisson"}, {"elastic_averaging": True}, {"distribution": "gamma"}])
def test_unsupported_values_are_refused_before_a_frame_is_read(kw):
    with pytest.raises(ParameterError, match="is not supported by hpcdl") as info:
        hpcdl.deeplearning(y="y", training_frame=MISSING, **kw)
    assert info.value.parameter == next(iter(kw))
    with pytest.raises(ParameterError, match="is not supported by hpcdl"):  # and in grids, for fixed values
        hpcdl.grid(y="y", training_frame=MISSING, hyper_params={"l1": [0.0, 1e-4]}, **kw)


def test_checkpoint_with_cross_validation_is_refused_by_the_api_and_by_a_job_alike(iris, tmp_path):
    model = hpcdl.deeplearning(y="class", training_frame=iris, **FAST)
    for cv in ({"fold_column": "class"}, {"nfolds": 3}):
        with pytest.raises(ParameterError) as info:
            hpcdl.deeplearning(y="class", training_frame=MISSING, checkpoint=model, **{**FAST, **cv})
        assert str(info.value) == CV_ON_CHECKPOINT
    job = tmp_path / "cv.toml"  # the job used to run CV from scratch and ignore the checkpoint
    job.write_text(
        f'[data]\ntraining_frame = "{MISSING}"\ny = "class"\n'
        f'[parameters]\ncheckpoint = "{tmp_path / "m.h5"}"\nfold_column = "class"\n'
    )
    with pytest.raises(JobError) as info:
        load_job(str(job))
    assert str(info.value) == f"{job}:6: [parameters] fold_column: {CV_ON_CHECKPOINT}"


def _iris_job(tmp_path, name, **parameters):
    return Job(
        path=str(tmp_path / f"{name}.toml"),
        name=name,
        output_dir=str(tmp_path / name),
        threads=1,
        checkpoint_interval=0.0,
        quiet=True,
        data={"training_frame": IRIS, "y": "class"},
        parameters={k: v for k, v in parameters.items() if k != "threads"},
    )


@pytest.mark.parametrize("extra", [{}, {"nfolds": 2}])
def test_a_job_trains_exactly_the_model_the_api_trains(iris, tmp_path, capsys, extra):
    params = {**FAST, **extra}
    outcome = run_job(_iris_job(tmp_path, "job", **params))
    assert outcome.status is Status.FINISHED
    saved = hpcdl.load_model(str(tmp_path / "job" / "job.h5"))
    direct = hpcdl.deeplearning(y="class", training_frame=iris, model_id="job", **params)
    assert np.array_equal(saved.net.buffer, direct.net.buffer)
    assert saved.scoring_events[-1]["training_logloss"] == direct.scoring_events[-1]["training_logloss"]
    assert bool(saved.cross_validation_metrics) == bool(direct.cross_validation_metrics) == bool(extra)
    for key in ("MSE", "logloss") if extra else ():
        assert saved.cross_validation_metrics[key] == direct.cross_validation_metrics[key]


def test_every_way_to_train_goes_through_the_facade(iris, tmp_path, monkeypatch, capsys):
    calls = []
    real = api.train_model

    def spy(params, *args, **kw):
        calls.append(params.model_id)
        return real(params, *args, **kw)

    monkeypatch.setattr(api, "train_model", spy)
    hpcdl.deeplearning(y="class", training_frame=iris, model_id="a", **FAST)
    run_job(_iris_job(tmp_path, "b", **FAST))
    hpcdl.grid(
        y="class", training_frame=iris, hyper_params={"l1": [0.0, 1e-4]}, grid_id="g", **FAST
    )  # grid's _train_one
    fast = {k: v for k, v in FAST.items() if k != "threads"}
    H2ODeepLearningEstimator(model_id="e", **fast).train(y=4, training_frame=iris, threads=1)  # H2O-3's estimator
    H2OGridSearch(H2ODeepLearningEstimator(**fast), {"l1": [0.0]}, grid_id="hg").train(y=4, training_frame=iris)
    assert calls == ["a", "b", "g_model_1", "g_model_2", "e", "hg_model_1"]


def test_library_code_never_imports_the_cli():
    """Only the command line (cli.py, commands/) turns outcomes into exit codes."""
    root = Path(hpcdl.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel == "cli.py" or rel.startswith("commands/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                target = "." * node.level + (node.module or "")
                if target.endswith("cli") or any(a.name == "cli" for a in node.names):
                    offenders.append(f"{rel}:{node.lineno}")
            elif isinstance(node, ast.Import) and any(a.name == "hpcdl.cli" for a in node.names):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []
    code = "import sys, hpcdl, hpcdl.runner, hpcdl.api, hpcdl.lifecycle; assert 'hpcdl.cli' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "HPCDL_NO_MPI": "1"})


def test_only_the_cli_maps_an_outcome_to_an_exit_code(iris, capsys):
    model = hpcdl.deeplearning(y="class", training_frame=iris, **FAST)
    comm = SerialComm()
    assert cli.report_outcome(Outcome(Status.FINISHED, model=model), comm, False, None) == 0
    assert (
        cli.report_outcome(Outcome(Status.DIVERGED, model=model, message="training diverged"), comm, False, None) == 1
    )
    assert "hpcdl train: error: training diverged" in capsys.readouterr().err
    stopped = {"model": model, "checkpoint": "c.h5"}
    assert cli.report_outcome(Outcome(Status.STOPPED, signal=signal.SIGTERM, **stopped), comm, False, "R") == 3
    assert cli.report_outcome(Outcome(Status.STOPPED, signal=signal.SIGUSR1, **stopped), comm, False, "R") == 3
    assert cli.report_outcome(Outcome(Status.STOPPED, signal=signal.SIGINT, **stopped), comm, False, "R") == 130
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all("checkpoint c.h5; continue with: R" in line for line in lines)
    assert "(SIGINT)" in lines[2] and "(exit code 130)" in lines[2]
