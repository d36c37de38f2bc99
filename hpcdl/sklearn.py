"""scikit-learn estimators: ``DeepLearningClassifier`` and ``DeepLearningRegressor``.

A thin adapter over the one training path (:func:`hpcdl.api.train_model`): ``fit`` writes X and y
as a temporary frame, trains one model in this process, and keeps it as ``model_`` (the ordinary
hpcdl :class:`~hpcdl.model.Model`: ``varimp``, ``scoring_history``, ``save``). ``predict`` scores X
in memory with the model's own preparation and network (what ``model_.predict`` does per chunk of a
frame). The reference is docs/python-api.md, "scikit-learn estimators".

The constructor's parameters are H2O-3's Deep Learning parameters with their names and defaults,
taken from :data:`hpcdl.params.PARAMETERS`, not listed again here: scikit-learn finds an estimator's
parameters by ``inspect.signature(type(est).__init__)``, and ``inspect.signature`` honours a
function's ``__signature__``, so ``__init__`` takes ``**params`` and carries a signature built from
the declarations. No source code is generated, and a parameter added to ``params.py`` appears here
(and in ``get_params``) by itself. Values are checked once, by ``DeepLearningParameters``, in
``fit`` (scikit-learn's convention: constructors only store).

Importing this module imports scikit-learn; ``import hpcdl`` does not import this module.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_consistent_length, check_is_fitted, validate_data

from . import comm as comm_mod
from .api import train_model
from .frame import Frame, frame_from_numpy
from .fsutil import delete_with, scratch_path
from .model import Model
from .params import ALIASES, NOT_SUPPORTED, PARAMETERS, DeepLearningParameters

__all__ = ["NOT_ESTIMATOR_PARAMETERS", "DeepLearningClassifier", "DeepLearningRegressor"]

# H2O-3 parameters that are not constructor parameters here, and why (the TypeError says so).
NOT_ESTIMATOR_PARAMETERS: dict[str, str] = {
    "classification": "the estimator class decides it (DeepLearningClassifier or DeepLearningRegressor)",
    "autoencoder": "an autoencoder is neither a classifier nor a regressor; use hpcdl.deeplearning(autoencoder=True)",
    "sparsity_beta": "it is for autoencoders only; use hpcdl.deeplearning(autoencoder=True)",
    "average_activation": "it is for autoencoders only; use hpcdl.deeplearning(autoencoder=True)",
    "nfolds": "cross-validate with sklearn.model_selection (cross_val_score, GridSearchCV)",
    "fold_assignment": "cross-validate with sklearn.model_selection (cross_val_score, GridSearchCV)",
    "fold_column": "cross-validate with sklearn.model_selection (cross_val_score, GridSearchCV)",
    "keep_cross_validation_predictions": "use sklearn.model_selection.cross_val_predict",
    "keep_cross_validation_fold_assignment": "cross-validate with sklearn.model_selection (its splitters give the folds)",
    "keep_cross_validation_models": "cross-validate with sklearn.model_selection (cross_validate(return_estimator=True))",
    "checkpoint": "continue a model with hpcdl.deeplearning(checkpoint=estimator.model_)",
    "model_id": "the estimator holds its model as model_",
}

_RESPONSE = "y"  # the response column's name in the training frame (a feature of that name shifts it)
_WEIGHTS = "sample_weight"  # fit's sample_weight as the frame's weights column (likewise shifted)


def _signature_default(default: Any) -> Any:
    # scikit-learn's check_parameters_default_constructible allows immutable defaults only: a
    # list default ([200, 200]) is given as a tuple; DeepLearningParameters takes either.
    return tuple(default) if isinstance(default, list) else default


_PARAMS = tuple(p for p in PARAMETERS if p.name not in NOT_ESTIMATOR_PARAMETERS)
_DEFAULTS: dict[str, Any] = {p.name: _signature_default(p.default) for p in _PARAMS}
# scikit-learn's name for the seed (check_estimator and set_random_state set it): an int or a
# numpy RandomState gives seed and reproducible=True, so that two fits give the same model.
_DEFAULTS["random_state"] = None
_SIGNATURE = inspect.Signature(
    [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    + [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=d) for name, d in _DEFAULTS.items()]
)


def _unknown_parameter(cls_name: str, name: str) -> TypeError:
    canonical = ALIASES.get(name, name)
    if canonical in NOT_SUPPORTED:
        return TypeError(f"{cls_name}: {name}: {NOT_SUPPORTED[canonical]} (see docs/differences.md)")
    if canonical in NOT_ESTIMATOR_PARAMETERS:
        return TypeError(f"{cls_name}: {name!r} is not a parameter here: {NOT_ESTIMATOR_PARAMETERS[canonical]}")
    if canonical != name:  # one name per parameter, the one get_params returns (clone rebuilds from it)
        return TypeError(f"{cls_name}: {name!r} is an alias; use {canonical!r}")
    close = difflib.get_close_matches(name, list(_DEFAULTS), n=2, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return TypeError(f"{cls_name}: unknown parameter {name!r}{hint} (H2O-3's names: see docs/parameters.md)")


def _is_default(value: Any, default: Any) -> bool:
    if isinstance(default, tuple) or isinstance(value, (list, tuple, np.ndarray)):
        try:
            return isinstance(default, tuple) and list(np.asarray(value).ravel()) == list(default)
        except (TypeError, ValueError):
            return False
    if isinstance(value, bool) != isinstance(default, bool):  # True == 1, but not as a parameter value
        return False
    try:
        return bool(value == default)
    except (TypeError, ValueError):
        return False


def _is_dataframe(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "iloc")


def _column_kind(name: str, series) -> str:
    """``enum`` for pandas categorical, object and string columns, ``real`` for numbers and booleans."""
    import pandas as pd  # a slow import (0.3-0.7 s here): only when X is a DataFrame

    dtype = series.dtype
    if isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype)) or pd.api.types.is_object_dtype(dtype):
        return "enum"
    if pd.api.types.is_bool_dtype(dtype) or (pd.api.types.is_numeric_dtype(dtype) and dtype.kind != "c"):
        return "real"
    raise ValueError(
        f"X: column {name!r} has dtype {dtype}, which hpcdl cannot use as a predictor; "
        "give numbers, or categories as a pandas categorical or string column"
    )


def _enum_values(series) -> np.ndarray:
    """Level strings with None for missing values (NaN, None, pd.NA), as frames store enums."""
    import pandas as pd  # a slow import (0.3-0.7 s here): only when X is a DataFrame

    return np.array([None if pd.isna(v) else str(v) for v in series.to_numpy(dtype=object)], dtype=object)


def _real_values(name: str, series) -> np.ndarray:
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        raise ValueError(f"X: column {name!r} contains infinity; give finite numbers (NaN is read as missing)")
    return values


def _scratch_frame(columns: dict[str, np.ndarray], display_name: str) -> Frame:
    """``columns`` as a frame in this process's temporary directory, deleted with the returned object;
    messages about it name ``display_name`` (the call the user made) rather than a temporary path."""
    path = scratch_path("sklearn")
    frame_from_numpy(columns, path)
    frame = Frame(path, display_name=display_name)
    delete_with(frame, path)
    return frame


class _DeepLearningEstimator(BaseEstimator):
    """What both estimators share: parameters, X as frame columns, one in-process training."""

    def __init__(self, **params: Any) -> None:
        for name in params:
            if name not in _DEFAULTS:
                raise _unknown_parameter(type(self).__name__, name)
        for name, default in _DEFAULTS.items():
            setattr(self, name, params.get(name, default))

    __init__.__signature__ = _SIGNATURE  # what scikit-learn (get_params, clone, repr) and help() read

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values: missing_values_handling (MeanImputation)
        tags.input_tags.categorical = True  # pandas categorical/object columns become enum columns
        # HOGWILD! threads and seed=-1 make runs differ; reproducible=True with a seed does not
        tags.non_deterministic = not (self.reproducible and self.seed != -1) and self.random_state is None
        return tags

    # -- fit -----------------------------------------------------------------
    def _parameters(self) -> DeepLearningParameters:
        """The one gate. Values left at their defaults count as not given, as in hpcdl.deeplearning
        (e.g. Rectifier's max_w2 cap applies unless max_w2 is set to another value)."""
        values = self.get_params(deep=False)
        random_state = values.pop("random_state")
        # in declaration order, so the first of several bad values is the one hpcdl.deeplearning names
        given = {n: values[n] for n, d in _DEFAULTS.items() if n in values and not _is_default(values[n], d)}
        if random_state is not None:
            given.update(_seed_from_random_state(type(self).__name__, random_state))
        return DeepLearningParameters(**given)

    def _check_fit(self, X, y, y_numeric: bool) -> tuple[DeepLearningParameters, dict[str, np.ndarray], np.ndarray]:
        """Check the run, the parameters, X and y; return the parameters, X's frame columns and y (1-D)."""
        _refuse_several_ranks(type(self).__name__)
        params = self._parameters()
        y = validate_data(self, y=y, y_numeric=y_numeric)  # first: with X unset, it clears feature names
        columns = self._columns(X, reset=True)
        first = next(iter(columns.values()))
        check_consistent_length(first, y)
        n_samples = len(first)
        if n_samples < 2:  # every column of one row is constant: name the cause, not the dropped columns
            raise ValueError(f"{type(self).__name__}.fit needs at least 2 samples; got n_samples={n_samples}")
        return params, columns, y

    def _train(
        self, params: DeepLearningParameters, columns: dict[str, np.ndarray], y: np.ndarray, sample_weight=None
    ) -> Model:
        response = _RESPONSE
        while response in columns:
            response += "_"
        data = {**columns, response: y}
        if sample_weight is not None:  # the one path: a weights column, as weights_column (docs/python-api.md)
            weights = _WEIGHTS
            while weights in data:
                weights += "_"
            w = _check_sample_weight(sample_weight, columns[next(iter(columns))], dtype=np.float64)
            if np.any(w < 0) or not np.all(np.isfinite(w)):
                raise ValueError("sample_weight: weights must be finite and >= 0")
            data[weights] = w
            params = params.replace(weights_column=weights)
        frame = _scratch_frame(data, "fit(X, y)")
        # in-process and silent: a serial communicator, no progress callback
        return train_model(params, frame, x=list(columns), y=response, comm=comm_mod.SerialComm())

    # -- X as frame columns --------------------------------------------------
    def _columns(self, X, reset: bool) -> dict[str, np.ndarray]:
        """X's columns by name, enum columns as level strings; sets or checks n_features_in_ and
        feature_names_in_ (scikit-learn's rules)."""
        if _is_dataframe(X):
            validate_data(self, X, reset=reset, skip_check_array=True)
            if X.shape[0] < 1 or X.shape[1] < 1:
                raise ValueError(
                    f"X: a DataFrame with {X.shape[0]} row(s) and {X.shape[1]} column(s); need at least 1 of each"
                )
            return self._dataframe_columns(X, reset)
        if not reset and self._enum_columns:
            raise ValueError(
                f"{type(self).__name__} was fitted on a DataFrame with categorical columns {self._enum_columns}; "
                "predict needs a DataFrame with the same columns"
            )
        X = validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite="allow-nan")
        if reset:
            self._enum_columns = []
        return dict(zip(self._column_names(X.shape[1]), X.T))

    def _column_names(self, n: int) -> list[str]:
        """Frame column names: the DataFrame's (string) names as fitted, else H2O's C1, C2, ..."""
        names = getattr(self, "feature_names_in_", None)
        return [str(c) for c in names] if names is not None else [f"C{i + 1}" for i in range(n)]

    def _dataframe_columns(self, X, reset: bool) -> dict[str, np.ndarray]:
        names = self._column_names(X.shape[1])
        if len(set(names)) != len(names):
            raise ValueError(f"X: duplicate column names {sorted({n for n in names if names.count(n) > 1})}")
        kinds = [_column_kind(n, s) for n, (_, s) in zip(names, X.items())]
        if reset:
            self._enum_columns = [n for n, k in zip(names, kinds) if k == "enum"]
        columns = {}
        for n, kind, (_, s) in zip(names, kinds, X.items()):
            if n in self._enum_columns:
                # numbers in a column fitted as categorical: scoring matches them by level string (asfactor)
                columns[n] = _real_values(n, s) if kind == "real" else _enum_values(s)
            elif kind == "enum":
                raise ValueError(f"X: column {n!r} was numeric in fit but is categorical here (dtype {s.dtype})")
            else:
                columns[n] = _real_values(n, s)
        return columns

    def _predictions(self, X) -> list[np.ndarray]:
        """The columns ``model_.predict`` would write, in its order (``predict``, then one probability
        per class), computed in memory: ``model_.predict`` is this per chunk of a frame, and writing X
        and the result as two frames would cost more than the scoring (predict is called in loops)."""
        check_is_fitted(self, "model_")
        inputs, _, _ = self.model_.dinfo.transform_arrays(self._columns(X, reset=False), where="predict(X)")
        return list(self.model_.predict_arrays(inputs).values())


def _seed_from_random_state(cls_name: str, random_state: Any) -> dict[str, Any]:
    """``seed`` and ``reproducible=True`` from scikit-learn's ``random_state`` (an int, or a numpy
    RandomState/Generator to draw one from, as scikit-learn's estimators do)."""
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        draw = random_state.randint if isinstance(random_state, np.random.RandomState) else random_state.integers
        value = int(draw(0, 2**31 - 1))
    elif isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        value = int(random_state)
    else:
        raise ValueError(f"{cls_name}: random_state={random_state!r}; give an int, a numpy RandomState or None")
    # random_state wins over seed: scikit-learn's tools (check_estimator, set_random_state) set it on
    # estimators that may carry a seed already
    return {"seed": value, "reproducible": True}


def _refuse_several_ranks(cls_name: str) -> None:
    """Under mpiexec every rank runs the script: each would train its own model on a copy of X,
    and scikit-learn's meta-estimators cannot keep ranks in step for a collective fit (see
    docs/python-api.md). Train on several ranks with hpcdl.deeplearning or a job file."""
    size = comm_mod.world().size
    if size > 1:
        raise RuntimeError(
            f"{cls_name}.fit trains in one process, but this script runs on {size} MPI ranks (mpiexec): "
            "run it without mpiexec, or train on several ranks with hpcdl.deeplearning or `hpcdl train JOB`"
        )


class DeepLearningClassifier(ClassifierMixin, _DeepLearningEstimator):
    """H2O-3 Deep Learning classification as a scikit-learn classifier.

    Parameters: H2O-3's Deep Learning parameters and defaults (docs/parameters.md), except those
    in ``NOT_ESTIMATOR_PARAMETERS``, plus scikit-learn's ``random_state`` (an int or a RandomState:
    it sets ``seed`` and ``reproducible=True``). Fitted attributes: ``classes_`` (the labels of y, in their dtype), ``n_features_in_``,
    ``feature_names_in_`` (DataFrame X), ``model_`` (the hpcdl Model).
    """

    def fit(self, X, y, sample_weight=None) -> DeepLearningClassifier:
        """Train on X (array or DataFrame) and the class labels y; returns self. ``sample_weight``:
        observation weights (H2O-3's weights_column; 0 = the row counts for nothing)."""
        params, columns, y = self._check_fit(X, y, y_numeric=False)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes in y; got 1 class: {classes.tolist()[0]!r}"
            )
        levels = [str(c) for c in classes]
        if len(set(levels)) != len(levels):
            raise ValueError(f"y: class labels {classes.tolist()} are not distinct as strings")
        # the response is an enum column of the labels' strings; the frame sorts its levels as
        # strings (as H2O does: '10' before '2'), so classes_ finds its columns by level name
        labels = np.array(levels, dtype=object)[np.searchsorted(classes, y)]
        self.model_ = self._train(params, columns, labels, sample_weight)
        position = {level: k for k, level in enumerate(self.model_.dinfo.response_domain)}
        self._class_columns = [1 + position[level] for level in levels]  # column 0 is "predict"
        self.classes_ = classes
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, one column per class in ``classes_`` order."""
        check_is_fitted(self, "model_")  # before classes_ is read
        pred = self._predictions(X)
        return np.column_stack([pred[k] for k in self._class_columns])

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row (argmax of ``predict_proba``), a value of ``classes_``."""
        proba = self.predict_proba(X)  # first: it says NotFittedError before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]


class DeepLearningRegressor(RegressorMixin, _DeepLearningEstimator):
    """H2O-3 Deep Learning regression as a scikit-learn regressor.

    Parameters as :class:`DeepLearningClassifier`; ``distribution``/``loss`` choose the loss
    (gaussian by default). Fitted attributes: ``n_features_in_``, ``feature_names_in_``, ``model_``.
    """

    def fit(self, X, y, sample_weight=None) -> DeepLearningRegressor:
        """Train on X (array or DataFrame) and the numeric target y; returns self. ``sample_weight``:
        as :meth:`DeepLearningClassifier.fit`."""
        params, columns, y = self._check_fit(X, y, y_numeric=True)
        self.model_ = self._train(params, columns, np.asarray(y, dtype=np.float64), sample_weight)
        return self

    def predict(self, X) -> np.ndarray:
        """The predicted target of each row."""
        return np.asarray(self._predictions(X)[0], dtype=np.float64)
