"""Export a trained model for production: an ONNX graph or one plain-Python scorer file.

Both carry the model's own preprocessing (imputation, standardization, one-hot with
the NA slot for missing and unseen levels), so scoring needs nothing from hpcdl.
See docs/export.md.
"""

from __future__ import annotations

import os

from ..fsutil import check_output
from ..model import load_model
from . import onnx_export, python_export
from .spec import ExportError, ScorerSpec, scorer_spec

FORMATS = ("onnx", "python")

__all__ = ["FORMATS", "ExportError", "ScorerSpec", "export_model", "export_onnx", "export_python", "scorer_spec"]


def export_onnx(model, path, *, force: bool = False, inputs=()) -> str:
    """Write an ONNX graph (needs the ``onnx`` package: ``pip install 'hpcdl[export]'``).

    An existing file is replaced only with ``force``, never one of ``inputs`` (docs/outputs.md)."""
    return onnx_export.export_onnx(model, path, force=force, inputs=inputs)


def export_python(model, path, *, weights: str = "auto", force: bool = False, inputs=()) -> list[str]:
    """Write a self-contained numpy-only ``.py`` scorer (and a sibling ``.npz`` if weights go there).

    Existing files are replaced only with ``force``, never one of ``inputs`` (docs/outputs.md)."""
    return python_export.export_python(model, path, weights=weights, force=force, inputs=inputs)


def export_model(
    model, path: str | os.PathLike, format: str = "onnx", *, force: bool = False, weights: str = "auto"
) -> list[str]:
    """Export ``model`` (a Model or a saved model file) in ``format``; returns the files written."""
    if format not in FORMATS:
        raise ExportError(f"format must be one of {FORMATS}, got {format!r}")
    inputs = []
    if isinstance(model, (str, os.PathLike)):
        inputs = [os.fspath(model)]
        check_output(path, inputs=inputs, force=force, what="export")  # before loading the model
        model = load_model(inputs[0])
    if format == "onnx":
        return [export_onnx(model, path, force=force, inputs=inputs)]
    return export_python(model, path, weights=weights, force=force, inputs=inputs)
