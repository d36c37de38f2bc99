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
from importlib import import_module as _import_module
from importlib.util import find_spec as _find_spec

# Numba's workqueue layer never forks after its threads start: safe beside MPI.
_os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

from typing import TYPE_CHECKING  # noqa: E402

# light modules (the standard library only) come at once: ``hpcdl.grid`` stays the function after them
from .grid import Grid, grid, load_grid  # noqa: E402
from .params import DeepLearningParameters, ParameterError  # noqa: E402
from .session import cluster, export_file, init, ls, no_progress, remove, remove_all, show_progress  # noqa: E402
from .version import __version__ as __version__  # noqa: E402  (the public name)

# The rest of the public API loads on first use (PEP 562 ``__getattr__`` below): ``import hpcdl`` and
# the ``hpcdl`` command do not pay for numba, h5py and the trainer before they need them (issue 24).
# name -> the module that defines it
_LAZY = {
    "deeplearning": "api",
    "create_frame": "frame.synth",  # H2O-3's random frame (issue 25)
    # frames as H2O-3's Python package has them (issue 16): H2OFrame(python_obj), Frame.from_pandas, ...
    "Frame": "frame",
    "H2OFrame": "frame",
    "frame_from_numpy": "frame",
    # H2O-3's model surface (issue 16; docs/python-api.md, "Models and estimators")
    "Model": "model",
    "ModelBuildError": "model",
    "get_model": "model",
    "load_model": "model",
    "save_model": "model",
    "ConfusionMatrix": "metrics",
    "ModelMetrics": "metrics",
    "TwoDimTable": "metrics",
}

if TYPE_CHECKING:  # what the names are, for readers, type checkers and tests/test_design.py's import map
    from .api import deeplearning
    from .frame import Frame, H2OFrame, frame_from_numpy
    from .metrics import ConfusionMatrix, ModelMetrics, TwoDimTable
    from .model import Model, ModelBuildError, get_model, load_model, save_model


def import_file(path: str, destination: str | None = None, force: bool = False, **kw) -> Frame:
    """Import a CSV, Parquet, SVMLight or IDX file (or open an hpcdl frame) like h2o.import_file; returns a Frame.

    ``destination``: the frame file (or an existing directory for ``<name>.h5``);
    an existing file is replaced only with ``force``, the input never
    (docs/outputs.md). Default: the frame cache. ``parse_type``: "CSV", "PARQUET" or "SVMLight"
    (default: decided by the file's content); the other keywords are the format's options
    (docs/frame-format.md).
    """
    from .frame import check_import_destination  # frame loads h5py and pyarrow: lazy (PEP 562 above)
    from .frame import import_file as _import_file  # as above

    kw.pop("destination_frame", None)  # H2O-3's key name for the frame in its cluster; a frame here is a file
    if destination is not None:
        check_import_destination(path, destination, force=force, labels_path=kw.get("labels_path"))
    return _import_file(path, destination, **kw)


def upload_file(path: str, destination_frame: str | None = None, **kw) -> Frame:
    """H2O-3's ``h2o.upload_file``: the file is local, so this is :func:`import_file`."""
    return import_file(path, **kw)


def download_model(model, path: str = "", filename: str | None = None) -> str:
    """H2O-3's ``h2o.download_model``: the model is in this process, so this is :func:`save_model`."""
    from .model import save_model  # model loads Numba: lazy, as _LAZY

    return save_model(model, path=path, filename=filename)


def __getattr__(name: str):
    """A public name not loaded yet (``_LAZY``) or a submodule (``hpcdl.estimators``): loaded now.
    An H2O-3 call hpcdl does not have: the reason, not a bare AttributeError (hpcdl/surface.py)."""
    if name in _LAZY:
        value = getattr(_import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # once: later lookups do not come here
        return value
    if not name.startswith("_") and _find_spec(f"{__name__}.{name}") is not None:
        return _import_module(f".{name}", __name__)
    from .surface import refusal  # the H2O-3 names hpcdl refuses: only when one is asked for

    raise refusal("module", "module 'hpcdl'", name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def get_frame(path: str) -> Frame:
    """Open an existing HDF5 frame (h2o.get_frame)."""
    from .frame import get_frame as _get_frame  # frame loads h5py and pyarrow: lazy, as _LAZY

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
    # H2O-3's session calls (issue 25)
    "cluster",
    "download_model",
    "export_file",
    "init",
    "ls",
    "no_progress",
    "remove",
    "remove_all",
    "show_progress",
    "upload_file",
]
