"""Cross-validation: fold assignment, fold models on row subsets, CV metrics, main-model epochs, errors."""

import numpy as np
import pytest

import hpcdl
from hpcdl.cv import (
    CrossValidationError,
    fold_column_folds,
    modulo_folds,
    random_folds,
    stratified_folds,
)
from hpcdl.frame import frame_from_numpy
from hpcdl.params import ParameterError


def _data(n=400, seed=0, positive_share=0.3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    score = X[:, 0] + 0.5 * X[:, 1] + 0.7 * rng.normal(size=n)
    y = (score > np.quantile(score, 1 - positive_share)).astype(int)
    return X, y


@pytest.fixture(scope="module")
def binomial(tmp_path_factory):
    d = tmp_path_factory.mktemp("cv")
    X, y = _data()
    cols = {"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": np.array(["n", "p"])[y], "fold": np.arange(len(y)) % 4}
    return frame_from_numpy(cols, str(d / "train.h5")), X, y, d


def test_random_folds_are_balanced_and_seeded():
    f = random_folds(5000, 5, seed=42)
    counts = np.bincount(f, minlength=5)
    assert counts.sum() == 5000 and f.min() == 0 and f.max() == 4
    assert np.all(np.abs(counts - 1000) < 4 * np.sqrt(5000 * 0.2 * 0.8))  # binomial: within 4 sd
    np.testing.assert_array_equal(f, random_folds(5000, 5, seed=42))
    assert (f != random_folds(5000, 5, seed=43)).mean() > 0.5


def test_modulo_folds():
    np.testing.assert_array_equal(modulo_folds(7, 3), [0, 1, 2, 0, 1, 2, 0])


def test_stratified_folds_keep_class_proportions():
    rng = np.random.default_rng(0)
    y = rng.permutation(np.repeat([0, 1, 2], [603, 290, 107]))
    k = 5
    f = stratified_folds(y, k, seed=1)
    sizes = np.bincount(f, minlength=k)
    assert sizes.max() - sizes.min() <= 1
    for c, total in ((0, 603), (1, 290), (2, 107)):
        per_fold = np.bincount(f[y == c], minlength=k)
        assert per_fold.max() - per_fold.min() <= 1  # each class split as evenly as possible
        assert np.all(np.abs(per_fold - total / k) < 1)
    # versus a random split, which leaves the rare class's share far more uneven
    r = random_folds(len(y), k, seed=1)
    rare_random = np.bincount(r[y == 2], minlength=k)
    assert np.ptp(rare_random) >= np.ptp(np.bincount(f[y == 2], minlength=k))


def test_fold_column_folds(tmp_path):
    fr = frame_from_numpy({"g": np.array(["b", "a", "c", "a"]), "v": [1.0, 2.0, np.nan, 4.0]}, str(tmp_path / "f.h5"))
    folds, names = fold_column_folds(fr, "g")
    assert names == ["a", "b", "c"]
    np.testing.assert_array_equal(folds, [1, 0, 2, 0])
    with pytest.raises(CrossValidationError, match=r"row 3"):
        fold_column_folds(fr, "v")
    with pytest.raises(CrossValidationError, match="not found"):
        fold_column_folds(fr, "zz")


def _logloss(p_true):
    return float(-np.mean(np.log(np.clip(p_true, 1e-15, 1.0))))


def test_cv_model_metrics_are_the_folds_metrics(binomial):
    frame, X, y, d = binomial
    m = hpcdl.deeplearning(
        y="y",
        x=["a", "b", "c"],
        training_frame=frame,
        nfolds=3,
        seed=5,
        hidden=[5],
        epochs=3,
        threads=1,
        keep_cross_validation_predictions=True,
        stopping_rounds=0,
    )
    cv = m.run_info["cross_validation"]
    folds = random_folds(frame.nrow, 3, seed=5)  # the documented Random assignment for this seed
    assert cv["fold_rows"] == np.bincount(folds).tolist()
    assert len(m.fold_models) == 3
    fold_loglosses = []
    for k, fm in enumerate(m.fold_models):
        hold = folds == k
        assert fm.run_info["n_training_rows"] == int((~hold).sum())  # trained on the other folds only
        # the fold model scored on a frame that holds only its holdout rows
        hf = frame_from_numpy(
            {"a": X[hold, 0], "b": X[hold, 1], "c": X[hold, 2], "y": np.array(["n", "p"])[y[hold]]},
            str(d / f"hold{k}.h5"),
        )
        perf = fm.model_performance(hf)
        fold_loglosses.append(perf["logloss"])
        assert cv["fold_metrics"][k]["logloss"] == pytest.approx(perf["logloss"], rel=1e-9)
        assert cv["fold_metrics"][k]["AUC"] == pytest.approx(perf["AUC"], rel=1e-9)
    summary = m.cv_summary
    assert summary["logloss"]["mean"] == pytest.approx(np.mean(fold_loglosses), rel=1e-9)
    assert summary["logloss"]["sd"] == pytest.approx(np.std(fold_loglosses, ddof=1), rel=1e-9)
    assert set(summary) >= {"AUC", "MSE", "classification_error"}
    # combined CV metrics = logloss of the holdout predictions, recomputed here with numpy
    holdout = m.cross_validation_holdout_predictions().as_data_frame()
    assert len(holdout) == frame.nrow
    p_true = np.where(y == 1, holdout["p"].to_numpy(), holdout["n"].to_numpy())
    assert m.cross_validation_metrics["logloss"] == pytest.approx(_logloss(p_true), rel=1e-6)
    # the main model: all rows, epochs = mean of the folds' final epochs, no best-model overwrite
    assert m.run_info["n_training_rows"] == frame.nrow
    assert m.effective["epochs"] == pytest.approx(np.mean(cv["fold_epochs"]))
    assert m.effective["overwrite_with_best_model"] is False and m.effective["stopping_rounds"] == 0
    assert m.params.nfolds == 3 and m.params.epochs == 3  # what the user asked for
    assert "Cross-Validation Metrics Summary" in str(m)


def test_cv_main_epochs_follow_early_stopped_folds(binomial):
    frame, _, _, _ = binomial
    # the folds stop early on their holdout (stopping_rounds with a huge tolerance stops at the 2nd score);
    # the main model has stopping_rounds=0 and trains the folds' mean epochs
    m = hpcdl.deeplearning(
        y="y",
        x=["a", "b", "c"],
        training_frame=frame,
        nfolds=2,
        seed=1,
        hidden=[5],
        epochs=50,
        threads=1,
        stopping_rounds=1,
        stopping_tolerance=0.9,
        score_each_iteration=True,
        train_samples_per_iteration=50,
    )
    fold_epochs = m.run_info["cross_validation"]["fold_epochs"]
    assert max(fold_epochs) < 50
    assert m.epochs_trained == pytest.approx(np.mean(fold_epochs), abs=50 / frame.nrow + 1e-9)


def test_stratified_and_fold_column_cv(binomial):
    frame, _, y, _ = binomial
    m = hpcdl.deeplearning(
        y="y",
        x=["a", "b", "c"],
        training_frame=frame,
        nfolds=4,
        fold_assignment="Stratified",
        seed=2,
        hidden=[3],
        epochs=1,
        threads=1,
    )
    assert m.run_info["cross_validation"]["fold_assignment"] == "Stratified"
    folds = stratified_folds(y, 4, seed=2)
    for k in range(4):
        assert abs(np.mean(y[folds == k]) - np.mean(y)) < 0.02
    # fold_column: its distinct values are the folds, and it is never a predictor
    m = hpcdl.deeplearning(y="y", training_frame=frame, fold_column="fold", seed=2, hidden=[3], epochs=1, threads=1)
    cv = m.run_info["cross_validation"]
    assert cv["nfolds"] == 4 and cv["fold_rows"] == [100, 100, 100, 100] and cv["fold_column"] == "fold"
    assert "fold" not in m.dinfo.predictors


def test_fold_models_standardize_by_their_own_training_rows(binomial):
    """As in H2O, a fold model's means and sds come from the rows it trains on, not the whole frame."""
    frame, X, _, _ = binomial
    m = hpcdl.deeplearning(
        y="y", x=["a", "b", "c"], training_frame=frame, fold_column="fold", seed=2, hidden=[3], epochs=1, threads=1
    )
    fold = np.arange(len(X)) % 4
    np.testing.assert_allclose(m.dinfo.norm_sub, X.mean(axis=0), rtol=1e-6)  # the main model: all rows
    for k, fm in enumerate(m.fold_models):
        train = X[fold != k]
        np.testing.assert_allclose(fm.dinfo.norm_sub, train.mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(fm.dinfo.norm_mul, 1.0 / train.std(axis=0, ddof=1), rtol=1e-6)
        assert fm.dinfo.predictors == m.dinfo.predictors
        assert not np.allclose(fm.dinfo.norm_sub, m.dinfo.norm_sub, rtol=1e-9, atol=0)


def test_cv_errors(binomial, tmp_path):
    frame, _, _, _ = binomial
    with pytest.raises(ParameterError, match="nfolds"):
        hpcdl.deeplearning(y="y", training_frame=frame, nfolds=1, epochs=1)
    with pytest.raises(ParameterError, match="fold_column"):
        hpcdl.deeplearning(y="y", x=["a", "fold"], training_frame=frame, fold_column="fold", epochs=1)
    reg = frame_from_numpy({"a": np.arange(20.0), "t": np.arange(20.0) ** 2}, str(tmp_path / "r.h5"))
    with pytest.raises(ParameterError, match="Stratified"):
        hpcdl.deeplearning(y="t", training_frame=reg, nfolds=2, fold_assignment="Stratified", epochs=1)
    tiny = frame_from_numpy({"a": np.arange(3.0), "y": np.array(["u", "v", "u"])}, str(tmp_path / "t.h5"))
    with pytest.raises(ParameterError, match="nfolds"):
        hpcdl.deeplearning(y="y", training_frame=tiny, nfolds=3, epochs=1, fold_assignment="Modulo", autoencoder=True)


def test_cv_metrics_survive_save_and_load(binomial, tmp_path):
    frame, _, _, _ = binomial
    m = hpcdl.deeplearning(
        y="y", x=["a", "b", "c"], training_frame=frame, nfolds=2, seed=4, hidden=[3], epochs=1, threads=1
    )
    back = hpcdl.load_model(m.save(str(tmp_path / "m.h5")))
    assert back.cross_validation_metrics["logloss"] == m.cross_validation_metrics["logloss"]
    assert back.cv_summary == m.cv_summary
    assert back.metrics(xval=True)["AUC"] == m.cross_validation_metrics["AUC"]


def test_cv_job_file_and_list_values_in_parameters(binomial, tmp_path):
    import json
    import subprocess
    import sys

    frame, _, _, _ = binomial
    job = tmp_path / "cv.toml"
    job.write_text(f"""
[job]
name = "cvjob"
output_dir = "{tmp_path / "out"}"
[data]
training_frame = "{frame.path}"
y = "y"
x = ["a", "b", "c"]
[parameters]
nfolds = 2
hidden = [3]
epochs = 1
seed = 1
""")
    res = subprocess.run(
        [sys.executable, "-m", "hpcdl.cli", "train", str(job), "--threads", "1", "--json"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    saved = hpcdl.load_model(result["model_path"])
    assert saved.cv_summary["logloss"]["mean"] > 0
    # the fold models are saved beside the main model, as H2O keeps them (<model_id>_cv_<k>)
    folds = [hpcdl.load_model(p) for p in result["cross_validation_files"]["fold_models"]]
    assert [f.model_id for f in folds] == [f"{saved.model_id}_cv_1", f"{saved.model_id}_cv_2"]
    fold_loglosses = [f.validation_metrics["logloss"] for f in folds]
    assert saved.cv_summary["logloss"]["folds"] == pytest.approx(fold_loglosses)
    assert result["cross_validation_files"]["holdout_predictions"] is None
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpcdl.cli",
            "train",
            str(job),
            "--threads",
            "1",
            "--json",
            "--set",
            "keep_cross_validation_predictions=true",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    holdout = hpcdl.get_frame(json.loads(res.stdout)["cross_validation_files"]["holdout_predictions"])
    assert holdout.nrow == frame.nrow and holdout.names[0] == "predict"
    res = subprocess.run(
        [sys.executable, "-m", "hpcdl.cli", "train", str(job), "--set", "l1=[0.0, 1e-3]"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1 and "[grid]" in res.stderr


def test_cv_not_on_checkpoint_restart(binomial, tmp_path):
    frame, _, _, _ = binomial
    m = hpcdl.deeplearning(y="y", x=["a", "b", "c"], training_frame=frame, hidden=[3], epochs=1, seed=1, threads=1)
    path = m.save(str(tmp_path / "m.h5"))
    with pytest.raises(ParameterError, match="checkpoint"):
        hpcdl.deeplearning(
            y="y",
            x=["a", "b", "c"],
            training_frame=frame,
            hidden=[3],
            epochs=2,
            seed=1,
            fold_column="fold",
            checkpoint=path,
        )


def test_cv_beside_a_validation_frame_and_keep_cross_validation_models(binomial, tmp_path):
    """H2O-3 allows nfolds with a validation_frame: CV metrics from the folds, and the main model scored
    on the validation frame (equal to scoring it there afterwards). keep_cross_validation_models=False
    keeps the folds' metrics but not the fold models."""
    frame, X, y, _ = binomial
    n = len(y)
    valid = frame_from_numpy(
        {"a": X[: n // 4, 0], "b": X[: n // 4, 1], "c": X[: n // 4, 2], "y": np.array(["n", "p"])[y[: n // 4]]},
        str(tmp_path / "valid.h5"),
    )
    kw = dict(x=["a", "b", "c"], y="y", training_frame=frame, nfolds=3, hidden=[4], epochs=2, seed=5, reproducible=True)
    m = hpcdl.deeplearning(validation_frame=valid, **kw)
    assert m.cross_validation_metrics and len(m.fold_models) == 3
    again = m.model_performance(valid)
    for key in ("logloss", "AUC", "MSE"):
        assert m.validation_metrics[key] == pytest.approx(again[key], rel=1e-9)
    plain = hpcdl.deeplearning(keep_cross_validation_models=False, **kw)
    assert plain.fold_models == [] and plain.cv_summary and not plain.validation_metrics
    assert plain.cross_validation_metrics["logloss"] == pytest.approx(m.cross_validation_metrics["logloss"], rel=1e-12)
