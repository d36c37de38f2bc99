"""Crash-safe file writing: write to a temporary name, fsync, then rename.

Every file hpcdl writes (frames, models, checkpoints, CSV outputs) goes
through :func:`atomic_path`, so an interrupted write never leaves a
half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator


def fsync_path(path: str) -> None:
    """Flush a closed file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: str) -> None:
    with contextlib.suppress(OSError):  # some filesystems refuse O_RDONLY on dirs
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    The caller writes and closes the file at the yielded path. On normal exit
    the file is fsynced and renamed over ``path`` (the previous file, if any,
    stays intact until that rename). On an exception the temporary file is
    removed and the exception propagates.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part", dir=directory)
    os.close(fd)
    try:
        yield tmp
        fsync_path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; final files get the usual mode
        os.replace(tmp, path)
        _fsync_dir(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def publish_unless_exists(tmp: str, path: str) -> bool:
    """Give the finished file ``tmp`` the name ``path`` unless a file of that name exists.

    Atomic (a hard link), so two processes publishing the same file at once cannot
    replace each other's: True if ``tmp`` is now ``path`` (``tmp`` is removed); False if
    ``path`` existed (``tmp`` is left to the caller). Where hard links are not supported
    the file is renamed over ``path`` (the last writer wins).
    """
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # e.g. EPERM/ENOTSUP on file systems without hard links
        os.replace(tmp, path)
        return True
    os.remove(tmp)
    _fsync_dir(os.path.dirname(os.path.abspath(path)) or ".")
    return True
