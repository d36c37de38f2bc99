"""The trained model: network state + preprocessing + history; predict, score, print, save."""

from __future__ import annotations

import os
import uuid
import weakref
from dataclasses import dataclass, field

import numpy as np

from . import kernels, metrics, store
from .comm import Comm
from .frame import Frame, frame_from_numpy, import_source
from .fsutil import check_output, delete_with, scratch_path
from .metrics import BINOMIAL_CRITERIA, ModelMetrics, metrics_object
from .params import (
    PARAMETERS,
    DeepLearningParameters,
    check_auc_type,
    record_from_dict,
    reported_actual_values,
    resolved_loss,
)
from .prep import DataInfo, correct_probabilities
from .runstate import RunState
from .surface import refusal
from .version import __version__ as __version__  # model files record it; the exports read it here

SCORE_CHUNK_ROWS = 65536


class ModelBuildError(OSError, ValueError):
    """The data or the checkpoint refuse a model build (e.g. a checkpoint restart on data with new
    categories). An OSError because H2O-3's client raises EnvironmentError for a failed build, so
    ``except EnvironmentError:`` in H2O-3 scripts catches it; a ValueError like every other refusal of
    what the user asked for (the CLI prints it as one line)."""


def hyper_from_params(eff: DeepLearningParameters) -> kernels.Hyper:
    """The kernels' per-sample settings from the effective parameters' record (every field from it:
    ``Hyper`` has no defaults of its own)."""
    ratios = eff.hidden_dropout_ratios or [0.0] * len(eff.hidden)
    return kernels.Hyper(
        loss=resolved_loss(eff.loss, eff.distribution),
        huber_delta=1.0,
        quantile_alpha=float(eff.quantile_alpha),
        input_dropout_ratio=float(eff.input_dropout_ratio),
        hidden_dropout_ratios=tuple(float(r) for r in ratios),
        shared_dropout_masks=eff.hidden_dropout_masks == "Shared",
        l1=float(eff.l1),
        l2=float(eff.l2),
        max_w2=float(eff.max_w2),
        adaptive_rate=bool(eff.adaptive_rate),
        rho=float(eff.rho),
        epsilon=float(eff.epsilon),
        rate=float(eff.rate),
        rate_annealing=float(eff.rate_annealing),
        rate_decay=float(eff.rate_decay),
        momentum_start=float(eff.momentum_start),
        momentum_ramp=float(eff.momentum_ramp),
        momentum_stable=float(eff.momentum_stable),
        nesterov_accelerated_gradient=bool(eff.nesterov_accelerated_gradient),
        optimizer=str(eff.optimizer),
        beta1=float(eff.beta1),
        beta2=float(eff.beta2),
        weight_decay=float(eff.weight_decay),
        fast_mode=bool(eff.fast_mode),
        sparsity_beta=float(eff.sparsity_beta),
        average_activation=float(eff.average_activation),
    )


def base_activation(activation: str) -> str:
    return activation.replace("WithDropout", "")


def model_kind(dinfo: DataInfo) -> str:
    if dinfo.autoencoder:
        return "autoencoder"
    if not dinfo.classification:
        return "regression"
    return "binomial" if len(dinfo.response_domain) == 2 else "multinomial"


def as_frame(data, what: str = "frame", comm: Comm | None = None) -> Frame:
    """Accept a Frame, a frame/CSV path, or numpy/pandas data (written to a temporary frame).

    A path goes through the frame cache; ``comm``: the ranks calling this together (one
    writer per shared directory), None for this process alone.
    """
    if isinstance(data, Frame):
        return data
    if isinstance(data, (str, os.PathLike)):
        return import_source(data, comm=comm)
    return Frame.from_python(data)  # pandas/numpy/dict/rows by H2OFrame's type rules, in a scratch file


def input_paths(data, frame: Frame | None = None) -> list[str]:
    """The files a scoring call reads (the path the user gave, the frame file): an output may not be one."""
    paths = [os.fspath(data)] if isinstance(data, (str, os.PathLike)) else []
    for f in (data if isinstance(data, Frame) else None, frame):
        if f is not None:
            paths.extend(p for p in (f.path, f.source) if p)  # the frame file and the CSV it came from
    return paths


def result_frame(columns, destination, *, stem: str, domains=None, force: bool = False, inputs=()) -> Frame:
    """Write result columns as a frame: at ``destination`` (checked by the output rules), or, without
    one, in this process's temporary directory, deleted with the returned object or at exit."""
    if destination is not None:
        check_output(destination, inputs=inputs, force=force, what=stem.replace("_", " "))
        return frame_from_numpy(columns, destination, domains=domains)
    path = scratch_path(stem)
    frame = frame_from_numpy(columns, path, domains=domains)
    delete_with(frame, path)
    return frame


def _refuse_early(destination, force: bool, what: str, data) -> None:
    """Check ``destination`` before any scoring work (the frame file is checked again once known)."""
    if destination is not None:
        check_output(destination, inputs=input_paths(data), force=force, what=what)


VARIMP_COLUMNS = ("variable", "relative_importance", "scaled_importance", "percentage")


def _shortcut(method: str, what: str):
    """A model method reading one metric of the stored metrics, H2O-3's ``model.auc(train=, valid=, xval=)``."""

    def shortcut(self, train: bool = False, valid: bool = False, xval: bool = False):
        return self._each(method, train, valid, xval)

    shortcut.__name__ = shortcut.__qualname__ = method
    shortcut.__doc__ = f"{what}: of the training metrics by default; see Model._each for several."
    return shortcut


def _threshold_shortcut(method: str, what: str):
    """As :func:`_shortcut` for H2O-3's binomial threshold metrics (``[[threshold, value]]``)."""

    def shortcut(self, thresholds=None, train: bool = False, valid: bool = False, xval: bool = False):
        return self._each(method, train, valid, xval, thresholds=thresholds)

    shortcut.__name__ = shortcut.__qualname__ = method
    shortcut.__doc__ = f"{what}, as [[threshold, value]]: of the training metrics by default."
    return shortcut


@dataclass
class Model:
    """A trained (or training) Deep Learning model, like H2O's DeepLearningModel."""

    model_id: str
    params: DeepLearningParameters  # what the user gave (validated)
    effective: DeepLearningParameters  # what training used (H2O's effective parameters), one record
    dinfo: DataInfo
    net: kernels.Net
    scoring_events: list[dict] = field(default_factory=list)  # one row per scoring event: scoring_history()
    training_metrics: dict = field(default_factory=dict)
    validation_metrics: dict = field(default_factory=dict)
    cross_validation_metrics: dict = field(default_factory=dict)
    cv_summary: dict = field(default_factory=dict)  # metric -> mean, sd, folds: cross_validation_metrics_summary()
    fold_models: list = field(default_factory=list, repr=False)  # in memory only: cross_validation_models()
    cross_validation_holdout: dict | None = field(default=None, repr=False)  # keep_cross_validation_predictions
    cross_validation_folds: np.ndarray | None = field(default=None, repr=False)  # fold of each row, 0-based
    variable_importances: list[dict] | None = None
    run: RunState = field(default_factory=RunState)  # counters, layout, stop reason: what a checkpoint continues
    best_buffer: np.ndarray | None = None  # the best-scoring state so far (overwrite_with_best_model, resume)

    # -- construction -------------------------------------------------------
    @staticmethod
    def new_id() -> str:
        return "DeepLearning_model_" + uuid.uuid4().hex[:12]

    @property
    def kind(self) -> str:
        return model_kind(self.dinfo)

    @property
    def hyper(self) -> kernels.Hyper:
        return hyper_from_params(self.effective)

    @property
    def epochs_trained(self) -> float:
        return self.run.epochs

    @property
    def run_info(self) -> dict:
        """How the model was trained (ranks, threads, samples, epochs, iterations, stop reason, times):
        a report made from ``self.run``; changing it changes nothing."""
        return self.run.report()

    # -- scoring ------------------------------------------------------------
    def _raw_outputs(self, X: np.ndarray, engine: str = "loop", offsets: np.ndarray | None = None) -> np.ndarray:
        """Network outputs of rows X; a regression's ``offsets`` added before the link (identity), in the
        net's standardized units: prediction = net / mul + sub + offset (docs/differences.md)."""
        out = kernels.predict(self.net, self.hyper, X, engine=engine)
        if offsets is None:
            return out
        return out + (np.asarray(offsets, dtype=np.float64) * self.dinfo.y_mul)[:, None]

    def _chunks(self, frame: Frame):
        for start in range(0, frame.nrow, SCORE_CHUNK_ROWS):
            yield self.dinfo.transform(frame, start, min(frame.nrow, start + SCORE_CHUNK_ROWS))

    def predict_arrays(self, X: np.ndarray, offsets: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Predictions for transformed rows (and their offsets, for a model with offset_column): H2O's
        columns as a dict of arrays."""
        out = self._raw_outputs(X, offsets=offsets)
        kind = self.kind
        if kind == "autoencoder":
            return self.dinfo.reconstruction_to_original(out)
        probs = out if kind == "regression" else self.correct_probabilities(out)
        return prediction_columns(self.dinfo, kind, probs, self.label_threshold() if kind == "binomial" else None)

    def correct_probabilities(self, probs: np.ndarray) -> np.ndarray:
        prior, sampled = self.run.class_prior, self.run.class_sampled_prior
        if prior is None or sampled is None:
            return probs
        return correct_probabilities(probs, np.asarray(prior), np.asarray(sampled))

    def threshold(self) -> float:
        """The binomial max-F1 threshold, as H2O-3 reports it: on validation metrics if any, else training."""
        for m in (self.validation_metrics, self.training_metrics):
            if m and m.get("max_f1_threshold") is not None:
                return float(m["max_f1_threshold"])
        return 0.5

    def label_threshold(self) -> float:
        """The threshold binomial labels are given with (predict, exported scorers): halfway from
        :meth:`threshold` to the next lower score of the same metrics' rows, so the labels of those
        rows are H2O-3's while a last-bit difference in a probability cannot flip one
        (docs/differences.md). Models saved before it existed label with :meth:`threshold`."""
        for m in (self.validation_metrics, self.training_metrics):
            if m and m.get("max_f1_threshold") is not None:
                return float(m.get("label_threshold", m["max_f1_threshold"]))
        return 0.5

    def predict(self, frame, destination: str | None = None, force: bool = False) -> Frame:
        """Score a frame; returns a frame laid out like H2O's (predict, then p per class).

        Without ``destination`` the result lives in a temporary file removed with the frame
        object (or at exit); ``destination`` keeps it (an existing file only with ``force``)."""
        _refuse_early(destination, force, "predictions", frame)
        data = frame
        frame = as_frame(frame, "predict_input")
        offsets = self.dinfo.special_rows(frame)[1] if self.dinfo.offset_column else None
        parts = [
            self.predict_arrays(X, None if offsets is None else offsets[k * SCORE_CHUNK_ROWS :][: len(X)])
            for k, (X, _, _) in enumerate(self._chunks(frame))
        ]
        cols = {
            k: np.concatenate([p[k] for p in parts]) if parts else np.array([]) for k in (parts[0] if parts else {})
        }
        domains = {"predict": self.dinfo.response_domain} if self.kind in ("binomial", "multinomial") else None
        return result_frame(
            cols, destination, stem="predictions", domains=domains, force=force, inputs=input_paths(data, frame)
        )

    def score_arrays(self, X: np.ndarray, y: np.ndarray | None, engine: str = "loop", special=(None, None)) -> dict:
        """Metrics of this model on transformed rows (y as DataInfo.transform returns it; ``special``:
        their (weights, offsets) or None each); ``engine``: kernels.predict's (the trainer's scoring uses "blas")."""
        weights, offsets = special
        out = self._raw_outputs(X, engine, offsets)
        return score_outputs(self, out, X, y, weights)

    def model_performance(
        self, test_data=None, train: bool = False, valid: bool = False, xval: bool = False, auc_type=None
    ) -> ModelMetrics | None:
        """Metrics on ``test_data`` (every row with a response), like H2O-3's: a :class:`ModelMetrics`
        object (``perf.auc()``, ``perf.confusion_matrix()``, ``perf["logloss"]``).

        Without ``test_data``: the stored training metrics (the default, or ``train=True``), validation
        metrics (``valid=True``) or cross-validation metrics (``xval=True``), checked in that order as
        H2O-3 does; None when the model has none of that kind (no validation frame, no folds).
        ``auc_type``: the multinomial AUC that ``auc()`` reports instead of the model's ``auc_type``.
        """
        if auc_type is not None:
            auc_type = check_auc_type(auc_type)
        if test_data is None:
            if train or not (valid or xval):
                stored, on = self.training_metrics, "train"
            elif valid:
                stored, on = self.validation_metrics, "validation"
            else:
                stored, on = self.cross_validation_metrics, "cross-validation"
            if auc_type is not None and stored:
                stored = metrics.with_auc_type(stored, auc_type)
            return self._metrics_object(stored, on)
        m, scored = self._score(test_data, auc_type)
        perf = self._metrics_object(m, "test")
        if perf is not None and scored is not None:
            perf.scored = scored  # the rows behind it: thresholds, ROC and gains/lift at any threshold
        return perf

    def _metrics_object(self, m: dict, on: str) -> ModelMetrics | None:
        size = int(self.effective.max_confusion_matrix_size)
        return metrics_object(m, self.kind, on=on, domain=self.dinfo.response_domain, max_confusion_matrix_size=size)

    def score_frame(self, data) -> dict:
        """The metrics dict of this model on every row of ``data`` that has a response."""
        return self._score(data)[0]

    def _score(self, data, auc_type=None) -> tuple[dict, tuple | None]:
        """(the metrics dict, (class codes, P(class 1)) of a binomial model's scored rows, else None)."""
        frame = as_frame(data, "performance_input")
        if self.dinfo.response and self.dinfo.response not in frame.names:
            raise ValueError(
                f"{frame.display_name}: no response column {self.dinfo.response!r}: metrics need the true values"
            )
        weights, offsets = self.dinfo.special_rows(frame)
        outs, Xs, ys, keeps = [], [], [], []
        for k, (X, y, valid_rows) in enumerate(self._chunks(frame)):
            keep = valid_rows if not self.dinfo.autoencoder else np.ones(len(X), bool)
            o = None if offsets is None else offsets[k * SCORE_CHUNK_ROWS :][: len(X)][keep]
            outs.append(self._raw_outputs(X[keep], offsets=o))
            Xs.append(X[keep])
            ys.append(None if y is None else y[keep])
            keeps.append(keep)
        out = np.concatenate(outs)
        X = np.concatenate(Xs)
        y = None if ys[0] is None else np.concatenate(ys)
        w = None if weights is None else weights[np.concatenate(keeps)]
        scored = None
        if self.kind == "binomial":
            scored = (np.asarray(y).astype(np.int64), self.correct_probabilities(out)[:, 1].astype(np.float64))
            scored = scored if w is None else (*scored, w)
        return score_outputs(self, out, X, y, w, auc_type), scored

    def cross_validation_holdout_predictions(self, destination: str | None = None, force: bool = False) -> Frame:
        """Every training row predicted by the fold model that held it out (H2O's method of this name);
        needs keep_cross_validation_predictions=True, and is not kept in saved model files."""
        if self.cross_validation_holdout is None:
            raise ValueError(
                "no cross-validation holdout predictions: train with nfolds (or fold_column) and "
                "keep_cross_validation_predictions=True"
            )
        domains = {"predict": self.dinfo.response_domain} if self.kind in ("binomial", "multinomial") else None
        return result_frame(
            self.cross_validation_holdout, destination, stem="cv_holdout_predictions", domains=domains, force=force
        )

    def metrics(self, valid: bool = False, xval: bool = False) -> dict:
        if xval:
            return self.cross_validation_metrics
        return self.validation_metrics if valid and self.validation_metrics else self.training_metrics

    # -- autoencoder and insight --------------------------------------------
    def anomaly(self, frame, per_feature: bool = False, destination: str | None = None, force: bool = False) -> Frame:
        """Reconstruction error per row (column ``Reconstruction.MSE``) or per expanded feature
        (``reconstr_<col>.SE``), as a frame like H2O's; ``destination`` as in :meth:`predict`."""
        if not self.dinfo.autoencoder:
            raise ValueError("anomaly() needs an autoencoder model (autoencoder=True)")
        _refuse_early(destination, force, "reconstruction errors", frame)
        data = frame
        frame = as_frame(frame, "anomaly_input")
        parts = []
        for X, _, _ in self._chunks(frame):
            se = (self._raw_outputs(X) - X.astype(np.float64)) ** 2
            parts.append(se)
        se = np.concatenate(parts)
        if per_feature:
            cols = {f"reconstr_{name}.SE": se[:, k] for k, name in enumerate(self.dinfo.input_names)}
        else:
            cols = {"Reconstruction.MSE": se.mean(axis=1)}
        return result_frame(
            cols, destination, stem="reconstruction_errors", force=force, inputs=input_paths(data, frame)
        )

    def deepfeatures(self, frame, layer: int, destination: str | None = None, force: bool = False) -> Frame:
        """Activations of hidden layer ``layer`` (0-based) per row as a frame: columns DF.L{layer+1}.C{j+1};
        ``destination`` as in :meth:`predict`."""
        n_hidden = len(self.effective.hidden)
        if not 0 <= layer < n_hidden:
            raise ValueError(f"layer must be in 0..{n_hidden - 1} (0-based hidden layer index), got {layer}")
        _refuse_early(destination, force, "deep features", frame)
        data = frame
        frame = as_frame(frame, "deepfeatures_input")
        acts = np.concatenate(
            [kernels.hidden_activations(self.net, self.hyper, X, layer) for X, _, _ in self._chunks(frame)]
        )
        cols = {f"DF.L{layer + 1}.C{j + 1}": acts[:, j] for j in range(acts.shape[1])}
        return result_frame(cols, destination, stem="deep_features", force=force, inputs=input_paths(data, frame))

    def varimp_table(self) -> list[dict]:
        """Variable importances (Gedeon), most important first: dicts of variable, relative_importance,
        scaled_importance, percentage (computed now if training did not keep them)."""
        return self.variable_importances if self.variable_importances is not None else compute_varimp(self)

    def varimp(self, use_pandas: bool = False):
        """H2O-3's ``varimp()``: tuples (variable, relative_importance, scaled_importance, percentage),
        most important first, or a pandas DataFrame with those columns (``use_pandas=True``)."""
        rows = [tuple(r[c] for c in VARIMP_COLUMNS) for r in self.varimp_table()]
        if use_pandas:
            return metrics._pandas("varimp(use_pandas=True)").DataFrame(rows, columns=list(VARIMP_COLUMNS))
        return rows

    # -- H2O-3's model accessors ------------------------------------------------
    algo = "deeplearning"  # H2O-3's model.algo

    def scoring_history(self, as_data_frame: bool = True):
        """One row per scoring event (timestamp, duration, epochs, iterations, samples, training_ and
        validation_ metrics) as a pandas DataFrame, or as a :class:`~hpcdl.metrics.TwoDimTable`."""
        rows = self.scoring_events
        columns = list(dict.fromkeys(k for r in rows for k in r))
        if not as_data_frame:
            return metrics.TwoDimTable("Scoring History", columns, [[r.get(c) for c in columns] for r in rows])
        return metrics._pandas("scoring_history()").DataFrame(rows, columns=columns)

    @property
    def type(self) -> str:
        """H2O-3's estimator type: "classifier", "regressor", or "unsupervised" (an autoencoder)."""
        if self.dinfo.autoencoder:
            return "unsupervised"
        return "classifier" if self.dinfo.classification else "regressor"

    @property
    def parms(self) -> dict[str, dict]:
        """H2O-3's ``model.parms``: per parameter its ``default_value``, ``input_value`` (as given, else
        the default) and ``actual_value`` as H2O-3 reports it (params.reported_actual_values; what
        training read is ``effective``)."""
        given = self.params.to_dict()
        actual = reported_actual_values(self.params, self.effective)
        out = {
            p.name: {
                "name": p.name,
                "default_value": p.default,
                "input_value": given[p.name],
                "actual_value": actual[p.name],
            }
            for p in PARAMETERS
        }
        key = {"name": self.model_id, "type": "Key<Model>"}
        out["model_id"].update(input_value=given["model_id"] and key, actual_value=key)
        if self.dinfo.response:
            column = {"column_name": self.dinfo.response}
            out["response_column"] = {
                "name": "response_column",
                "default_value": None,
                "input_value": column,
                "actual_value": column,
            }
        return out

    @property
    def actual_params(self) -> dict:
        """Parameter -> the value training used (model_id and response_column as plain names, as H2O-3)."""
        out = {}
        for name, p in self.parms.items():
            value = p["actual_value"]
            out[name] = value.get("name", value.get("column_name")) if isinstance(value, dict) else value
        return out

    @property
    def default_params(self) -> dict:
        return {name: p["default_value"] for name, p in self.parms.items()}

    def _exported_layer(self, index: int, what: str) -> None:
        n = self.net.n_layers
        if not self.effective.export_weights_and_biases:
            raise ValueError(
                f"model {self.model_id} has no {what}: train it with export_weights_and_biases=True (as in H2O-3)"
            )
        if not isinstance(index, (int, np.integer)) or not 0 <= index < n:
            raise ValueError(f"{what} {index!r} does not exist: the model has {n} (0-based, 0..{n - 1})")

    def weights(self, matrix_id: int = 0, destination: str | None = None, force: bool = False) -> Frame:
        """Weight matrix ``matrix_id`` (0 = inputs -> first hidden layer) as a frame, as H2O-3 exports it:
        one row per unit of the next layer (two per unit for Maxout), one column per unit of this layer,
        named after the model's expanded inputs for layer 0 (C1, C2, ... after). Needs
        ``export_weights_and_biases=True``; ``destination`` as in :meth:`predict`."""
        self._exported_layer(matrix_id, "weight matrices")
        w = self.net.weights(int(matrix_id)).astype(np.float64)
        names = list(self.dinfo.input_names) if matrix_id == 0 else [f"C{j + 1}" for j in range(w.shape[1])]
        cols = {name: w[:, j] for j, name in enumerate(names)}
        return result_frame(cols, destination, stem=f"weights_{matrix_id}", force=force)

    def biases(self, vector_id: int = 0, destination: str | None = None, force: bool = False) -> Frame:
        """Bias vector ``vector_id`` as a one-column frame (column C1), one row per unit of layer
        ``vector_id + 1``; needs ``export_weights_and_biases=True``."""
        self._exported_layer(vector_id, "bias vectors")
        b = self.net.biases(int(vector_id)).astype(np.float64)
        return result_frame({"C1": b}, destination, stem=f"biases_{vector_id}", force=force)

    def is_cross_validated(self) -> bool:
        return bool(self.cross_validation_metrics)

    def xval_keys(self) -> list[str] | None:
        """The fold models' ids (``<model_id>_cv_<k>``), None without cross-validation."""
        cv = self.run_info.get("cross_validation")
        return list(cv["fold_model_ids"]) if cv else None

    def cross_validation_models(self) -> list[Model] | None:
        """The fold models, H2O-3's method (in memory only: a loaded model has none; ``hpcdl train``
        writes them beside the main model). None without cross-validation."""
        if not self.is_cross_validated():
            return None
        if not self.fold_models:
            raise ValueError(
                f"model {self.model_id}: its fold models are not in memory (model files do not hold them; "
                "a job saves them beside the model as <model_id>_cv_<k>.h5)"
            )
        return list(self.fold_models)

    def cross_validation_metrics_summary(self) -> metrics.TwoDimTable | None:
        """Mean, standard deviation and per-fold value of each metric over the folds (H2O-3's table)."""
        summary = self.cv_summary
        if not summary:
            return None
        n = max(len(v["folds"]) for v in summary.values())
        return metrics.TwoDimTable(
            "Cross-Validation Metrics Summary",
            ["", "mean", "sd", *(f"cv_{k + 1}_valid" for k in range(n))],
            [[key, v["mean"], v["sd"], *v["folds"]] for key, v in summary.items()],
        )

    def _each(self, method: str, train: bool, valid: bool, xval: bool, **kw):
        """H2O-3's rule for the metric shortcuts: the training value by default; with several of
        train/valid/xval a dict keyed "train", "valid", "xval"; None where the model has no such metrics."""
        chosen = [k for k, flag in (("train", train), ("valid", valid), ("xval", xval)) if flag] or ["train"]
        out = {}
        for k in chosen:
            m = self.model_performance(**{k: True})
            if m is not None and not hasattr(m, method):
                raise ValueError(f"{method}() is not defined for {self.kind} models (as in H2O-3)")
            out[k] = None if m is None else getattr(m, method)(**kw)
        return out[chosen[0]] if len(chosen) == 1 else out

    mse = _shortcut("mse", "Mean squared error")
    rmse = _shortcut("rmse", "Root mean squared error")
    r2 = _shortcut("r2", "R squared (1 - MSE / variance of the response)")
    logloss = _shortcut("logloss", "Log loss (classification)")
    auc = _shortcut("auc", "Area under the ROC curve (binomial)")
    aucpr = _shortcut("aucpr", "Area under the precision-recall curve (binomial)")
    pr_auc = _shortcut("pr_auc", "H2O-3's old name of aucpr (binomial)")
    gini = _shortcut("gini", "2 AUC - 1 (binomial)")
    mae = _shortcut("mae", "Mean absolute error (regression)")
    rmsle = _shortcut("rmsle", "Root mean squared logarithmic error (regression)")
    mean_residual_deviance = _shortcut("mean_residual_deviance", "Mean residual deviance (regression)")
    hit_ratio_table = _shortcut("hit_ratio_table", "Top-k hit ratios table (multinomial)")
    error = _threshold_shortcut("error", "1 - accuracy at the threshold of maximum accuracy (binomial)")
    F1 = _threshold_shortcut("F1", "Maximum F1 and its threshold (binomial)")
    accuracy = _threshold_shortcut("accuracy", "Maximum accuracy and its threshold (binomial)")
    precision = _threshold_shortcut("precision", "Maximum precision and its threshold (binomial)")
    recall = _threshold_shortcut("recall", "Maximum recall and its threshold (binomial)")
    specificity = _threshold_shortcut("specificity", "Maximum specificity and its threshold (binomial)")

    def mean_per_class_error(self, thresholds=None, train: bool = False, valid: bool = False, xval: bool = False):
        """Mean per-class error: a number for multinomial models; for binomial ones H2O-3's
        ``[[threshold, value]]`` at the best threshold."""
        kw = {"thresholds": thresholds} if self.kind == "binomial" else {}
        if thresholds is not None and self.kind != "binomial":
            raise ValueError("mean_per_class_error(): thresholds= is for binomial models")
        return self._each("mean_per_class_error", train, valid, xval, **kw)

    def confusion_matrix(
        self, data=None, thresholds=None, train: bool = False, valid: bool = False, xval: bool = False, *, metrics=None
    ):
        """The confusion matrix (a :class:`~hpcdl.metrics.ConfusionMatrix`) of the stored metrics, or of
        ``data`` (a frame, as H2O-3's multinomial ``confusion_matrix(data)``); binomial: at max F1."""
        if isinstance(data, str) and data.lower() in BINOMIAL_CRITERIA:
            metrics, data = data, None  # H2O-3's binomial signature: confusion_matrix(metrics=...)
        if self.kind != "binomial" and (metrics is not None or thresholds is not None):
            raise ValueError("confusion_matrix(): metrics= and thresholds= are for binomial models")
        kw = {"metrics": metrics, "thresholds": thresholds} if self.kind == "binomial" else {}
        if self.kind not in ("binomial", "multinomial"):
            raise ValueError(f"confusion_matrix() is not defined for {self.kind} models (as in H2O-3)")
        if data is not None:
            return self.model_performance(data).confusion_matrix(**kw)
        return self._each("confusion_matrix", train, valid, xval, **kw)

    # -- persistence ----------------------------------------------------------
    def save(self, path: str, force: bool = False, inputs=()) -> str:
        """Write the model as one HDF5 file; returns its path.

        ``path`` is a file name, or an existing directory (the file is then
        ``<dir>/<model_id>.h5``, like ``h2o.save_model``). An existing file is
        replaced only with ``force=True``, never one of ``inputs`` (e.g. the file
        the model was read from); the write is atomic (docs/outputs.md).
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, self.model_id + ".h5")
        return store.write_model_file(path, self.to_content(), force=force, inputs=inputs)

    def to_content(self) -> dict:
        return {
            "model_id": self.model_id,
            "hpcdl_version": __version__,
            "net_attrs": {
                "units": [int(u) for u in self.net.units],
                "activation": self.net.activation,
                "output": self.net.output,
                "adaptive_rate": self.net.adaptive_rate,
                "momentum": self.net.momentum,
                "adam": self.net.adam,
            },
            "buffer": self.net.packed(),
            "best_buffer": None if self.best_buffer is None else self.net.packed(self.best_buffer),
            "params": {"user": self.params.to_dict(user_given_only=True), "effective": self.effective.to_dict()},
            "metrics": {
                "training": self.training_metrics,
                "validation": self.validation_metrics,
                "cross_validation": self.cross_validation_metrics,
                "cross_validation_summary": self.cv_summary,
            },
            "extra": {"run_state": self.run.to_dict(), "variable_importances": self.variable_importances},
            "datainfo": self.dinfo.to_dict(),
            "history": self.scoring_events,
        }

    @classmethod
    def from_content(cls, content: dict) -> Model:
        na = content["net_attrs"]
        net = kernels.Net(
            na["units"],
            na["activation"],
            na["output"],
            adaptive_rate=na["adaptive_rate"],
            momentum=na["momentum"],
            adam=bool(na.get("adam", False)),  # model files from before Adam have no such attribute
        )
        for name in ("buffer", "best_buffer"):
            part = content.get(name)
            if part is not None and part.shape != (net.packed_size,):
                raise store.ModelFileError(
                    f"model {content['model_id']}: {name} has {part.size} values, the "
                    f"network {list(net.units)} needs {net.packed_size}"
                )
        net.buffer[...] = net.unpacked(np.asarray(content["buffer"], dtype=np.float32))
        best = content.get("best_buffer")
        best = None if best is None else net.unpacked(np.asarray(best, dtype=np.float32))
        params = DeepLearningParameters.from_dict(content["params"]["user"])
        return cls(
            model_id=content["model_id"],
            params=params,
            effective=record_from_dict(content["params"]["effective"], params.user_given),
            dinfo=DataInfo.from_dict(content["datainfo"]),
            net=net,
            scoring_events=list(content["history"]),
            training_metrics=content["metrics"].get("training") or {},
            validation_metrics=content["metrics"].get("validation") or {},
            cross_validation_metrics=content["metrics"].get("cross_validation") or {},
            cv_summary=content["metrics"].get("cross_validation_summary") or {},
            variable_importances=content["extra"].get("variable_importances"),
            run=RunState.from_extra(content["extra"]),
            best_buffer=best,
        )

    # -- printing -------------------------------------------------------------
    def layer_table(self) -> list[dict]:
        eff = self.effective
        units = list(self.net.units)
        rows = [{"layer": 1, "units": units[0], "type": "Input", "dropout": f"{100 * eff.input_dropout_ratio:.0f} %"}]
        ratios = eff.hidden_dropout_ratios or [0.0] * len(eff.hidden)
        for l in range(1, len(units)):
            w = self.net.weights(l - 1)
            b = self.net.biases(l - 1)
            is_out = l == len(units) - 1
            typ = (
                (
                    "Softmax"
                    if self.net.output == "softmax"
                    else "Linear"
                    if self.net.output == "linear"
                    else base_activation(eff.activation)
                )
                if is_out
                else eff.activation
            )
            rows.append(
                {
                    "layer": l + 1,
                    "units": units[l],
                    "type": typ,
                    "dropout": "" if is_out else f"{100 * ratios[l - 1]:.0f} %",
                    "l1": eff.l1,
                    "l2": eff.l2,
                    "mean_rate": self.mean_rate(l - 1),
                    "weight_mean": float(np.mean(w)),
                    "weight_rms": float(np.sqrt(np.mean(w.astype(np.float64) ** 2))),
                    "bias_mean": float(np.mean(b)),
                    "bias_rms": float(np.sqrt(np.mean(b.astype(np.float64) ** 2))),
                }
            )
        return rows

    def mean_rate(self, layer: int) -> float:
        """Mean learning rate of weight layer ``layer`` now: ADADELTA's per-weight rate, or the annealed rate."""
        eff = self.effective
        if self.net.adaptive_rate:
            lo, hi = self.net.w_off[layer], self.net.w_off[layer + 1]
            eg = self.net.EgW[lo:hi].astype(np.float64)
            ed = self.net.EdW[lo:hi].astype(np.float64)
            eps = float(eff.epsilon)
            return float(np.mean(np.sqrt((ed + eps) / (eg + eps))))
        n = float(self.run.samples)
        return self.hyper.rate_at(n, layer)

    def __str__(self) -> str:
        return format_model(self)

    def show(self) -> None:
        print(self)

    # -- H2O-3's remaining model surface (issue 25) ----------------------------
    def summary(self) -> metrics.TwoDimTable:
        """H2O-3's ``model.summary()`` of a Deep Learning model: the "Status of Neuron Layers" table."""
        cols = ["layer", "units", "type", "dropout", "l1", "l2", "mean_rate", "weight_mean", "weight_rms"]
        cols += ["bias_mean", "bias_rms"]
        rows = [[row.get(c, "") for c in cols] for row in self.layer_table()]
        return metrics.TwoDimTable("Status of Neuron Layers", cols, rows)

    @property
    def full_parameters(self) -> dict[str, dict]:
        """H2O-3's ``model.full_parameters``: every parameter's dict (``default_value``, ``input_value``,
        ``actual_value``), the same as :attr:`parms`."""
        return self.parms

    def cross_validation_predictions(self, destination: str | None = None, force: bool = False) -> list[Frame]:
        """One frame per fold (H2O-3's method): the fold model's predictions on its holdout rows, 0 on every
        other training row (a class column's first level). ``destination``: a directory for the frames
        ``fold_<k>.h5``. Needs keep_cross_validation_predictions=True; not kept in saved model files."""
        self._kept_for_cv("cross_validation_predictions()", "keep_cross_validation_predictions")
        if self.cross_validation_holdout is None or self.cross_validation_folds is None:
            raise ValueError(
                f"model {self.model_id}: no cross-validation predictions in memory (model files do not keep them)"
            )
        n = int(self.cross_validation_folds.max()) + 1
        domains = {"predict": self.dinfo.response_domain} if self.kind in ("binomial", "multinomial") else None
        return [
            result_frame(
                fold_prediction_columns(self.cross_validation_holdout, self.cross_validation_folds, k),
                None if destination is None else os.path.join(destination, f"fold_{k + 1}.h5"),
                stem=f"cv_predictions_fold_{k + 1}",
                domains=domains,
                force=force,
            )
            for k in range(n)
        ]

    def cross_validation_fold_assignment(self, destination: str | None = None, force: bool = False) -> Frame:
        """The fold (0-based) of every training row, one int column ``fold_assignment`` (H2O-3's
        method). Needs keep_cross_validation_fold_assignment=True; not kept in saved model files."""
        self._kept_for_cv("cross_validation_fold_assignment()", "keep_cross_validation_fold_assignment")
        if self.cross_validation_folds is None:
            raise ValueError(f"model {self.model_id}: no fold assignment in memory (model files do not keep it)")
        return result_frame(
            {"fold_assignment": self.cross_validation_folds.astype(np.int64)},
            destination,
            stem="cv_fold_assignment",
            force=force,
        )

    def _kept_for_cv(self, what: str, flag: str) -> None:
        """H2O-3 returns None when the model is not cross-validated or ``flag`` was off; say which."""
        if not self.is_cross_validated():
            raise ValueError(f"{what}: model {self.model_id} is not cross-validated (train with nfolds or fold_column)")
        if not self.params[flag]:
            raise ValueError(f"{what}: model {self.model_id} was trained without {flag}=True")

    def __getattr__(self, name: str):
        # only for names that are not attributes: an H2O-3 call hpcdl does not have gets its reason
        if name.startswith("_"):
            raise AttributeError(name)
        raise refusal("model", "Model", name)


def prediction_columns(dinfo: DataInfo, kind: str, out: np.ndarray, threshold=None) -> dict[str, np.ndarray]:
    """H2O's prediction columns: ``predict`` (+ one probability per class) from network outputs.

    ``threshold`` (binomial only) is a scalar or one value per row.
    """
    if kind == "regression":
        return {"predict": dinfo.response_to_original(out[:, 0])}
    if kind == "binomial":
        labels = (out[:, 1] >= threshold).astype(np.int32)
    else:
        labels = np.argmax(out, axis=1).astype(np.int32)
    cols = {"predict": labels}
    for k, name in enumerate(probability_names(dinfo.response_domain)):
        cols[name] = out[:, k]
    return cols


def fold_prediction_columns(holdout: dict[str, np.ndarray], folds: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Fold ``k``'s predictions over every training row, 0 outside the fold (H2O-3's
    cross_validation_predictions(): a class column's 0 is its first level)."""
    outside = folds != k
    return {name: np.where(outside, np.zeros((), dtype=col.dtype), col) for name, col in holdout.items()}


def _java_int(text: str) -> bool:
    """Whether Java's Integer.valueOf accepts ``text``: optional sign, decimal digits, 32-bit range."""
    digits = text[1:] if text[:1] in "+-" else text
    return digits.isdecimal() and -(2**31) <= int(text) <= 2**31 - 1


def probability_names(domain) -> list[str]:
    """The class-probability column names of a prediction frame, H2O-3's rule (``Model.makeScoringNames``):
    the class label, with ``p`` before a label that is an integer (0 -> p0, 1 -> p1, -1 -> p-1)."""
    return [f"p{level}" if _java_int(str(level)) else str(level) for level in domain]


def score_outputs(
    model: Model,
    out: np.ndarray,
    X: np.ndarray,
    y: np.ndarray | None,
    weights: np.ndarray | None = None,
    auc_type=None,
) -> dict:
    """Metrics from raw network outputs (offsets included), in original units like H2O's metric
    builders; ``weights``: the rows' observation weights (every metric weighted, as H2O-3's);
    ``auc_type``: the multinomial AUC to compute, default the model's."""
    kind = model.kind
    eff = model.effective
    if kind == "autoencoder":
        row_mse = ((out - X.astype(np.float64)) ** 2).mean(axis=1)
        return metrics.autoencoder_metrics(row_mse)
    if kind == "regression":
        pred = model.dinfo.response_to_original(out[:, 0])
        truth = model.dinfo.response_to_original(np.asarray(y, dtype=np.float64))
        return metrics.regression_metrics(
            truth,
            pred,
            distribution=eff.distribution,
            quantile_alpha=float(eff.quantile_alpha),
            huber_alpha=float(eff.huber_alpha),
            tweedie_power=float(eff.tweedie_power),
            weights=weights,
        )
    probs = model.correct_probabilities(out)
    codes = np.asarray(y).astype(np.int64)
    if kind == "binomial":
        return metrics.binomial_metrics(
            codes, probs[:, 1], model.dinfo.response_domain, p0=probs[:, 0], weights=weights
        )
    return metrics.multinomial_metrics(
        codes,
        probs,
        model.dinfo.response_domain,
        max_hit_ratio_k=int(eff.max_hit_ratio_k),
        weights=weights,
        auc_type=auc_type or eff.auc_type,
    )


def compute_varimp(model: Model) -> list[dict]:
    """Gedeon (1997) importances from the first two weight layers, as H2O reports them."""
    net = model.net
    n_layers = len(net.units) - 1
    w0 = np.abs(net.weights(0).astype(np.float64))
    if net.mult[0] == 2:  # Maxout: a unit's importance flows through both channels
        w0 = w0.reshape(-1, 2, w0.shape[1]).sum(axis=1)
    if n_layers == 1:
        vi = w0.sum(axis=0)
    else:
        w1 = np.abs(net.weights(1).astype(np.float64))
        if net.mult[1] == 2:
            w1 = w1.reshape(-1, 2, w1.shape[1]).sum(axis=1)
        s1 = w0.sum(axis=1, keepdims=True)
        s2 = w1.sum(axis=1, keepdims=True)
        a = np.divide(w0, s1, out=np.zeros_like(w0), where=s1 > 0)  # (hidden1, inputs)
        b = np.divide(w1, s2, out=np.zeros_like(w1), where=s2 > 0)  # (next, hidden1)
        q = a.T @ b.T  # (inputs, next)
        col = q.sum(axis=0, keepdims=True)
        q = np.divide(q, col, out=np.zeros_like(q), where=col > 0)
        vi = q.sum(axis=1)
    unseen_na = set(getattr(model.dinfo, "untrained_inputs", lambda: [])())
    for i in unseen_na:
        vi[i] = 0.0
    top = vi.max() if vi.size and vi.max() > 0 else 1.0
    rel = vi / top
    total = rel.sum() if rel.sum() > 0 else 1.0
    order = np.argsort(-rel, kind="stable")
    names = model.dinfo.input_names
    return [
        {
            "variable": names[i],
            "relative_importance": float(rel[i]),
            "scaled_importance": float(rel[i]),
            "percentage": float(rel[i] / total),
        }
        for i in order
    ]


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if v != v:
            return "NaN"
        return f"{v:.6g}"
    return str(v)


def format_table(rows: list[dict], columns: list[str] | None = None, title: str | None = None) -> str:
    """A plain aligned text table (H2O prints its tables this way)."""
    if not rows:
        return ""
    columns = columns or list(rows[0])
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = [title] if title else []
    lines.append("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


_LAYER_COLUMNS = [
    "layer",
    "units",
    "type",
    "dropout",
    "l1",
    "l2",
    "mean_rate",
    "weight_mean",
    "weight_rms",
    "bias_mean",
    "bias_rms",
]
# The scoring history's printed columns: its counters, then the metrics metrics.METRICS shows there.
_HISTORY_COUNTERS = ("timestamp", "duration", "training_speed", "epochs", "iterations", "samples")


def _history_columns() -> tuple[str, ...]:
    shown = [k.lower() for k in metrics.metric_keys("history_print")]
    return _HISTORY_COUNTERS + tuple(f"{part}_{k}" for part in ("training", "validation") for k in shown)


def format_model(model: Model) -> str:
    kind = model.kind
    info = model.run_info
    lines = [
        f"Model Details\n=============\nH2O-style Deep Learning model (hpcdl): {model.model_id}",
        f"Status of Neuron Layers: predicting {model.dinfo.response or '(autoencoder)'}, {kind}, "
        f"{model.effective.loss} loss, {model.net.W.size + model.net.B.size:,} weights/biases, "
        f"{info.get('samples', 0):,} training samples, {info.get('ranks', 1)} rank(s) x "
        f"{info.get('threads', 1)} thread(s)",
        format_table(model.layer_table(), _LAYER_COLUMNS),
    ]
    for title, m in (
        ("Training metrics", model.training_metrics),
        ("Validation metrics", model.validation_metrics),
        ("Cross-validation metrics", model.cross_validation_metrics),
    ):
        if m:
            lines.append("")
            lines.append(
                metrics.format_metrics(
                    m,
                    kind,
                    f"ModelMetrics ({title}): {kind}",
                    domain=model.dinfo.response_domain,
                    max_confusion_matrix_size=int(model.effective.max_confusion_matrix_size),
                )
            )
    if model.cv_summary:
        lines += ["", _format_cv_summary(model.cv_summary)]
    if model.scoring_events:
        cols = [c for c in _history_columns() if c in model.scoring_events[-1]]
        lines += ["", format_table(model.scoring_events, cols, "Scoring History:")]
    if model.variable_importances:
        lines += ["", format_table(model.variable_importances[:10], title="Variable Importances (top 10):")]
    return "\n".join(lines)


def _format_cv_summary(cv_summary: dict) -> str:
    rows = [
        {
            "metric": key,
            "mean": v["mean"],
            "sd": v["sd"],
            **{f"cv_{k + 1}_valid": x for k, x in enumerate(v["folds"])},
        }
        for key, v in cv_summary.items()
    ]
    return format_table(rows, title="Cross-Validation Metrics Summary:")


def load_model(path: str) -> Model:
    """Load a model saved with :meth:`Model.save` (or a training checkpoint), like ``h2o.load_model``.

    Raises :class:`hpcdl.store.ModelFileError` naming the file for a missing,
    foreign, newer-format, truncated or corrupted file.
    """
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.isfile(path + ".h5"):
        path += ".h5"  # H2O-3 scripts name a saved model <dir>/<model_id>; save_model wrote <model_id>.h5
    content = store.read_model_file(path)
    try:
        return register(Model.from_content(content))
    except store.ModelFileError as exc:
        raise store.ModelFileError(f"{path}: {exc}") from exc
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise store.ModelFileError(
            f"{path}: damaged model file: cannot rebuild the model ({type(exc).__name__}: {exc})"
        ) from exc


# --------------------------------------------------------------------------- #
# Models by id within a process (h2o.get_model, checkpoint=<model_id>), and h2o.save_model
# --------------------------------------------------------------------------- #

# Weakly held: a model stays findable by its id while a Python object (a variable, an estimator, a
# grid) refers to it, and a process that trains many models does not keep them all alive.
_MODELS: weakref.WeakValueDictionary[str, Model] = weakref.WeakValueDictionary()


def register(model: Model) -> Model:
    """Make ``model`` findable by its id in this process (a later model with the same id replaces it)."""
    _MODELS[model.model_id] = model
    return model


def get_model(model_id: str) -> Model:
    """The model of this process with this id (trained or loaded here), like ``h2o.get_model``."""
    model = _MODELS.get(model_id)
    if model is None:
        raise ValueError(
            f"no model {model_id!r} in this process: a model is found by its id while a Python object refers "
            "to it (a variable, an estimator, a grid); load a saved model with hpcdl.load_model(path)"
        )
    return model


def as_model(obj) -> Model:
    """A Model from a Model or an estimator that trained one (hpcdl.estimators)."""
    model = obj if isinstance(obj, Model) else getattr(obj, "hpcdl_model", None)
    if not isinstance(model, Model):
        raise TypeError(f"expected a trained model (hpcdl Model or estimator), got {type(obj).__name__}")
    return model


def resolve_checkpoint(checkpoint) -> Model:
    """The model ``checkpoint`` names: a Model or estimator, the id of a model of this process (as in
    H2O-3), or a model file. A string that is both an id here and a file of another model is an error."""
    if not isinstance(checkpoint, (str, os.PathLike)):
        return as_model(checkpoint)
    key = os.fspath(checkpoint)
    model = _MODELS.get(key)
    if model is None:
        return load_model(key)
    if os.path.exists(key):
        try:
            same = store.read_model_summary(key)["model_id"] == key
        except (store.ModelFileError, OSError, KeyError):
            same = False
        if not same:
            raise ValueError(
                f"checkpoint {key!r} names a model of this process and also the file {key}; pass the model "
                f"object, or the file as {os.path.join('.', key)!r}"
            )
    return model


def save_model(
    model, path: str = "", force: bool = False, export_cross_validation_predictions: bool = False, filename=None
) -> str:
    """Write ``model`` into the directory ``path`` (default: the current one; created if missing) as
    the file named ``filename`` or, by default, ``<model id>.h5`` (``h2o.save_model``'s name plus the
    extension), like ``h2o.save_model``; returns the
    file's path. An existing file is replaced only with ``force=True``. hpcdl's model files do not
    keep cross-validation predictions: ask for them with ``model.cross_validation_holdout_predictions``."""
    model = as_model(model)
    if export_cross_validation_predictions and model.cross_validation_holdout is not None:
        raise ValueError(
            "export_cross_validation_predictions=True: hpcdl model files do not keep cross-validation "
            "predictions; write them with model.cross_validation_holdout_predictions(destination=...)"
        )
    directory = os.fspath(path) or os.getcwd()
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(
            f"save_model: path {directory!r} is a file, not a directory (as in H2O-3, path is the directory "
            "and filename= names the file; model.save(file) writes a file of your choosing)"
        )
    # H2O-3 names the file after the model id with no extension; hpcdl adds ``.h5`` (model files are
    # HDF5, and ``hpcdl models list`` finds them by it); load_model(<dir>/<model_id>) still finds it
    target = os.path.join(directory, filename or model.model_id + ".h5")
    if os.path.isdir(target):
        raise ValueError(f"save_model: {target} is a directory; give another filename=")
    os.makedirs(directory, exist_ok=True)
    return model.save(target, force=force)
