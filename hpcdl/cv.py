"""Cross-validation (docs/model-selection.md): fold assignment, fold models, CV metrics.

``nfolds >= 2`` (with ``fold_assignment`` Random, Modulo or Stratified; AUTO =
Random) or a ``fold_column`` splits the training rows into folds. One model is
trained per fold on the other folds' rows and scored on its own (holdout) rows;
then the main model trains on all rows for the mean of the fold models' final
epochs. The fold models train on row subsets of the one training frame (no
copies are written) and share the main model's DataInfo.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from . import comm as comm_mod
from .metrics import metric_keys
from .model import Model, prediction_columns, score_outputs
from .params import ParameterError
from .train import Trainer

FOLD_ASSIGNMENTS = ("Random", "Modulo", "Stratified")


class CrossValidationError(ValueError):
    """Folds cannot be made (bad fold column, empty fold); the message names the column or fold."""


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A per-row hash (splitmix64's finalizer), vectorized; unsigned overflow wraps by design."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def random_folds(n_rows: int, nfolds: int, seed: int) -> np.ndarray:
    """Fold of each row from a hash of (seed + row index), like H2O's kfoldColumn (not its PCG32 stream)."""
    rows = np.arange(n_rows, dtype=np.uint64) + np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF)
    return (_splitmix64(rows) % np.uint64(nfolds)).astype(np.int64)


def modulo_folds(n_rows: int, nfolds: int) -> np.ndarray:
    return np.arange(n_rows, dtype=np.int64) % nfolds


def stratified_folds(y_codes: np.ndarray, nfolds: int, seed: int) -> np.ndarray:
    """Each class's rows shuffled and dealt round-robin to the folds: per fold, each class count
    differs by at most one from ``count / nfolds``. Rows with code -1 (NA response) are dealt
    the same way as one extra group."""
    y = np.asarray(y_codes, dtype=np.int64)
    folds = np.empty(len(y), dtype=np.int64)
    rng = np.random.default_rng(int(seed) & 0x7FFFFFFFFFFFFFFF)
    offset = 0
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        folds[idx] = (offset + np.arange(len(idx))) % nfolds
        offset += len(idx)  # the next class starts where this one stopped: fold sizes stay balanced
    return folds


def fold_column_folds(frame, column: str) -> tuple[np.ndarray, list]:
    """Folds from a user column: each distinct value is one fold (sorted); NA is an error."""
    if column not in frame.names:
        raise CrossValidationError(f"{frame.display_name}: fold_column {column!r} not found (columns: {frame.names})")
    values = frame.column(column)
    if frame.type(column) == "enum":
        bad = np.flatnonzero(values < 0)
        labels = frame.domains[column]
    else:
        bad = np.flatnonzero(np.isnan(values))
        labels = None
    if bad.size:
        raise CrossValidationError(
            f"{frame.display_name}: fold_column {column!r} is missing (NA) in row {int(bad[0]) + 1}"
            f" ({bad.size} row(s) in all); every row needs a fold"
        )
    levels, folds = np.unique(values, return_inverse=True)
    if len(levels) < 2:
        raise CrossValidationError(
            f"{frame.display_name}: fold_column {column!r} has {len(levels)} distinct value(s); "
            "cross-validation needs at least 2 folds"
        )
    names = [labels[int(v)] for v in levels] if labels is not None else levels.tolist()
    return folds.astype(np.int64), names


def response_codes(frame, dinfo) -> np.ndarray:
    """Class code of every row of ``frame`` (-1 where the response is NA or unusable)."""
    _, y, valid = dinfo.transform_rows(frame)
    return np.where(valid, np.nan_to_num(y, nan=-1), -1).astype(np.int64)


def assign_folds(
    frame, dinfo, *, nfolds: int, fold_assignment: str, fold_column: str | None, seed: int
) -> tuple[np.ndarray, int]:
    """(fold of every frame row, number of folds)."""
    if fold_column:
        folds, names = fold_column_folds(frame, fold_column)
        return folds, len(names)
    method = "Random" if fold_assignment in (None, "AUTO") else fold_assignment
    if method not in FOLD_ASSIGNMENTS:
        raise ParameterError(
            f"fold_assignment must be one of AUTO, {', '.join(FOLD_ASSIGNMENTS)}; got {method!r}", "fold_assignment"
        )
    if method == "Random":
        return random_folds(frame.nrow, nfolds, seed), nfolds
    if method == "Modulo":
        return modulo_folds(frame.nrow, nfolds), nfolds
    if not dinfo.classification:
        raise ParameterError(
            "fold_assignment='Stratified' needs a categorical response (classification)", "fold_assignment"
        )
    return stratified_folds(response_codes(frame, dinfo), nfolds, seed), nfolds


def excluding_fold_column(frame, x, y, fold_column: str | None):
    """Predictors with the fold column left out (H2O never trains on it)."""
    if not fold_column:
        return x
    if x is None:
        return [n for n in frame.names if n not in (y, fold_column)]
    if fold_column in x:
        raise ParameterError(f"fold_column {fold_column!r} cannot also be a predictor (x)", "fold_column")
    return x


def summarize_folds(fold_metrics: list[dict]) -> dict:
    """Per metric: mean and sample sd over the folds, and each fold's value (H2O's CV summary table)."""
    out = {}
    for key in metric_keys("cv"):  # H2O's cross_validation_metrics_summary
        values = [m.get(key) for m in fold_metrics]
        if any(v is None for v in values):
            continue
        arr = np.asarray(values, dtype=np.float64)
        out[key] = {
            "mean": float(arr.mean()),
            "sd": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
            "folds": arr.tolist(),
        }
    return out


# What a fold model's parameters change from the main model's (besides its id and the shared seed).
_FOLD_PARAMS = {
    "nfolds": 0,
    "fold_assignment": "AUTO",
    "fold_column": None,
    "keep_cross_validation_predictions": False,
    "keep_cross_validation_models": True,
}


def cross_validate(
    params,
    dinfo,
    frame,
    validation_frame=None,
    *,
    comm: comm_mod.Comm | None = None,
    threads=None,
    hooks=None,
    progress=None,
):
    """Train the fold models and the main model; returns the main model with CV metrics attached
    (and, with ``validation_frame``, the main model's validation metrics on it, as H2O-3).

    Every rank runs this; each model is trained by all ranks of ``comm`` in turn.
    """
    comm = comm or comm_mod.world()
    if dinfo.autoencoder:
        raise ParameterError("cross-validation is not allowed for an autoencoder", "nfolds")
    seed = comm_mod.shared_seed(comm, params.seed)  # one seed for the folds and every model
    model_id = params.model_id or comm_mod.from_rank0(comm, Model.new_id)
    folds, n_folds = assign_folds(
        frame,
        dinfo,
        nfolds=int(params.nfolds),
        fold_assignment=params.fold_assignment,
        fold_column=params.fold_column,
        seed=seed,
    )
    fold_params = {**_FOLD_PARAMS, "seed": seed}
    fold_models, fold_metrics, fold_sizes = [], [], []
    holdout = {}  # fold -> (rows, corrected outputs, X, y, valid, thresholds, weights)
    for k in range(n_folds):
        train_rows = np.flatnonzero(folds != k)
        hold_rows = np.flatnonzero(folds == k)
        if hold_rows.size == 0 or train_rows.size == 0:
            raise CrossValidationError(
                f"{frame.display_name}: fold {k + 1} of {n_folds} has {hold_rows.size} holdout and "
                f"{train_rows.size} training rows; use fewer folds"
            )
        p_k = params.replace(model_id=f"{model_id}_cv_{k + 1}", **fold_params)
        m, holdout[k], scored = _fold_model(p_k, dinfo, frame, train_rows, hold_rows, comm, threads)
        fold_models.append(m)
        fold_metrics.append(scored)
        fold_sizes.append(int(holdout[k][4].sum()))

    epochs = [m.epochs_trained for m in fold_models]
    main_epochs = float(np.mean(epochs))  # the folds' final epochs, not their best ones (docs/model-selection.md)
    main_params = params.replace(
        model_id=model_id, seed=seed, epochs=main_epochs, overwrite_with_best_model=False, stopping_rounds=0
    )
    main = Trainer(
        main_params, dinfo, frame, validation_frame, comm=comm, threads=threads, hooks=hooks, progress=progress
    ).run()
    main.params = params

    # CV metrics from the holdout predictions of all folds together; the summary from the folds apart.
    order, out, thresholds, main.cross_validation_metrics = _pooled_holdout(main, holdout, n_folds)
    main.cv_summary = summarize_folds(fold_metrics)
    main.fold_models = fold_models if params.keep_cross_validation_models else []
    main.run.cross_validation = {
        "nfolds": n_folds,
        "fold_assignment": "Column"
        if params.fold_column
        else ("Random" if params.fold_assignment == "AUTO" else params.fold_assignment),
        "fold_column": params.fold_column,
        "fold_rows": fold_sizes,
        "fold_epochs": epochs,
        "main_model_epochs": main_epochs,
        "fold_model_ids": [m.model_id for m in fold_models],
        "fold_metrics": fold_metrics,
    }
    if params.keep_cross_validation_predictions:
        main.cross_validation_holdout = _holdout_columns(main, order, out, thresholds, frame.nrow)
    if params.keep_cross_validation_predictions or params.keep_cross_validation_fold_assignment:
        main.cross_validation_folds = folds  # per-fold prediction frames and the fold assignment
    return main


def _fold_model(p_k, dinfo, frame, train_rows, hold_rows, comm: comm_mod.Comm, threads):
    """Train fold k's model on its training rows: (the model, its holdout rows' corrected outputs as
    (rows, outputs, X, y, valid, thresholds, weights), its metrics on them)."""
    # standardized by its own training rows (weighted, with observation weights), as H2O
    fold_dinfo = dinfo.refit_numeric(frame, train_rows, dinfo.standardization_weights(frame))
    trainer = Trainer(
        p_k, fold_dinfo, frame, frame, comm=comm, threads=threads, training_rows=train_rows, validation_rows=hold_rows
    )
    m = trainer.run()
    X, y, valid = fold_dinfo.transform_rows(frame, hold_rows)
    w, o = fold_dinfo.special_rows(frame, hold_rows)  # observation weights and offsets, if any
    w = np.ones(len(hold_rows)) if w is None else w
    out = m._raw_outputs(X, offsets=o)
    if m.kind in ("binomial", "multinomial"):
        out = m.correct_probabilities(out)
    scored = score_outputs(_uncorrected(m), out[valid], X[valid], None if y is None else y[valid], w[valid])
    return m, (hold_rows, out, X, y, valid, np.full(len(hold_rows), m.label_threshold()), w), scored


def _pooled_holdout(main, holdout: dict, n_folds: int):
    """All folds' holdout predictions together: (frame rows, outputs, label thresholds, CV metrics)."""
    order, out, X, y, valid, thresholds, w = (
        None if holdout[0][i] is None else np.concatenate([holdout[k][i] for k in range(n_folds)]) for i in range(7)
    )
    cv_metrics = score_outputs(_uncorrected(main), out[valid], X[valid], None if y is None else y[valid], w[valid])
    return order, out, thresholds, cv_metrics


def _uncorrected(model):
    """The model with no class-prior correction (outputs handed to it are already corrected)."""
    return dataclasses.replace(model, run=dataclasses.replace(model.run, class_prior=None, class_sampled_prior=None))


def _holdout_columns(
    model, order: np.ndarray, out: np.ndarray, thresholds: np.ndarray, n_rows: int
) -> dict[str, np.ndarray]:
    """Each row's prediction by the fold model that did not train on it (binomial labels at that
    fold model's threshold), in frame row order."""
    inverse = np.empty(n_rows, dtype=np.int64)
    inverse[order] = np.arange(len(order))
    out, thresholds = out[inverse], thresholds[inverse]
    return prediction_columns(model.dinfo, model.kind, out, thresholds)


def save_cross_validation_outputs(model, directory: str) -> dict:
    """Write what cross-validation kept beside the main model file: every fold model as
    ``<model_id>_cv_<k>.h5`` (H2O keeps them under those keys), with
    keep_cross_validation_predictions the holdout predictions as a frame
    ``<model_id>_cv_holdout_predictions.h5``, and with keep_cross_validation_fold_assignment the folds
    as ``<model_id>_cv_fold_assignment.h5``. Returns the paths written."""
    written = {"fold_models": [], "holdout_predictions": None, "fold_assignment": None}
    for fold_model in model.fold_models or []:
        path = os.path.join(directory, f"{fold_model.model_id}.h5")
        fold_model.save(path, force=True)
        written["fold_models"].append(path)
    if model.cross_validation_holdout is not None:
        path = os.path.join(directory, f"{model.model_id}_cv_holdout_predictions.h5")
        model.cross_validation_holdout_predictions(path, force=True)  # the job's own output: replaced atomically
        written["holdout_predictions"] = path
    if model.cross_validation_folds is not None and model.params.keep_cross_validation_fold_assignment:
        path = os.path.join(directory, f"{model.model_id}_cv_fold_assignment.h5")
        model.cross_validation_fold_assignment(path, force=True)  # the job's own output, as above
        written["fold_assignment"] = path
    return written
