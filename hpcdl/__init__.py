"""hpcdl: H2O-style Deep Learning on MPI ranks with Numba HOGWILD! threads.

The public API mirrors H2O's R/Python one::

    import hpcdl
    train = hpcdl.import_file("prostate.csv", col_types={"CAPSULE": "enum"})
    model = hpcdl.deeplearning(x=[...], y="CAPSULE", training_frame=train, hidden=[10, 10], epochs=10)
    preds = model.predict(train)
    model.save("prostate.h5"); model = hpcdl.load_model("prostate.h5")

H2O-3 code runs with one changed import (``from hpcdl.estimators import H2ODeepLearningEstimator``);
docs/python-api.md is the reference.
"""

from __future__ import annotations

import os as _os

# Numba's workqueue layer never forks after its threads start: safe beside MPI.
_os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

from .api import deeplearning  # noqa: E402
from .frame import Frame, frame_from_numpy  # noqa: E402
from .grid import Grid, grid, load_grid  # noqa: E402  (after this, ``hpcdl.grid`` is the function)
from .model import Model, load_model  # noqa: E402
from .params import DeepLearningParameters, ParameterError  # noqa: E402

__version__ = "0.1.0"

# H2O-3's model surface (issue 16; docs/python-api.md, "Models and estimators")
# -- frames as H2O-3's Python package has them (issue 16): H2OFrame(python_obj), Frame.from_pandas, the
# H2OFrame methods on every Frame; Parquet and SVMLight in import_file (docs/python-api.md, "Frames")
from .frame import H2OFrame  # noqa: E402
from .metrics import ConfusionMatrix, ModelMetrics, TwoDimTable  # noqa: E402
from .model import ModelBuildError, get_model, save_model  # noqa: E402


def import_file(path: str, destination: str | None = None, force: bool = False, **kw) -> Frame:
    """Import a CSV, Parquet, SVMLight or IDX file (or open an hpcdl frame) like h2o.import_file; returns a Frame.

    ``destination``: the frame file (or an existing directory for ``<name>.h5``);
    an existing file is replaced only with ``force``, the input never
    (docs/outputs.md). Default: the frame cache. ``parse_type``: "CSV", "PARQUET" or "SVMLight"
    (default: decided by the file's content); the other keywords are the format's options
    (docs/frame-format.md).
    """
    from .frame import check_import_destination
    from .frame import import_file as _import_file

    if destination is not None:
        check_import_destination(path, destination, force=force, labels_path=kw.get("labels_path"))
    return _import_file(path, destination, **kw)


def get_frame(path: str) -> Frame:
    """Open an existing HDF5 frame (h2o.get_frame)."""
    from .frame import get_frame as _get_frame

    return _get_frame(path)


def anomaly(model: Model, frame, per_feature: bool = False):
    """Per-row reconstruction MSE of an autoencoder (h2o.anomaly)."""
    return model.anomaly(frame, per_feature=per_feature)


def deepfeatures(model: Model, frame, layer: int):
    """Hidden-layer activations (h2o.deepfeatures); ``layer`` is 0-based."""
    return model.deepfeatures(frame, layer)


__all__ = [
    "DeepLearningParameters",
    "Frame",
    "Grid",
    "H2OFrame",
    "Model",
    "ParameterError",
    "anomaly",
    "deepfeatures",
    "deeplearning",
    "frame_from_numpy",
    "get_frame",
    "grid",
    "import_file",
    "load_grid",
    "load_model",
    # H2O-3's model surface (issue 16)
    "ConfusionMatrix",
    "ModelBuildError",
    "ModelMetrics",
    "TwoDimTable",
    "get_model",
    "save_model",
]
