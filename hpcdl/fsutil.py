"""Every file hpcdl writes goes through here: output rules, crash-safe writing, clear write errors.

- :func:`check_output` is the one owner of the overwrite rules (docs/outputs.md): an
  output never replaces an existing file without ``force`` and never, even with
  ``force``, one of the command's own inputs.
- :func:`atomic_path` writes to a temporary name beside the target, fsyncs and
  renames, so an interrupted write never leaves a half-written file under the
  final name; a write that fails for lack of space or permission removes the
  temporary file and raises :class:`WriteError` with a one-line message.
- :class:`H5Output` opens an HDF5 file for writing so that a full disk is an
  error and not a crash (HDF5 cannot close a file after a failed write).
- :func:`scratch_path` names result files that nobody asked to keep; they live
  in one per-process temporary directory removed at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import shutil
import tempfile
import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator

STDOUT = "-"  # the output name that means "write the table to standard output"

_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_PERMISSION_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}


class OutputError(ValueError):
    """An output path is refused before anything is written; the message names the file and the flag."""


def _mb(n: int) -> str:
    if n < 1 << 20:
        return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} B"
    return f"{n / (1 << 20):.1f} MB"


def _free_bytes(directory: str) -> int | None:
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


class WriteError(OSError):
    """Writing ``path`` failed (no space, quota, permission, read-only file system); nothing was left behind.

    ``str(exc)`` is :attr:`user_message`, one line: which file, how much it needed if
    known, and what to do. ``errno`` is the cause's (``ENOSPC``, ``EACCES``, ...);
    :attr:`no_space` tells a full disk or quota from the other causes.
    """

    def __init__(self, path: str, cause: OSError, *, written: int | None = None, needed: int | None = None) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.path = os.fspath(path)
        self.filename = self.path
        self.written = written
        self.needed = needed
        self.user_message = self._describe(cause)

    @property
    def no_space(self) -> bool:
        return self.errno in _SPACE_ERRNOS

    def _describe(self, cause: OSError) -> str:
        directory = os.path.dirname(os.path.abspath(self.path))
        reason = (cause.strerror or str(cause)).rstrip(".").lower()
        if self.no_space:
            free = _free_bytes(directory)  # measured after the partial file was removed
            now = f"{_mb(free)} free" if free is not None else "free space unknown"
            if self.needed:
                size = f"it needs about {_mb(self.needed)}; {directory} has {now}"
            elif self.written:
                size = f"it needs more than the {_mb(self.written)} written before {directory} filled up ({now} now)"
            else:
                size = f"{directory} is full ({now} now)"
            return f"cannot write {self.path}: {reason}: {size}; free space or write it elsewhere, then run again"
        if self.errno in _PERMISSION_ERRNOS:
            return f"cannot write {self.path}: {reason} in {directory}; write it to a directory you can write to"
        return f"cannot write {self.path}: {reason}"

    def __str__(self) -> str:
        return self.user_message


def _is_write_failure(exc: BaseException, names: Iterable[str]) -> bool:
    """Whether ``exc`` says the output could not be written (not, say, that an input is unreadable)."""
    if isinstance(exc, WriteError) or not isinstance(exc, OSError):
        return False
    if exc.errno in _SPACE_ERRNOS or exc.errno == errno.EROFS:
        return True
    return exc.errno in _PERMISSION_ERRNOS and (exc.filename is None or os.fspath(exc.filename) in set(names))


# -- the overwrite rules ------------------------------------------------------------
def require_directory(path: str) -> None:
    """An output named as a directory (``missing_dir/``) must exist: a typo is not created silently."""
    if not os.path.isdir(path):
        raise OutputError(f"{path}: no such directory; create it first or give a file name")


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):  # also catches ./x vs x and symlinks to a missing file
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def check_output(
    path: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike | None] = (),
    force: bool = False,
    what: str = "output",
    stdout_ok: bool = False,
) -> str:
    """Refuse an output path before any work is done; returns the path.

    - ``-`` is standard output: allowed only for tables (``stdout_ok``), never a file named ``-``;
    - never one of ``inputs`` (compared as resolved files, so symlinks, ``./x`` and hard links
      are caught), not even with ``force``;
    - an existing file only with ``force``; never a directory or a device;
    - a name ending in ``/`` is a directory, which must exist (missing parents of a file
      name are created when it is written).
    """
    path = os.fspath(path)
    if path == STDOUT:
        if stdout_ok:
            return path
        raise OutputError(f"the {what} is not a table and cannot be written to standard output ('-'); give a file name")
    if not path:
        raise OutputError(f"empty file name for the {what}")
    for source in inputs:
        if source is not None and os.fspath(source) != STDOUT and _same_file(path, os.fspath(source)):
            same = "" if os.path.abspath(path) == os.path.abspath(source) else f" ({source})"
            raise OutputError(
                f"{path}: is an input of this command{same}; writing the {what} there would destroy it "
                "(--force does not apply); choose another output file"
            )
    if path.endswith(os.sep) or os.path.isdir(path):
        require_directory(path)
        raise OutputError(f"{path}: is a directory; give a file name for the {what}")
    if os.path.lexists(path):
        if not os.path.isfile(path):
            raise OutputError(f"{path}: exists and is not a regular file; refusing to replace it")
        if not force:
            raise OutputError(f"{path}: file exists; use --force (force=True in Python) to replace it")
    return path


# -- crash-safe writing ---------------------------------------------------------------
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


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, needed: int | None = None) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    The caller writes and closes the file at the yielded path. On normal exit
    the file is fsynced and renamed over ``path`` (the previous file, if any,
    stays intact until that rename). On an exception the temporary file is
    removed and the exception propagates; a failure to write for lack of space or
    permission becomes a :class:`WriteError` naming ``path`` (``needed``: the
    expected size in bytes, for its message, if the caller knows it).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part", dir=directory)
        os.close(fd)
    except OSError as exc:
        if exc.errno in _SPACE_ERRNOS | _PERMISSION_ERRNOS:
            raise WriteError(path, exc, needed=needed) from exc
        raise
    try:
        yield tmp
        fsync_path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; final files get the usual mode
        os.replace(tmp, path)
        _fsync_dir(directory)
    except BaseException as exc:
        written = _size(tmp)
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        if _is_write_failure(exc, (tmp, path, directory)):
            raise WriteError(path, exc, written=written, needed=needed) from exc
        raise


# -- HDF5 output that survives a full disk ----------------------------------------
class _DiskGuard:
    """The file object under an HDF5 file being written (h5py's ``fileobj`` driver).

    HDF5 cannot recover from a failed write: the file can then be neither flushed nor
    closed, and closing it (or the interpreter doing so at exit) crashes with a
    segmentation fault. So HDF5 never sees a failure: the first failed write is
    recorded in :attr:`error`, later writes are dropped (the file is discarded
    anyway), and the writer raises the recorded error once HDF5 has let go.
    """

    def __init__(self, path: str) -> None:
        self._fh = open(path, "r+b", buffering=0)  # unbuffered: a failure shows at the write that failed
        self.error: OSError | None = None

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def read(self, n: int = -1) -> bytes:
        return self._fh.read(n)

    def readinto(self, buf) -> int:
        view = memoryview(buf).cast("B")
        n = self._fh.readinto(view) or 0
        if n < len(view):
            view[n:] = bytes(len(view) - n)  # past the end (or a dropped write): zeros, as HDF5's own driver reads
        return len(view)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        if self.error is None:
            try:
                done = 0
                while done < len(view):
                    done += self._fh.write(view[done:])
            except OSError as exc:
                self.error = exc
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        if self.error is None:
            try:
                return self._fh.truncate(size)
            except OSError as exc:
                self.error = exc
        return size or 0

    def flush(self) -> None:
        pass  # unbuffered; the durable flush is atomic_path's fsync

    def close(self) -> None:
        self._fh.close()


class H5Output:
    """An HDF5 file open for writing at ``tmp`` (an :func:`atomic_path` name) that a full disk cannot crash.

    Use ``.file`` like an ``h5py.File``; :meth:`check` raises the first write failure
    (call it to stop early, e.g. after each chunk); :meth:`close` closes the file and
    then raises that failure, if any. As a context manager it closes on exit and, when
    the body failed, lets the body's exception through.
    """

    def __init__(self, tmp: str) -> None:
        import h5py  # `import hpcdl` loads this module (session.py): h5py only when HDF5 is written

        self._guard = _DiskGuard(tmp)
        try:
            self.file = h5py.File(self._guard, "w")
        except BaseException:
            self._guard.close()
            raise
        self._closed = False

    def check(self) -> None:
        if self._guard.error is not None:
            raise self._guard.error

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self.file.close()
            finally:
                self._guard.close()
        self.check()

    def __enter__(self):
        return self.file

    def __exit__(self, et, ev, tb) -> None:
        if et is None:
            self.close()
        else:
            with contextlib.suppress(Exception):  # the body's exception is the one to report
                self.close()


# -- results nobody asked to keep ---------------------------------------------------
_scratch_lock = threading.Lock()
_scratch: dict[int, str] = {}  # pid -> this process's scratch directory (a forked child makes its own)


def _remove_scratch(pid: int, directory: str) -> None:
    if os.getpid() == pid:  # a forked child inherits the exit hook: it must not delete its parent's files
        shutil.rmtree(directory, ignore_errors=True)


def scratch_path(stem: str, suffix: str = ".h5") -> str:
    """A new file name in this process's temporary directory (``$TMPDIR/hpcdl-<pid>-*``), removed at exit."""
    pid = os.getpid()
    with _scratch_lock:
        directory = _scratch.get(pid)
        if directory is None or not os.path.isdir(directory):
            directory = tempfile.mkdtemp(prefix=f"hpcdl-{pid}-")
            _scratch[pid] = directory
            atexit.register(_remove_scratch, pid, directory)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
    return os.path.join(directory, f"{safe}-{uuid.uuid4().hex[:8]}{suffix}")


def _remove_file(pid: int, path: str) -> None:
    if os.getpid() == pid:  # finalizers also run at exit, in a forked child too
        with contextlib.suppress(OSError):
            os.remove(path)


def delete_with(owner: object, path: str) -> weakref.finalize:
    """Remove ``path`` when ``owner`` (the object that reads it) is garbage-collected (or at exit).

    Returns the finalizer: call it to remove the file now, ``detach()`` it to keep the file."""
    return weakref.finalize(owner, _remove_file, os.getpid(), path)


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
