"""The model file format: one plain HDF5 file per model, written atomically.

Layout (any HDF5 tool can read it; no pickle anywhere)::

    /                 attrs: format="hpcdl-model", format_version, hpcdl_version,
                             model_id, created (ISO time)
    /net              attrs: units, activation, output, adaptive_rate, momentum
                      datasets: buffer (float32: weights, biases, optimizer state)
    /params           attrs: user (JSON of the parameters the user gave),
                             effective (JSON of all effective parameters)
    /datainfo         attrs: json (the preprocessing transform); arrays as datasets
    /history          attrs: json (scoring history rows)
    /metrics          attrs: training, validation, cross_validation (JSON)
    /extra            attrs: json (run info, variable importances, counters)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from typing import Any

import h5py
import numpy as np

from .fsutil import atomic_path

FORMAT = "hpcdl-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file cannot be read or written; the message names the file."""


def _to_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return {"__float__": repr(obj)}
    return obj


def _from_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__float__"}:
            return float(obj["__float__"])
        return {k: _from_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_jsonable(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    """JSON that survives NaN/inf exactly and numpy values."""
    return json.dumps(_to_jsonable(obj))


def loads(text: str | bytes) -> Any:
    return _from_jsonable(json.loads(text))


def write_model_file(path: str, content: dict, *, force: bool = False) -> str:
    """Write a model described by ``content`` (see layout above) atomically."""
    path = os.fspath(path)
    if os.path.exists(path) and not force:
        raise ModelFileError(f"{path}: file exists; use force=True (CLI: --force) to overwrite it")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["hpcdl_version"] = content.get("hpcdl_version", "")
            f.attrs["model_id"] = content["model_id"]
            f.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat()
            net = f.create_group("net")
            for key, value in content["net_attrs"].items():
                net.attrs[key] = dumps(value)
            net.create_dataset("buffer", data=content["buffer"])
            for group, items in (("params", content["params"]), ("metrics", content["metrics"]),
                                 ("extra", content["extra"])):
                g = f.create_group(group)
                for key, value in items.items():
                    g.attrs[key] = dumps(value)
            f.create_group("datainfo").attrs["json"] = dumps(content["datainfo"])
            f.create_group("history").attrs["json"] = dumps(content["history"])
    return path


def read_model_file(path: str) -> dict:
    """Read what :func:`write_model_file` wrote; clear errors for foreign, newer or broken files."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such model file")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise ModelFileError(f"{path}: not an hpcdl model file")
            version = int(f.attrs["format_version"])
            if version > FORMAT_VERSION:
                raise ModelFileError(f"{path}: model format version {version} is newer than this hpcdl "
                                     f"reads ({FORMAT_VERSION}); upgrade hpcdl")
            if version < 1:
                raise ModelFileError(f"{path}: unknown model format version {version}")
            content = {
                "format_version": version,
                "model_id": str(f.attrs["model_id"]),
                "hpcdl_version": str(f.attrs.get("hpcdl_version", "")),
                "net_attrs": {k: loads(v) for k, v in f["net"].attrs.items()},
                "buffer": f["net"]["buffer"][...],
            }
            for group in ("params", "metrics", "extra"):
                content[group] = {k: loads(v) for k, v in f[group].attrs.items()}
            content["datainfo"] = loads(f["datainfo"].attrs["json"])
            content["history"] = loads(f["history"].attrs["json"])
    except ModelFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: corrupted or truncated model file ({exc})") from exc
    return content
