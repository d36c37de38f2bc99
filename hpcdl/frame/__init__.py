"""Frames: HDF5 column files, their readers (CSV, Parquet, SVMLight, IDX, Python data), the frame cache,
summaries and the H2OFrame operations (:mod:`hpcdl.frame.ops`)."""

from __future__ import annotations

import os

from ..comm import Comm
from .cache import check_import_destination, import_source
from .csv import import_csv
from .h2oframe import H2OFrame
from .h5frame import (
    HDF5_SIGNATURE,
    Frame,
    FrameError,
    FrameImportWarning,
    FrameWriter,
    frame_from_numpy,
    get_frame,
    shard_range,
)
from .idx import import_idx, import_mnist_dir, is_idx_header
from .source import default_frame_dir
from .summary import format_summary, frame_summary


def import_file(path, destination=None, *, comm: Comm | None = None, **kw) -> Frame:
    """Import by file kind: an hpcdl .h5 frame is opened, an IDX file (magic number, optionally
    gzipped) goes to :func:`import_idx` (``labels_path=`` optional), anything else is CSV text
    (plain or gzip/bz2) for :func:`import_csv` with its keyword options.

    Without ``destination`` the frame goes to the frame cache (docs/frame-format.md), reused
    while the source is unchanged. ``comm``: the ranks calling this together (one of each group
    sharing a directory writes, the others open its file); None: this process alone.
    """
    return import_source(os.fspath(path), destination, comm=comm, **kw)


__all__ = [
    "HDF5_SIGNATURE",
    "Frame",
    "FrameError",
    "FrameImportWarning",
    "FrameWriter",
    "H2OFrame",
    "check_import_destination",
    "default_frame_dir",
    "format_summary",
    "frame_from_numpy",
    "frame_summary",
    "get_frame",
    "import_csv",
    "import_file",
    "import_idx",
    "import_mnist_dir",
    "import_source",
    "is_idx_header",
    "shard_range",
]
