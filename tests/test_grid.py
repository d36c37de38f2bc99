"""Grid search: size and order, one parameter across models, random search limits, failures, save/load, jobs."""

import itertools
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import hpcdl
from hpcdl.frame import frame_from_numpy
from hpcdl.fsutil import OutputError
from hpcdl.grid import GridError, combinations, load_grid
from hpcdl.params import ParameterError, reject_grid_values

REPO = os.path.dirname(os.path.dirname(os.path.abspath(hpcdl.__file__)))


def _binomial(path, n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=n) > 0).astype(int)
    cols = {f"x{i}": X[:, i] for i in range(4)}
    cols["y"] = np.array(["no", "yes"])[y]
    return frame_from_numpy(cols, str(path))


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    d = tmp_path_factory.mktemp("grid")
    return _binomial(d / "train.h5", seed=0), _binomial(d / "valid.h5", n=200, seed=1)


FAST = {"epochs": 2, "seed": 7, "threads": 1, "score_training_samples": 0, "stopping_rounds": 0}


def test_cartesian_grid_has_every_combination_sorted_best_first(frames):
    train, valid = frames
    hyper = {"hidden": [[3], [8, 4]], "l1": [0.0, 1e-3], "activation": ["Tanh", "Rectifier"]}
    g = hpcdl.grid(y="y", training_frame=train, validation_frame=valid, hyper_params=hyper, grid_id="g1", **FAST)
    assert len(g) == 8 and not g.failed
    seen = sorted((json.dumps(e.hyper["hidden"]), e.hyper["l1"], e.hyper["activation"]) for e in g.succeeded)
    expected = sorted((json.dumps(h), l1, a) for h, l1, a in itertools.product(*hyper.values()))
    assert seen == expected
    assert sorted(g.model_ids) == sorted(f"g1_model_{i}" for i in range(1, 9))
    # default order: validation logloss ascending, and each entry's value is the model's own validation logloss
    assert g.sort_metric == "logloss"
    values = [e.metrics["logloss"] for e in g.succeeded]
    assert values == sorted(values)
    for e, m in zip(g.succeeded, g.models):
        assert e.metric_source == "valid"
        assert e.metrics["logloss"] == pytest.approx(m.model_performance(valid)["logloss"], rel=1e-9)
        assert m.params.hidden == e.hyper["hidden"] and m.params.activation == e.hyper["activation"]
    assert g[0] is g.models[0]
    assert g.get_model("g1_model_3").model_id == "g1_model_3"
    with pytest.raises(GridError, match="no model"):
        g.get_model("nope")
    by_auc = g.sorted_by("AUC", decreasing=True)
    aucs = [e.metrics["AUC"] for e in by_auc.succeeded]
    assert aucs == sorted(aucs, reverse=True)
    assert "ordered by decreasing AUC" in str(by_auc)


def test_get_param_across_models_like_the_booklets_lapply(frames):
    train, _ = frames
    g = hpcdl.grid(y="y", training_frame=train, hyper_params={"l1": [1e-5, 1e-3, 0.0]}, hidden=[4], **FAST)
    l1 = g.get_param("l1")
    assert sorted(l1) == [0.0, 1e-5, 1e-3]
    assert l1 == [m.params.l1 for m in g.models]  # aligned with the sorted models
    assert g.get_param("hidden") == [[4]] * 3  # a fixed parameter
    assert g.get_param("rho") == [0.99] * 3  # a default
    assert g.get_param("rate", effective=True) == [0.0] * 3  # adaptive_rate: the manual rate is not used


def test_regression_grid_sorts_by_mean_residual_deviance(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    train = frame_from_numpy(
        {"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "t": 2 * X[:, 0] + X[:, 1]}, str(tmp_path / "r.h5")
    )
    g = hpcdl.grid(y="t", training_frame=train, hyper_params={"hidden": [[2], [10]]}, **FAST)
    assert g.sort_metric == "mean_residual_deviance" and g.kind == "regression"
    dev = [e.metrics["mean_residual_deviance"] for e in g.succeeded]
    assert dev == sorted(dev)
    for e, m in zip(g.succeeded, g.models):  # training metrics stand in without a validation frame
        assert e.metric_source == "train"
        assert e.metrics["mean_residual_deviance"] == m.training_metrics["mean_residual_deviance"]


def test_random_search_max_models_and_seed(frames):
    train, _ = frames
    hyper = {"hidden": [[2], [3], [4]], "l1": [0.0, 1e-4, 1e-3, 1e-2]}
    crit = {"strategy": "RandomDiscrete", "max_models": 5, "seed": 11}
    g1 = hpcdl.grid(y="y", training_frame=train, hyper_params=hyper, search_criteria=crit, **FAST)
    g2 = hpcdl.grid(y="y", training_frame=train, hyper_params=hyper, search_criteria=crit, **FAST)
    assert len(g1) == 5
    combos1 = [(json.dumps(e.hyper["hidden"]), e.hyper["l1"]) for e in sorted(g1.entries, key=lambda e: e.index)]
    combos2 = [(json.dumps(e.hyper["hidden"]), e.hyper["l1"]) for e in sorted(g2.entries, key=lambda e: e.index)]
    assert combos1 == combos2  # the seed fixes the draw
    assert len(set(combos1)) == 5  # without repetition
    # the generator itself: all 12 combinations, each once, in a seed-dependent order
    full = [tuple(json.dumps(v) for v in c.values()) for _, c in combinations(hyper, "RandomDiscrete", 11)]
    assert len(full) == 12 and len(set(full)) == 12
    other = [tuple(json.dumps(v) for v in c.values()) for _, c in combinations(hyper, "RandomDiscrete", 12)]
    assert other != full and sorted(other) == sorted(full)
    cart = [tuple(json.dumps(v) for v in c.values()) for _, c in combinations(hyper, "Cartesian", 0)]
    assert cart == [(json.dumps(h), json.dumps(l)) for h, l in itertools.product(*hyper.values())]


def test_random_search_max_runtime_secs_stops_the_grid_and_caps_models(frames):
    train, _ = frames
    hyper = {"hidden": [[16], [17], [18], [19], [20], [21]], "l1": [0.0, 1e-4]}  # 12 combinations
    t0 = time.time()
    g = hpcdl.grid(
        y="y",
        training_frame=train,
        hyper_params=hyper,
        search_criteria={"strategy": "RandomDiscrete", "max_runtime_secs": 1.0, "seed": 1},
        epochs=100000,
        seed=7,
        threads=1,
        stopping_rounds=0,
        score_interval=0.2,
    )
    elapsed = time.time() - t0
    assert 1 <= len(g.entries) < 12
    assert elapsed < 15
    for m in g.models:  # each model got at most what was left of the grid's budget
        assert 0 < m.effective["max_runtime_secs"] <= 1.0
        assert m.run_info["stop_reason"] == "max_runtime_secs"


def test_a_failing_model_is_recorded_and_the_grid_goes_on(frames, tmp_path):
    train, _ = frames
    g = hpcdl.grid(y="y", training_frame=train, hyper_params={"l1": [1e-4, -1.0, 0.0]}, grid_id="f", hidden=[3], **FAST)
    assert len(g) == 2 and len(g.failed) == 1
    bad = g.failed[0]
    assert bad.model_id == "f_model_2" and bad.hyper == {"l1": -1.0}
    assert "ParameterError" in bad.error and "l1" in bad.error
    assert "Failed models (1)" in str(g) and "f_model_2" in str(g)
    with pytest.raises(GridError, match="failed"):
        g.get_model("f_model_2")
    g.save(str(tmp_path / "saved"))
    rows = (tmp_path / "saved" / "summary.csv").read_text().strip().splitlines()
    assert len(rows) == 4 and rows[-1].startswith("f_model_2") and "failed" in rows[-1]


def test_save_and_load_grid_round_trip(frames, tmp_path):
    train, valid = frames
    g = hpcdl.grid(
        y="y", training_frame=train, validation_frame=valid, hyper_params={"hidden": [[2], [5]]}, grid_id="s", **FAST
    )
    out = str(tmp_path / "gdir")
    g.save(out)
    assert sorted(os.listdir(out)) == ["s_model_1.h5", "s_model_2.h5", "summary.csv", "summary.json"]
    back = load_grid(out)
    assert back.model_ids == g.model_ids and back.sort_metric == "logloss"
    for a, b in zip(g.models, back.models):
        pa = a.predict(valid).as_data_frame()
        pb = b.predict(valid).as_data_frame()
        np.testing.assert_array_equal(pa["yes"].to_numpy(), pb["yes"].to_numpy())
    assert back.get_param("hidden") == g.get_param("hidden")
    with pytest.raises(OutputError, match="file exists; use --force"):
        g.save(out)
    g.save(out, force=True)
    with pytest.raises(OutputError, match="standard output"):
        g.save("-")


def test_deeplearning_rejects_lists_and_points_at_grid(frames):
    train, _ = frames
    with pytest.raises(ParameterError, match="hpcdl.grid"):
        hpcdl.deeplearning(y="y", training_frame=train, l1=[1e-5, 1e-7], **FAST)
    with pytest.raises(ParameterError, match="hpcdl.grid"):
        hpcdl.deeplearning(y="y", training_frame=train, hidden=[[10, 10], [20]], **FAST)
    reject_grid_values({"hidden": [10, 10], "hidden_dropout_ratios": [0.1, 0.2], "l1": 1e-5})  # one model: fine


def test_bad_grid_specifications_are_named(frames):
    train, _ = frames
    with pytest.raises(GridError, match="list of lists"):
        hpcdl.grid(y="y", training_frame=train, hyper_params={"hidden": [10, 20]})
    with pytest.raises(GridError, match="both as a fixed parameter"):
        hpcdl.grid(y="y", training_frame=train, hyper_params={"l1": [0.0, 1e-3]}, l1=1e-4)
    with pytest.raises(ParameterError, match="did you mean 'l1'"):
        hpcdl.grid(y="y", training_frame=train, hyper_params={"ll1": [0.0]})
    with pytest.raises(GridError, match="unknown key"):
        hpcdl.grid(y="y", training_frame=train, hyper_params={"l1": [0.0]}, search_criteria={"max_model": 2})
    with pytest.raises(GridError, match="strategy"):
        hpcdl.grid(y="y", training_frame=train, hyper_params={"l1": [0.0]}, search_criteria={"strategy": "Grid"})
    with pytest.raises(GridError, match="parallelism"):
        hpcdl.grid(y="y", training_frame=train, hyper_params={"l1": [0.0]}, parallelism=2)
    with pytest.raises(GridError, match="empty"):
        hpcdl.grid(y="y", training_frame=train, hyper_params={"l1": []})


def test_job_file_with_grid_table_runs_the_grid(frames, tmp_path):
    train, _ = frames
    job = tmp_path / "g.toml"
    job.write_text(f"""
[job]
name = "jg"
output_dir = "{tmp_path / "out"}"
[data]
training_frame = "{train.path}"
y = "y"
[parameters]
epochs = 2
seed = 3
hidden = [3]
[grid]
l1 = [0.0, 1e-3, -5.0]
[search_criteria]
strategy = "Cartesian"
""")
    res = subprocess.run(
        [sys.executable, "-m", "hpcdl.cli", "train", str(job), "--threads", "1", "--json"],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [m["status"] for m in doc["models"]] == ["ok", "ok", "failed"]
    saved = load_grid(str(tmp_path / "out" / "grid"))
    assert sorted(saved.model_ids) == ["jg_model_1", "jg_model_2"]
    res = subprocess.run(
        [sys.executable, "-m", "hpcdl.cli", "grid", str(tmp_path / "out" / "grid")],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert res.returncode == 0 and "jg_model_1" in res.stdout and "Failed models (1)" in res.stdout
    # hpcdl grid JOB with a grid. override: a random subset of a bigger space
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpcdl.cli",
            "grid",
            str(job),
            "--threads",
            "1",
            "--quiet",
            "--set",
            "grid.l1=[0.0, 1e-4, 1e-3]",
            "--set",
            "search_criteria.strategy='RandomDiscrete'",
            "--set",
            "search_criteria.max_models=2",
            "--output-dir",
            str(tmp_path / "out2"),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert len(load_grid(str(tmp_path / "out2" / "grid"))) == 2
    job.write_text(job.read_text().replace("[grid]\nl1 = [0.0, 1e-3, -5.0]\n", ""))
    res = subprocess.run(
        [sys.executable, "-m", "hpcdl.cli", "grid", str(job)],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert res.returncode != 0 and "no [grid] table" in res.stderr


def test_grid_with_cross_validation_sorts_on_xval_metrics(frames):
    train, _ = frames
    g = hpcdl.grid(y="y", training_frame=train, hyper_params={"hidden": [[2], [6]]}, nfolds=2, **FAST)
    for e, m in zip(g.succeeded, g.models):
        assert e.metric_source == "xval"
        assert e.metrics["logloss"] == m.cross_validation_metrics["logloss"]
        assert not math.isnan(e.metrics["logloss"])


def test_grid_level_early_stopping_rule():
    from hpcdl.grid import GridEntry, _should_stop_early, check_search_criteria

    def entries(values):
        return [
            GridEntry(index=i + 1, model_id=f"m{i + 1}", hyper={}, kind="binomial", metrics={"logloss": v})
            for i, v in enumerate(values)
        ]

    crit = check_search_criteria({"strategy": "RandomDiscrete", "stopping_rounds": 2})
    assert crit.stopping_tolerance == 1e-3  # the grid's default tolerance
    assert not _should_stop_early(entries([0.9, 0.8, 0.7]), crit)  # fewer than 2k models
    assert not _should_stop_early(entries([0.9, 0.8, 0.7, 0.6]), crit)  # the best keeps improving
    assert _should_stop_early(entries([0.5, 0.6, 0.7, 0.8, 0.9]), crit)  # no better model in the last rounds
    assert not _should_stop_early(entries([0.5, 0.6, 0.7, 0.8, 0.9]), check_search_criteria({}))  # off by default
