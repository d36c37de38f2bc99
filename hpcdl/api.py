"""The one way to train a model.

``hpcdl.deeplearning`` (the Python API), ``hpcdl train JOB`` (hpcdl/runner.py) and every
model of a grid (hpcdl/grid.py) call :func:`train_model`. Given validated parameters
(``DeepLearningParameters`` is the only gate for parameter values) and frames, it checks the
response and predictors, continues a checkpoint or fits the data preparation, applies the
rules that depend on the response type, and runs cross-validation or one Trainer.

Nothing here prints, writes files or knows about exit codes: the runner and the CLI do.
Under MPI every rank runs the checks; a refusal is raised on every rank alike (``comm.agree``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from . import comm as comm_mod
from .comm import Comm
from .cv import cross_validate, excluding_fold_column
from .frame import Frame
from .lifecycle import prepare_checkpoint
from .model import Model, as_frame, register
from .params import DeepLearningParameters, ParameterError, check_no_cross_validation, check_response_given
from .prep import DataInfo, check_columns, check_special_columns
from .train import Trainer

__all__ = [
    "check_checkpoint_use",
    "check_columns",
    "check_response_given",
    "deeplearning",
    "without_special_columns",
    "train_model",
]

SPECIAL_COLUMNS = ("weights_column", "offset_column")


def _special(params: DeepLearningParameters) -> dict[str, str]:
    return {name: getattr(params, name) for name in SPECIAL_COLUMNS if getattr(params, name)}


def without_special_columns(params: DeepLearningParameters, frame: Frame, x, y: str | None):
    """The predictors ``x`` without the weights and offset columns: never predictors, as in H2O-3
    (h2o-py lists every column but y in x); the default x is every other column."""
    special = _special(params)
    if not special:
        return x
    if x is None:
        skip = {y, params.fold_column, *special.values()}
        return [n for n in frame.names if n not in skip]
    return [c for c in ([x] if isinstance(x, str) else x) if c not in special.values()]


def with_special_columns(dinfo: DataInfo, params: DeepLearningParameters) -> DataInfo:
    """``dinfo`` knowing the run's weights and offset columns (a continued model's too: they are the run's)."""
    dinfo.weights_column, dinfo.offset_column = params.weights_column, params.offset_column
    return dinfo


def check_checkpoint_use(
    params: DeepLearningParameters,
    training_frame: Frame,
    validation_frame: Frame | None,
    x: Sequence[str] | None,
    y: str | None,
    checkpoint: Model | str | os.PathLike,
) -> tuple[Model, DataInfo]:
    """Everything continuing ``checkpoint`` requires (docs/checkpoints.md); returns a copy to train on."""
    check_response_given(params.autoencoder, y)
    check_no_cross_validation(params)
    continued = prepare_checkpoint(checkpoint, params, training_frame, x, y, validation_frame)
    check_columns(training_frame, x, y, params.autoencoder)  # after: a changed response is named as such
    return continued


def fit_data_info(params: DeepLearningParameters, frame: Frame, x, y) -> DataInfo:
    """The data preparation of a new model, from the parameters that shape it."""
    return DataInfo.fit(
        frame,
        x,
        y,
        autoencoder=params.autoencoder,
        classification=params.classification,
        standardize=params.standardize,
        sparse=params.sparse,
        use_all_factor_levels=params.use_all_factor_levels,
        missing_values_handling=params.missing_values_handling,
        ignore_const_cols=params.ignore_const_cols,
        max_categorical_features=params.max_categorical_features,
        seed=params.seed if params.seed not in (None, -1) else 0,
    )


def train_model(
    params: DeepLearningParameters,
    training_frame: Frame,
    validation_frame: Frame | None = None,
    *,
    x: Sequence[str] | None = None,
    y: str | None = None,
    checkpoint: Model | str | os.PathLike | None = None,
    comm: Comm | None = None,
    threads: int | None = None,
    hooks: list | None = None,
    progress=None,
) -> Model:
    """Train one model (with its fold models when ``nfolds``/``fold_column`` ask for them) on every
    rank of ``comm``; returns it on every rank. ``checkpoint`` (a Model or a model file; default:
    ``params.checkpoint``) is continued instead of starting from new weights."""
    if checkpoint is None and params.checkpoint:
        checkpoint = params.checkpoint
    comm = comm or comm_mod.world()

    def prepare() -> tuple[Model | None, DataInfo]:
        if checkpoint is not None:
            continued, dinfo = check_checkpoint_use(params, training_frame, validation_frame, x, y, checkpoint)
            return continued, with_special_columns(dinfo, params)
        check_response_given(params.autoencoder, y)
        check_columns(training_frame, x, y, params.autoencoder)
        predictors = without_special_columns(params, training_frame, x, y)
        predictors = excluding_fold_column(training_frame, predictors, y, params.fold_column)
        return None, with_special_columns(fit_data_info(params, training_frame, predictors, y), params)

    def check() -> tuple[Model | None, DataInfo]:
        checkpoint_model, dinfo = prepare()
        n_classes = len(dinfo.response_domain) if dinfo.classification else None
        params.validate(classification=bool(dinfo.classification), n_classes=n_classes)
        check_special_columns(training_frame, _special(params), dinfo.response)
        special = set(_special(params).values()) & set(dinfo.predictors)
        if special:  # a continued model that took one of them as a predictor
            raise ParameterError(f"{sorted(special)} are predictors of the checkpoint; they cannot be weights/offsets")
        weights = dinfo.standardization_weights(training_frame) if checkpoint_model is None else None
        if weights is not None:  # H2O-3 standardizes with the weighted means and sds
            dinfo = dinfo.refit_numeric(training_frame, np.arange(training_frame.nrow), weights)
        return checkpoint_model, dinfo

    checkpoint_model, dinfo = comm_mod.agree(comm, check, ValueError)
    if params.nfolds or params.fold_column:
        model = cross_validate(
            params,
            dinfo,
            training_frame,
            validation_frame,  # as H2O-3: the main model is scored on it too
            comm=comm,
            threads=threads,
            hooks=hooks,
            progress=progress,
        )
        for fold_model in model.fold_models:  # <model_id>_cv_<k>, findable while the main model holds them
            register(fold_model)
        return register(model)
    trainer = Trainer(
        params,
        dinfo,
        training_frame,
        validation_frame,
        comm=comm,
        threads=threads,
        hooks=hooks,
        checkpoint_model=checkpoint_model,
        progress=progress,
    )
    return register(trainer.run())  # findable by its id in this process: hpcdl.get_model, checkpoint=<id>


def deeplearning(
    x=None,
    y=None,
    training_frame=None,
    validation_frame=None,
    *,
    threads: int | None = None,
    comm: Comm | None = None,
    hooks: list | None = None,
    progress=None,
    **params,
) -> Model:
    """Train a Deep Learning model like ``h2o.deeplearning``; returns the model on every rank.

    Parameters are checked before any frame is read: a bad value fails at once, on every rank alike.
    """
    if comm is None:
        comm_mod.abort_on_error_by_default()
    if training_frame is None:
        raise ValueError("training_frame is required")
    checkpoint = params.pop("checkpoint", None)  # a Model or a path: not a parameter value
    frame_comm = comm or comm_mod.world()  # a path is imported once per shared directory

    def checked() -> DeepLearningParameters:
        p = DeepLearningParameters(**params)
        check_response_given(p.autoencoder, y)
        if checkpoint is not None:
            check_no_cross_validation(p)
        return p

    p = comm_mod.agree(frame_comm, checked, ValueError)
    if checkpoint is not None and p.model_id is None:  # a continued model is a new model (H2O-3): its own id
        p = p.replace(model_id=frame_comm.bcast(Model.new_id() if frame_comm.rank == 0 else None))
    train_frame = as_frame(training_frame, "training_frame", frame_comm)
    valid_frame = as_frame(validation_frame, "validation_frame", frame_comm) if validation_frame is not None else None
    return train_model(
        p,
        train_frame,
        valid_frame,
        x=x,
        y=y,
        checkpoint=checkpoint,
        comm=comm,
        threads=threads,
        hooks=hooks,
        progress=progress,
    )
