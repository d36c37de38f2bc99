"""The model file format: one plain HDF5 file per model, written atomically.

Layout (any HDF5 tool can read it; no pickle anywhere; docs/model-format.md)::

    /                 attrs: format="hpcdl-model", format_version, hpcdl_version,
                             model_id, created (ISO time), checksum (CRC-32 of all content)
    /net              attrs: units, activation, output, adaptive_rate, momentum, adam (JSON each; adam since Adam, absent = false)
                      datasets: buffer (float32: weights, biases, optimizer state),
                                best_buffer (float32, optional: the best model so far)
    /params           datasets: user, effective (JSON text)
    /datainfo         dataset json (the preprocessing transform, JSON text)
    /history          dataset json (scoring history rows, JSON text)
    /metrics          datasets: training, validation, cross_validation (JSON text)
    /extra            datasets: run_state (hpcdl/runstate.py; version 1: run_info), variable_importances

JSON texts are datasets, not attributes: HDF5 attributes are limited to 64 KiB,
which a long scoring history or a wide frame's transform exceeds. This module also
owns the one conversion of results to plain JSON (:func:`plain_json`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import h5py
import numpy as np

from .fsutil import H5Output, atomic_path, check_output

FORMAT = "hpcdl-model"
# 2: /extra/run_state (a RunState) replaces version 1's free-form /extra/run_info
FORMAT_VERSION = 2
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
JSON_GROUPS = ("params", "metrics", "extra")


class ModelFileError(ValueError):
    """A model file cannot be read or written; the message names the file."""


def _tagged(x: float) -> dict:
    return {"__float__": repr(x)}


def plain_json(obj: Any, nonfinite: Callable[[float], Any] = _tagged, other: Callable[[Any], Any] | None = None) -> Any:
    """``obj`` in plain JSON values: numpy arrays and scalars as Python ones, tuples as lists, keys as
    strings; a NaN or infinity as ``nonfinite(x)`` (default: ``{"__float__": "nan"}``, which
    :func:`loads` reads back exactly); any other object as ``other(obj)``, or as it is."""
    if isinstance(obj, Mapping):  # dicts, and metrics objects (hpcdl.metrics.ModelMetrics)
        return {str(k): plain_json(v, nonfinite, other) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain_json(v, nonfinite, other) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain_json(obj.tolist(), nonfinite, other)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return nonfinite(obj)
    if other is None or obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return other(obj)


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
    return json.dumps(plain_json(obj), allow_nan=False)


def loads(text: str | bytes) -> Any:
    return _from_jsonable(json.loads(text))


def _texts(content: dict) -> dict[str, str]:
    """Every JSON text of a model file, keyed by its HDF5 path (the checksum covers them in this order)."""
    out = {f"net/{k}": dumps(v) for k, v in sorted(content["net_attrs"].items())}
    for group in JSON_GROUPS:
        for key, value in sorted(content[group].items()):
            out[f"{group}/{key}"] = dumps(value)
    out["datainfo/json"] = dumps(content["datainfo"])
    out["history/json"] = dumps(content["history"])
    return out


def _checksum(texts: dict[str, str], arrays: list[np.ndarray]) -> int:
    crc = 0
    for path in sorted(texts):
        crc = zlib.crc32(path.encode(), crc)
        crc = zlib.crc32(texts[path].encode(), crc)
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(a, dtype=np.float32).tobytes(), crc)
    return crc


def write_model_file(path: str, content: dict, *, force: bool = False, inputs=()) -> str:
    """Write a model described by ``content`` (see layout above) atomically.

    Refuses to replace an existing file unless ``force``, and any of ``inputs``
    always (:func:`hpcdl.fsutil.check_output`); the previous file stays intact
    until the new one is complete (fsync + rename). A full disk raises
    :class:`hpcdl.fsutil.WriteError` and leaves nothing behind.
    """
    path = check_output(path, inputs=inputs, force=force, what="model")
    texts = _texts(content)
    buffer = np.ascontiguousarray(content["buffer"], dtype=np.float32)
    best = content.get("best_buffer")
    arrays = [buffer] + ([np.ascontiguousarray(best, dtype=np.float32)] if best is not None else [])
    needed = sum(a.nbytes for a in arrays) + sum(len(t) for t in texts.values())
    with atomic_path(path, needed=needed) as tmp, H5Output(tmp) as f:  # closed before the rename
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["hpcdl_version"] = content.get("hpcdl_version", "")
        f.attrs["model_id"] = content["model_id"]
        f.attrs["created"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        f.attrs["checksum"] = np.uint32(_checksum(texts, arrays))
        net = f.create_group("net")
        for key in content["net_attrs"]:
            net.attrs[key] = texts[f"net/{key}"]
        net.create_dataset("buffer", data=buffer)
        if best is not None:
            net.create_dataset("best_buffer", data=arrays[1])
        for key, text in texts.items():
            if not key.startswith("net/"):
                group, name = key.split("/")
                f.require_group(group).create_dataset(name, data=text, dtype=h5py.string_dtype())
    return path


def _open(path: str) -> h5py.File:
    """Open a model file for reading with clear errors for missing, foreign and damaged files."""
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such model file")
    if os.path.isdir(path):
        raise ModelFileError(f"{path}: is a directory, not a model file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(HDF5_SIGNATURE))
    except FileNotFoundError:  # removed since the check above (an old checkpoint being pruned)
        raise ModelFileError(f"{path}: no such model file") from None
    if head != HDF5_SIGNATURE:
        if len(head) == 0:
            raise ModelFileError(f"{path}: empty file, not an hpcdl model (truncated?)")
        raise ModelFileError(f"{path}: not an hpcdl model file (not an HDF5 file)")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise ModelFileError(f"{path}: corrupted or truncated model file ({exc})") from exc


def _check_header(path: str, f: h5py.File) -> int:
    if f.attrs.get("format") != FORMAT:
        raise ModelFileError(
            f"{path}: not an hpcdl model file (an HDF5 file without format={FORMAT!r}; "
            "a frame or another program's file?)"
        )
    try:
        version = int(f.attrs["format_version"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: hpcdl model file without a readable format_version") from exc
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {version} is newer than this hpcdl reads "
            f"({FORMAT_VERSION}); upgrade hpcdl to load it"
        )
    if version < 1:
        raise ModelFileError(f"{path}: unknown model format version {version}")
    return version


def _text(f: h5py.File, key: str) -> str:
    value = f[key][()]
    return value.decode() if isinstance(value, bytes) else str(value)


def read_model_file(path: str) -> dict:
    """Read what :func:`write_model_file` wrote; clear errors for foreign, newer or broken files."""
    path = os.fspath(path)
    f = _open(path)
    try:
        with f:
            version = _check_header(path, f)
            texts = {f"net/{k}": str(v) for k, v in f["net"].attrs.items()}
            for group in JSON_GROUPS:
                for key in f[group]:
                    texts[f"{group}/{key}"] = _text(f, f"{group}/{key}")
            texts["datainfo/json"] = _text(f, "datainfo/json")
            texts["history/json"] = _text(f, "history/json")
            buffer = f["net"]["buffer"][...]
            best = f["net"]["best_buffer"][...] if "best_buffer" in f["net"] else None
            expected = int(f.attrs["checksum"])
            model_id = str(f.attrs["model_id"])
            hpcdl_version = str(f.attrs.get("hpcdl_version", ""))
            created = str(f.attrs.get("created", ""))
    except ModelFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: corrupted or truncated model file ({exc})") from exc
    arrays = [buffer] + ([best] if best is not None else [])
    if _checksum(texts, arrays) != expected:
        raise ModelFileError(f"{path}: corrupted model file (checksum mismatch)")
    try:
        content = {
            "format_version": version,
            "model_id": model_id,
            "hpcdl_version": hpcdl_version,
            "created": created,
            "net_attrs": {k.split("/", 1)[1]: loads(v) for k, v in texts.items() if k.startswith("net/")},
            "buffer": buffer,
            "best_buffer": best,
            "datainfo": loads(texts["datainfo/json"]),
            "history": loads(texts["history/json"]),
        }
        for group in JSON_GROUPS:
            content[group] = {k.split("/", 1)[1]: loads(v) for k, v in texts.items() if k.startswith(group + "/")}
    except ValueError as exc:
        raise ModelFileError(f"{path}: corrupted model file (bad JSON: {exc})") from exc
    return content


def read_model_summary(path: str) -> dict:
    """The light parts of a model file (no weights): id, version, parameters, metrics, history, run info.

    Checks the format and version like :func:`read_model_file`, not the checksum.
    """
    path = os.fspath(path)
    f = _open(path)
    try:
        with f:
            version = _check_header(path, f)
            out = {
                "path": path,
                "format_version": version,
                "model_id": str(f.attrs["model_id"]),
                "hpcdl_version": str(f.attrs.get("hpcdl_version", "")),
                "created": str(f.attrs.get("created", "")),
                "net": {k: loads(str(v)) for k, v in f["net"].attrs.items()},
            }
            for group in JSON_GROUPS:
                out[group] = {k: loads(_text(f, f"{group}/{k}")) for k in f[group]}
            out["datainfo"] = loads(_text(f, "datainfo/json"))
            out["history"] = loads(_text(f, "history/json"))
    except ModelFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: corrupted or truncated model file ({exc})") from exc
    return out
