"""Frames: HDF5 column files, their readers (CSV, IDX, numpy/pandas) and summaries."""

from __future__ import annotations

import os

from .csv import import_csv
from .h5frame import Frame, FrameError, FrameWriter, frame_from_numpy, shard_range
from .idx import import_idx, import_mnist_dir, is_idx_header
from .summary import format_summary, frame_summary

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_CSV_OPTIONS = ("header", "sep", "col_types", "na_strings", "chunk_bytes")


def get_frame(path) -> Frame:
    """Open an existing hpcdl frame file; FrameError (naming the file) if it is not one."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FrameError(f"{path}: no such frame file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head != HDF5_SIGNATURE:
        raise FrameError(f"{path}: not an hpcdl frame (not an HDF5 file); import it first with import_file")
    return Frame(path)


def _head_bytes(path: str, n: int = 8) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(n)
    if head[:2] == b"\x1f\x8b":
        import gzip

        try:
            with gzip.open(path, "rb") as gz:
                return gz.read(n)
        except (OSError, EOFError):
            return b""  # not readable gzip: import_csv reports it
    return head


def check_import_destination(path, destination, *, force: bool = False, labels_path=None) -> str:
    """The frame file an import of ``path`` to ``destination`` writes, after the output rules
    (:func:`hpcdl.fsutil.check_output`): never an input, an existing file only with ``force``."""
    from ..fsutil import OutputError, check_output, require_directory
    from .csv import destination_path

    path, destination = os.fspath(path), os.fspath(destination)
    if destination.endswith(os.sep):
        require_directory(destination)
    if os.path.isfile(path) and _head_bytes(path)[:8] == HDF5_SIGNATURE:
        raise OutputError(f"{path}: is already an hpcdl frame; there is nothing to import to {destination}")
    dest = destination if destination == "-" else destination_path(path, destination)
    return check_output(dest, inputs=[path, labels_path], force=force, what="frame")


def import_file(path, destination=None, **kw) -> Frame:
    """Import by file kind: an hpcdl .h5 frame is opened, an IDX file (magic number, optionally
    gzipped) goes to :func:`import_idx` (``labels_path=`` optional), anything else is CSV text
    (plain or gzip/bz2) for :func:`import_csv` with its keyword options."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FrameError(f"{path}: no such file")
    if os.path.isdir(path):
        raise FrameError(f"{path}: is a directory (for MNIST-style directories use import_mnist_dir)")
    head = _head_bytes(path)
    if head[:8] == HDF5_SIGNATURE:
        return get_frame(path)
    unknown = set(kw) - set(_CSV_OPTIONS) - {"labels_path"}
    if unknown:
        raise TypeError(f"import_file() got unexpected keyword arguments {sorted(unknown)}")
    if is_idx_header(head):
        extra = [k for k in _CSV_OPTIONS if kw.get(k) is not None]
        if extra:
            raise FrameError(f"{path}: is an IDX file; CSV options {extra} do not apply")
        return import_idx(path, kw.get("labels_path"), destination)
    if kw.get("labels_path") is not None:
        raise FrameError(f"{path}: labels_path applies to IDX files only")
    return import_csv(path, destination, **{k: v for k, v in kw.items() if k != "labels_path"})


__all__ = [
    "Frame",
    "FrameError",
    "check_import_destination",
    "FrameWriter",
    "format_summary",
    "frame_from_numpy",
    "frame_summary",
    "get_frame",
    "import_csv",
    "import_file",
    "import_idx",
    "import_mnist_dir",
    "shard_range",
]
