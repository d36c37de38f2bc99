"""From a file the user names to a frame every rank can read: one code path, one writer per file.

:func:`import_source` is what ``import_file``, the API's path arguments
(``deeplearning(training_frame="x.csv")``, grid, predict) and the job runner
call. An hpcdl frame file is opened as it is; any other file is imported (IDX,
Parquet, SVMLight or CSV, by content or ``parse_type``) into ``destination`` or,
without one, into the frame cache
under a name given by the source's identity (:mod:`hpcdl.frame.source`).

Under MPI exactly one process writes each frame file. Ranks are grouped by
which of them see the same directory (each leaves a probe file with a random
token there; the tokens a rank can see tell which ranks share its directory),
so a shared, a node-local and a per-rank directory all work. The lowest rank of
each group imports; the others wait and open the file it wrote, checking its
frame id. An error on any rank is raised on every rank with the same message.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import os
import uuid
import zlib
from collections.abc import Callable
from typing import TypeVar

from ..comm import Comm, SerialComm, agree
from ..fsutil import OutputError, check_output, require_directory
from .csv import destination_path, import_csv
from .h5frame import HDF5_SIGNATURE, Frame, FrameError, get_frame
from .idx import import_idx, is_idx_header
from .parquet import import_parquet, is_parquet
from .source import default_frame_dir
from .svmlight import SNIFF_BYTES, import_svmlight, looks_like_svmlight

CSV_OPTIONS = ("header", "sep", "col_types", "na_strings", "chunk_bytes")
IMPORT_OPTIONS = (*CSV_OPTIONS, "labels_path", "parse_type")
# H2O-3's parse_type names (case-insensitive) -> hpcdl's importers; None guesses from the content
PARSE_TYPES = {"csv": "csv", "parquet": "parquet", "svmlight": "svmlight", "libsvm": "svmlight", "guess": None}
OPTIONS_OF = {"csv": CSV_OPTIONS, "parquet": ("col_types",), "svmlight": (), "idx": ("labels_path",)}
PROBE_PREFIX = ".hpcdl-probe-"

T = TypeVar("T")


def import_source(path, destination=None, *, frame_dir=None, comm: Comm | None = None, **options) -> Frame:
    """The frame of ``path``: the file itself if it is an hpcdl frame, else its import.

    ``destination``: where to write the frame (a file or a directory); None: the frame
    cache in ``frame_dir`` (default ``$HPCDL_FRAME_DIR`` or ``~/.cache/hpcdl/frames``).
    ``comm``: the ranks that call this together (collective); None: this process alone.
    ``options``: the CSV options of :func:`~hpcdl.frame.csv.import_csv`, ``col_types`` for
    Parquet, ``labels_path`` for an IDX image file, and ``parse_type`` ("CSV", "PARQUET",
    "SVMLight"; default: decided by the file's content) as H2O-3's ``import_file`` has it.
    """
    unknown = set(options) - set(IMPORT_OPTIONS)
    if unknown:
        raise TypeError(f"import_file() got unexpected keyword arguments {sorted(unknown)}")
    comm = comm if comm is not None else SerialComm()
    path = os.fspath(path)
    if any(comm.allgather(_is_frame_file(path))):
        return _agree(comm, lambda: get_frame(path))
    _agree(comm, lambda: _check_source(path))  # before any rank makes the cache directory to import into
    if destination is not None:
        target = destination_path(path, destination)
        directory = os.path.dirname(os.path.abspath(target))
    else:
        target = None
        directory = os.fspath(frame_dir) if frame_dir is not None else default_frame_dir()

    def write() -> tuple[str, str | None]:
        frame = _import_by_kind(path, target, directory, options)
        return os.path.basename(frame.path), frame.frame_id

    name, frame_id = _write_once(comm, directory, write)
    return _agree(comm, lambda: Frame(os.path.join(directory, name), frame_id=frame_id, display_name=path))


def check_import_destination(path, destination, *, force: bool = False, labels_path=None) -> str:
    """The frame file an import of ``path`` to ``destination`` writes, after the output rules
    (:func:`hpcdl.fsutil.check_output`): never an input, an existing file only with ``force``."""
    path, destination = os.fspath(path), os.fspath(destination)
    if destination.endswith(os.sep):
        require_directory(destination)
    if _is_frame_file(path):
        raise OutputError(f"{path}: is already an hpcdl frame; there is nothing to import to {destination}")
    dest = destination if destination == "-" else destination_path(path, destination)
    return check_output(dest, inputs=[path, labels_path], force=force, what="frame")


# -- what kind of file ----------------------------------------------------------------
def _head_bytes(path: str, n: int = 8) -> bytes:
    """Up to the first ``n`` bytes, decompressed for gzip and bzip2: as many as can be read before
    damage further on (the importer then says what is wrong)."""
    with open(path, "rb") as fh:
        magic = fh.read(3)
    opener = gzip.open if magic[:2] == b"\x1f\x8b" else bz2.open if magic == b"BZh" else open
    head = b""
    try:
        with opener(path, "rb") as fh:
            while len(head) < n:
                piece = fh.read(min(4096, n - len(head)))
                if not piece:
                    break
                head += piece
    except (OSError, EOFError, zlib.error, ValueError):
        pass
    return head


def _is_frame_file(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


def _check_source(path: str) -> None:
    """A clear error for a source that is missing or a directory."""
    if not os.path.exists(path):
        hint = ""
        if path.endswith(".h5"):
            hint = (
                f"; create it with `hpcdl import FILE --out {path}` or, for MNIST-style IDX files "
                "(e.g. apt-get install dataset-fashion-mnist), `hpcdl import --mnist-dir "
                f"/usr/share/datasets/fashion-mnist --out {os.path.dirname(path) or '.'}`"
            )
        raise FrameError(f"{path}: no such file{hint}")
    if os.path.isdir(path):
        raise FrameError(f"{path}: is a directory (for MNIST-style directories use import_mnist_dir)")


def _import_by_kind(path: str, target: str | None, directory: str, options: dict) -> Frame:
    """Import an IDX, Parquet, SVMLight or CSV file (text plain or compressed) into ``target`` or the cache."""
    kind = _kind_of(path, options.get("parse_type"))
    given = [k for k, v in options.items() if v is not None and k != "parse_type" and k not in OPTIONS_OF[kind]]
    if given:
        what = {"csv": "a CSV", "parquet": "a Parquet", "svmlight": "an SVMLight", "idx": "an IDX"}[kind]
        raise FrameError(f"{path}: is {what} file; options {given} do not apply")
    kw = {k: v for k, v in options.items() if k in OPTIONS_OF[kind] and v is not None}
    if kind == "idx":
        return import_idx(path, kw.get("labels_path"), target, frame_dir=directory)
    importer = {"csv": import_csv, "parquet": import_parquet, "svmlight": import_svmlight}[kind]
    return importer(path, target, frame_dir=directory, **kw)


def _kind_of(path: str, parse_type) -> str:
    """Which importer reads ``path``: ``parse_type`` if given, else its content (IDX magic, Parquet
    magic, SVMLight lines), else CSV."""
    head = _head_bytes(path, SNIFF_BYTES)
    if parse_type is not None:
        key = str(parse_type).strip().lower()
        if key not in PARSE_TYPES:
            raise FrameError(f"{path}: parse_type {parse_type!r} is not one of CSV, PARQUET, SVMLight")
        if PARSE_TYPES[key] is not None:
            return PARSE_TYPES[key]
    if is_idx_header(head):
        return "idx"
    if is_parquet(path):
        return "parquet"
    if looks_like_svmlight(head):
        return "svmlight"
    return "csv"


# -- one writer per file, errors on every rank -------------------------------------------
def _agree(comm: Comm, work: Callable[[], T]) -> T:
    """``work()`` on every rank; if it fails anywhere, every rank raises the first failure's message."""
    return agree(comm, work, FrameError)


def writer_plan(comm: Comm, directory: str) -> list[int]:
    """For each rank, the rank that writes the files it reads in ``directory`` (itself: it writes).

    Ranks whose directories are the same place on disk (shared or node-local) form a
    group with one writer, the lowest rank; a directory only one rank sees has its own.
    """
    token = uuid.uuid4().hex
    probe = os.path.join(directory, PROBE_PREFIX + token)

    def leave_probe() -> None:
        os.makedirs(directory, exist_ok=True)
        with open(probe, "x"):
            pass

    _agree(comm, leave_probe)
    tokens = comm.allgather(token)
    seen = [r for r, t in enumerate(tokens) if os.path.exists(os.path.join(directory, PROBE_PREFIX + t))]
    views = comm.allgather(seen)  # also: every rank has looked before any probe goes
    with contextlib.suppress(OSError):
        os.remove(probe)
    plan: list[int] = []
    for rank, visible in enumerate(views):
        writers = [w for w in range(rank) if plan[w] == w and w in visible]
        plan.append(writers[0] if writers else rank)
    return plan


def _write_once(comm: Comm, directory: str, write: Callable[[], T]) -> T:
    """``write()`` on one rank per group of ranks sharing ``directory``; every rank gets its writer's result."""
    if comm.size == 1:
        return write()
    plan = writer_plan(comm, directory)
    mine = _agree(comm, write if plan[comm.rank] == comm.rank else lambda: None)
    return comm.allgather(mine)[plan[comm.rank]]
