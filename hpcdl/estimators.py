"""H2O-3's estimator classes, so that H2O-3 code runs with one changed import (docs/python-api.md).

    from hpcdl.estimators import H2ODeepLearningEstimator
    dl = H2ODeepLearningEstimator(hidden=[10, 10], epochs=5, seed=1)
    dl.train(x=["AGE", "PSA"], y="CAPSULE", training_frame=train)
    dl.auc(), dl.predict(test), dl.model_performance(test).confusion_matrix()

An estimator holds parameters until ``train``, then the model it trained: every model method and
attribute (``predict``, ``model_performance``, ``scoring_history()``, ``varimp()``, ``model_id``, ...)
is the model's (:class:`hpcdl.model.Model`). Parameters are checked by
:class:`~hpcdl.params.DeepLearningParameters` alone (when the estimator is built or a parameter
is set), training is :func:`hpcdl.api.deeplearning`, and :class:`H2OGridSearch` is
:func:`hpcdl.grid.grid`: no second path.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

from . import api
from . import comm as comm_mod
from .frame import Frame
from .grid import Grid, grid
from .model import Model, as_frame, as_model
from .output import progress_printer
from .params import (
    ALIASES,
    NOT_SUPPORTED_DEFAULTS,
    PARAMETERS,
    DeepLearningParameters,
    ParameterError,
    any_autoencoder,
    check_value,
)

__all__ = ["DeepLearningEstimator", "H2OAutoEncoderEstimator", "H2ODeepLearningEstimator", "H2OGridSearch"]

_PARAMETER_NAMES = frozenset(p.name for p in PARAMETERS) | frozenset(ALIASES)
# H2O-3 constructor arguments that are the data, not model parameters.
_DATA_ARGUMENTS = ("training_frame", "validation_frame", "response_column", "ignored_columns")


def _column_name(frame: Frame, column, what: str) -> str:
    """A column given by name or by (possibly negative) index, as H2O-3 takes x and y."""
    if isinstance(column, bool) or not isinstance(column, int):
        return column
    if not -frame.ncol <= column < frame.ncol:
        raise ParameterError(
            f"{what}: column index {column} does not exist in {frame.display_name} ({frame.ncol} columns)", what
        )
    return frame.names[column]


def resolve_columns(
    frame: Frame, x, y, ignored_columns=None, *, supervised: bool = True
) -> tuple[list[str] | None, str | None]:
    """H2O-3's x/y rules: names or indices; x None = every column but y and ``ignored_columns``;
    an unsupervised model (autoencoder) ignores y. Names are checked later, by hpcdl.api."""
    y = _column_name(frame, y, "y") if (supervised and y is not None) else None
    if ignored_columns is not None:
        if x is not None:
            raise ParameterError("give x or ignored_columns, not both (as in H2O-3)", "ignored_columns")
        ignored = [_column_name(frame, c, "ignored_columns") for c in ignored_columns]
        unknown = [c for c in ignored if c not in frame.names]
        if unknown:
            raise ParameterError(
                f"ignored_columns: {unknown} are not columns of {frame.display_name}", "ignored_columns"
            )
        return [n for n in frame.names if n != y and n not in ignored], y
    if x is None:
        return None, y
    if isinstance(x, (str, int)):
        x = [x]
    return [_column_name(frame, c, "x") for c in x], y


def _frames(training_frame, validation_frame, comm: comm_mod.Comm | None):
    """The frames of a training call, imported (a path) or written (numpy, pandas) once for all ranks."""
    if training_frame is None:
        raise ValueError("training_frame is required")
    if comm is None:
        comm_mod.abort_on_error_by_default()
    frame_comm = comm or comm_mod.world()
    train = as_frame(training_frame, "training_frame", frame_comm)
    valid = as_frame(validation_frame, "validation_frame", frame_comm) if validation_frame is not None else None
    return train, valid, frame_comm


class H2ODeepLearningEstimator:
    """Deep Learning like ``h2o.estimators.H2ODeepLearningEstimator``: H2O-3's parameter names and
    defaults (docs/parameters.md) as keyword arguments or attributes (``est.epochs = 20``); ``train``,
    then the model's API on the estimator."""

    algo = "deeplearning"

    def __init__(self, **parameters: Any) -> None:
        data = {k: parameters.pop(k) for k in _DATA_ARGUMENTS if k in parameters}
        checkpoint = parameters.get("checkpoint")
        if checkpoint is not None and not isinstance(checkpoint, str):  # a model object, not a parameter value
            parameters.pop("checkpoint")
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_checkpoint_model", None if isinstance(checkpoint, str) else checkpoint)
        object.__setattr__(self, "_params", DeepLearningParameters(**parameters))  # the one gate
        object.__setattr__(self, "_model", None)

    @classmethod
    def _of(cls, model: Model) -> H2ODeepLearningEstimator:
        """An estimator holding an already trained model (a grid's models)."""
        est = cls.__new__(cls)
        object.__setattr__(est, "_data", {})
        object.__setattr__(est, "_checkpoint_model", None)
        object.__setattr__(est, "_params", model.params)
        object.__setattr__(est, "_model", model)
        return est

    # -- parameters as attributes (H2O-3) -------------------------------------------
    def __getattr__(self, name: str):
        # only called for names that are not ordinary attributes; private ones are never delegated
        if name in ("_id", "key"):  # H2O-3's ModelBase keeps the model id in _id (the booklet reads it); None untrained
            return self._model.model_id if self._model is not None else None
        if name.startswith("_"):
            raise AttributeError(name)
        if name in _DATA_ARGUMENTS:
            return self._data.get(name)
        if name == "model_id" and self._model is not None:
            return self._model.model_id
        if name == "checkpoint" and self._checkpoint_model is not None:
            return self._checkpoint_model
        if name in _PARAMETER_NAMES:
            return getattr(self._params, name)
        if name in NOT_SUPPORTED_DEFAULTS:  # an H2O-3 parameter hpcdl lacks: it acts as at its default
            return NOT_SUPPORTED_DEFAULTS[name]
        if self._model is not None:
            return getattr(self._model, name)
        if hasattr(Model, name) or name in Model.__dataclass_fields__:
            raise AttributeError(f"{type(self).__name__}.{name}: not trained yet; call train() first")
        raise AttributeError(f"{type(self).__name__} has no attribute or parameter {name!r}")

    def __setattr__(self, name: str, value) -> None:
        if name in _DATA_ARGUMENTS:
            self._data[name] = value
        elif name == "checkpoint" and value is not None and not isinstance(value, str):
            object.__setattr__(self, "_checkpoint_model", value)
            object.__setattr__(self, "_params", self._params.replace(checkpoint=None))
        elif name in _PARAMETER_NAMES:
            if name == "checkpoint":
                object.__setattr__(self, "_checkpoint_model", None)
            object.__setattr__(self, "_params", self._params.replace(**{name: value}))
        elif name in NOT_SUPPORTED_DEFAULTS:
            check_value(name, value)  # its H2O-3 default is a no-op; any other value is refused with the reason
        else:
            object.__setattr__(self, name, value)

    @property
    def supervised_learning(self) -> bool:
        """False for an autoencoder (H2O-3 then ignores y)."""
        return not self._params.autoencoder

    @property
    def hpcdl_model(self) -> Model:
        """The :class:`hpcdl.model.Model` this estimator trained."""
        if self._model is None:
            raise AttributeError(f"{type(self).__name__}: not trained yet; call train() first")
        return self._model

    # -- training ----------------------------------------------------------------------
    def train(
        self,
        x=None,
        y=None,
        training_frame=None,
        offset_column=None,
        fold_column=None,
        weights_column=None,
        validation_frame=None,
        max_runtime_secs=None,
        ignored_columns=None,
        model_id=None,
        verbose: bool = False,
        *,
        comm: comm_mod.Comm | None = None,
        threads: int | None = None,
        hooks: list | None = None,
    ) -> H2ODeepLearningEstimator:
        """Train on ``training_frame`` (a Frame, a file path, or numpy/pandas data) with H2O-3's
        arguments; x and y by name or index. Returns the estimator. ``verbose``: print each scoring
        event. ``comm``/``threads``/``hooks``: as :func:`hpcdl.deeplearning` (MPI ranks, threads)."""
        given = {
            "fold_column": fold_column,
            "weights_column": weights_column,
            "offset_column": offset_column,
            "max_runtime_secs": max_runtime_secs,
            "model_id": model_id,
        }
        changes = {k: v for k, v in given.items() if v is not None}
        params = self._params.replace(**changes) if changes else self._params
        train, valid, frame_comm = _frames(
            self._data.get("training_frame") if training_frame is None else training_frame,
            self._data.get("validation_frame") if validation_frame is None else validation_frame,
            comm,
        )
        x, y = resolve_columns(
            train,
            x,
            self._data.get("response_column") if y is None else y,
            self._data.get("ignored_columns") if ignored_columns is None else ignored_columns,
            supervised=self.supervised_learning,
        )
        kw = params.to_dict(user_given_only=True)
        if self._checkpoint_model is not None:
            kw["checkpoint"] = as_model(self._checkpoint_model)
        progress = None
        if verbose and frame_comm.rank == 0:
            progress = progress_printer(float(params.epochs), time.time())
        model = api.deeplearning(x, y, train, valid, comm=comm, threads=threads, hooks=hooks, progress=progress, **kw)
        object.__setattr__(self, "_model", model)
        return self

    # -- printing ----------------------------------------------------------------------
    def __str__(self) -> str:
        if self._model is None:
            return f"{type(self).__name__}: no model trained yet ({self._params!r})"
        return str(self._model)

    __repr__ = __str__

    def show(self) -> None:
        print(self)


DeepLearningEstimator = H2ODeepLearningEstimator


class H2OAutoEncoderEstimator(H2ODeepLearningEstimator):
    """An autoencoder: ``H2ODeepLearningEstimator(autoencoder=True)``, as in H2O-3 (y is ignored)."""

    def __init__(self, **parameters: Any) -> None:
        super().__init__(**{**parameters, "autoencoder": True})


# --------------------------------------------------------------------------- #
# Grid search
# --------------------------------------------------------------------------- #


def _per_model(method: str):
    """A grid method answering per model, {model_id: answer}, as H2O-3's grid does."""

    def per_model(self, *args, **kwargs) -> dict:
        return {m.model_id: getattr(m, method)(*args, **kwargs) for m in self.models}

    per_model.__name__ = per_model.__qualname__ = method
    per_model.__doc__ = f"{{model_id: model.{method}(...)}} over the grid's models, best first."
    return per_model


class H2OGridSearch:
    """``h2o.grid.H2OGridSearch``: a model per combination of ``hyper_params`` values, over
    :func:`hpcdl.grid.grid`. ``model``: an estimator class or instance (its parameters are the
    fixed ones). After ``train``: ``len(gs)``, ``gs[0]``, ``for m in gs``, ``gs.models`` (estimators,
    best first), ``gs.model_ids``, ``gs.get_grid(sort_by=, decreasing=)``, ``gs.sorted_metric_table()``.

    ``export_checkpoints_dir``: a directory that receives every model file and the grid summary
    (``hpcdl.load_grid``). ``parallelism``: groups of MPI ranks training models at the same time.
    """

    def __init__(
        self,
        model,
        hyper_params: dict,
        grid_id: str | None = None,
        search_criteria: dict | None = None,
        export_checkpoints_dir: str | None = None,
        recovery_dir: str | None = None,
        parallelism: int = 1,
    ) -> None:
        if isinstance(model, type):
            model = model()
        if not isinstance(model, H2ODeepLearningEstimator):
            raise TypeError(
                f"H2OGridSearch: hpcdl searches H2ODeepLearningEstimator models, got {type(model).__name__}"
            )
        if recovery_dir is not None:
            raise ValueError(
                "recovery_dir: hpcdl does not resume grids; export_checkpoints_dir keeps every finished model"
            )
        self.model = model
        self.hyper_params = dict(hyper_params)
        self.search_criteria = None if search_criteria is None else dict(search_criteria)
        self.export_checkpoints_dir = export_checkpoints_dir
        self._id = grid_id
        self._parallelism = int(parallelism)
        self._grid: Grid | None = None
        self._models: list[H2ODeepLearningEstimator] = []

    def train(
        self,
        x=None,
        y=None,
        training_frame=None,
        offset_column=None,
        fold_column=None,
        weights_column=None,
        validation_frame=None,
        *,
        comm: comm_mod.Comm | None = None,
        threads: int | None = None,
        progress=None,
        **params,
    ) -> H2OGridSearch:
        """Train every model (``params``: more fixed parameters); returns the grid search. Models
        that fail are reported (a warning each) and left out, as H2O-3 does; none trained is an error."""
        fixed = {**self.model._params.to_dict(user_given_only=True), **params}
        for name, value in (
            ("fold_column", fold_column),
            ("weights_column", weights_column),
            ("offset_column", offset_column),
        ):
            if value is not None:
                fixed[name] = value
        supervised = not any_autoencoder(fixed, self.hyper_params)
        if not supervised and y is not None:
            raise ParameterError("y should not be specified for an autoencoder (as in H2O-3)", "y")
        data = self.model._data  # the template's data arguments stand in for missing ones, as in H2O-3
        train, valid, _ = _frames(
            data.get("training_frame") if training_frame is None else training_frame,
            data.get("validation_frame") if validation_frame is None else validation_frame,
            comm,
        )
        x, y = resolve_columns(
            train,
            x,
            data.get("response_column") if y is None else y,
            data.get("ignored_columns") if x is None else None,
            supervised=supervised,
        )
        g = grid(
            x,
            y,
            train,
            valid,
            hyper_params=self.hyper_params,
            search_criteria=self.search_criteria,
            grid_id=self._id,
            comm=comm,
            threads=threads,
            parallelism=self._parallelism,
            save_dir=self.export_checkpoints_dir,
            progress=progress,
            **fixed,
        )
        for e in g.failed:
            warnings.warn(f"grid {g.grid_id}: model {e.model_id} {e.hyper} failed: {e.error}", stacklevel=2)
        if not len(g):
            raise ValueError(f"grid {g.grid_id}: no model trained: " + "; ".join(e.error or "" for e in g.failed))
        self._set_grid(g)
        return self

    def _set_grid(self, g: Grid) -> None:
        self._grid = g
        self._id = g.grid_id
        self._models = [type(self.model)._of(m) for m in g.models]

    def _trained(self) -> Grid:
        if self._grid is None:
            raise AttributeError("H2OGridSearch: not trained yet; call train() first")
        return self._grid

    # -- H2O-3's grid surface -------------------------------------------------------
    @property
    def grid_id(self) -> str | None:
        return self._id

    @property
    def models(self) -> list[H2ODeepLearningEstimator]:
        """The models that trained, as estimators, best first."""
        self._trained()
        return list(self._models)

    @property
    def model_ids(self) -> list[str]:
        return self._trained().model_ids

    @property
    def hyper_names(self) -> list[str]:
        return list(self._trained().hyper_names) if self._grid is not None else list(self.hyper_params)

    @property
    def failed_params(self) -> list[dict]:
        return [e.hyper for e in self._trained().failed]

    @property
    def failure_details(self) -> list[str]:
        return [e.error or "" for e in self._trained().failed]

    def __len__(self) -> int:
        return len(self._models)

    def __getitem__(self, i: int) -> H2ODeepLearningEstimator:
        return self.models[i]

    def __iter__(self):
        return iter(self.models)

    def get_grid(self, sort_by: str | None = None, decreasing: bool | None = None) -> H2OGridSearch:
        """This grid search ordered by ``sort_by`` (increasing unless ``decreasing=True``, as H2O-3)."""
        sorted_grid = self._trained().get_grid(sort_by, decreasing)
        if sorted_grid is self._grid:
            return self
        other = H2OGridSearch(
            self.model, self.hyper_params, self._id, self.search_criteria, parallelism=self._parallelism
        )
        other.export_checkpoints_dir = self.export_checkpoints_dir
        by_id = {m.model_id: m for m in self._models}
        other._grid, other._models = sorted_grid, [by_id[i] for i in sorted_grid.model_ids]
        return other

    def sorted_metric_table(self, use_pandas: bool = True):
        return self._trained().sorted_metric_table(use_pandas)

    def get_hyperparams(self, id: str, display: bool = True) -> list:
        return self._trained().get_hyperparams(id)

    def get_hyperparams_dict(self, id: str, display: bool = True) -> dict:
        return self._trained().get_hyperparams_dict(id)

    @property
    def grid(self) -> Grid:
        """The underlying :class:`hpcdl.grid.Grid` (``save``, ``summary_table``, ``get_param``)."""
        return self._trained()

    model_performance = _per_model("model_performance")
    scoring_history = _per_model("scoring_history")
    varimp = _per_model("varimp")
    predict = _per_model("predict")
    auc = _per_model("auc")
    aucpr = _per_model("aucpr")
    logloss = _per_model("logloss")
    mse = _per_model("mse")
    rmse = _per_model("rmse")
    r2 = _per_model("r2")
    mae = _per_model("mae")
    mean_residual_deviance = _per_model("mean_residual_deviance")

    def __str__(self) -> str:
        if self._grid is None:
            return f"H2OGridSearch of {type(self.model).__name__} over {sorted(self.hyper_params)}: not trained yet"
        return str(self._grid)

    __repr__ = __str__

    def show(self) -> None:
        print(self)
