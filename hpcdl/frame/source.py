"""A frame remembers its source; the frame cache is named after it.

A source file is known by its *identity*: resolved absolute path, size and
modification time (ns), the import options that change the result, and the
importer version (so that a changed import rule re-imports). The importer
stores the identity in the frame (root attrs ``source`` and
``source_identity``); the cache names the frame ``<stem>-<16 hex of
sha256(identity)>.h5`` and reuses a file only when its stored identity equals
the source's identity now. Two sources never share a file; a changed source
gets a new one. See docs/frame-format.md ("The frame cache").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable, Mapping

import h5py

from ..fsutil import publish_unless_exists
from .h5frame import Frame, FrameError

# 2: H2O-3's majority rule for column types, Windows-1252 fallback, multi-line quoted fields
IMPORTER_VERSION = 2
STEM_CHARS = 60


def default_frame_dir() -> str:
    return os.environ.get("HPCDL_FRAME_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "hpcdl", "frames")


def frame_basename(path: str) -> str:
    base = os.path.basename(os.fspath(path))
    for ext in (".gz", ".bz2", ".csv", ".tsv", ".txt", ".data", ".parquet", ".svm", ".svmlight", ".libsvm"):
        if base.lower().endswith(ext) and len(base) > len(ext):
            base = base[: -len(ext)]
    return base


def _plain(value):
    """Options as JSON-able values that keep what distinguishes them (int vs str keys, order of lists)."""
    if isinstance(value, Mapping):
        return [[_plain(k), _plain(v)] for k, v in sorted(value.items(), key=lambda kv: repr(kv[0]))]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def file_stamp(path: str) -> list:
    """Resolved path, size, mtime (ns) of a file: what says it is the same file, unchanged."""
    st = os.stat(path)
    return [os.path.realpath(path), st.st_size, st.st_mtime_ns]


def source_identity(path: str, options: Mapping, companions: Mapping[str, str] | None = None) -> str:
    """The identity (a canonical JSON string) of importing ``path`` with ``options``.

    ``companions``: other files the result depends on (an IDX image file's labels), by role.
    """
    ident = {
        "file": file_stamp(path),
        "companions": {role: file_stamp(p) for role, p in (companions or {}).items()},
        "options": _plain(dict(options)),
        "importer": IMPORTER_VERSION,
    }
    return json.dumps(ident, sort_keys=True, separators=(",", ":"))


def source_attrs(path: str, identity: str) -> dict:
    """Root attributes of a frame imported from ``path``."""
    return {"source": os.path.realpath(path), "source_identity": identity}


def check_unchanged(path: str, identity: str) -> None:
    """FrameError if ``path`` or a companion file changed since ``identity`` was taken (while it was read)."""
    ident = json.loads(identity)
    for stamp in [ident["file"], *ident["companions"].values()]:
        try:
            now = file_stamp(stamp[0])
        except OSError:
            now = None
        if now != stamp:
            what = "the file" if stamp is ident["file"] else stamp[0]
            raise FrameError(f"{path}: {what} changed while it was being imported; import it again")


def cache_name(path: str, identity: str) -> str:
    """``<readable stem>-<hash of the identity>.h5``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", frame_basename(path)).strip("._")[:STEM_CHARS] or "frame"
    return f"{stem}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.h5"


def stored_identity(frame_path: str) -> str | None:
    """The source identity recorded in a frame file (None: no file, not a frame, or unreadable)."""
    try:
        with h5py.File(frame_path, "r") as f:
            value = f.attrs.get("source_identity")
    except (OSError, KeyError, ValueError):
        return None
    return value if isinstance(value, str) else None


def cached_import(path: str, identity: str, frame_dir: str | None, write: Callable[[str], Frame]) -> Frame:
    """The cached frame of ``path`` (reused when its stored identity matches), else ``write(tmp)`` it.

    ``write`` imports into the temporary path it is given (recording ``identity``); the
    result is then published under the cache name unless another process published the
    same source first (its file is used, ours dropped), so concurrent imports of one
    source never replace each other's file.
    """
    directory = os.fspath(frame_dir) if frame_dir is not None else default_frame_dir()
    dest = os.path.join(directory, cache_name(path, identity))
    if stored_identity(dest) != identity:
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".{os.path.basename(dest)}.{uuid.uuid4().hex[:12]}.new")
        try:
            write(tmp)
            if not publish_unless_exists(tmp, dest) and stored_identity(dest) != identity:
                os.replace(tmp, dest)  # a broken or foreign file under our name: ours replaces it
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
    return Frame(dest, display_name=path)
