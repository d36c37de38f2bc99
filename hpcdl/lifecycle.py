"""Model lifecycle: checkpoint restart, periodic checkpoints, signals, resume (docs/checkpoints.md).

Rank 0 writes a checkpoint every ``checkpoint_interval`` seconds (job setting)
as a complete model file, atomically: the previous checkpoint stays until the
new one is complete. SIGTERM/SIGUSR1 (Slurm's warning before the time limit)
and SIGINT (Ctrl-C) set a flag on the rank that got it; the trainer turns any
rank's flag into a stop for all ranks at the next iteration boundary and rank 0
writes a final checkpoint (`hpcdl train` then exits 3, which the Slurm scripts
requeue, or 130 after Ctrl-C). ``RunLock`` makes one run own an output directory.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid

import numpy as np

from .comm import Comm
from .frame import Frame
from .frame.h5frame import NUMERIC_TYPES
from .fsutil import atomic_path
from .model import Model, ModelBuildError, load_model, resolve_checkpoint
from .params import DeepLearningParameters, ParameterError, check_checkpoint_change
from .runstate import StopReason
from .store import ModelFileError
from .train import TrainHook

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d{8})\.h5$")
KEEP_CHECKPOINTS = 2
SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
RUNNING_FILE = "running.json"  # in a job's output_dir while it trains (RunLock)
HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 120.0  # `hpcdl ui`: a marker from another host counts as running while its heartbeat is this fresh
# A lock from another host is taken over only after this long without a heartbeat: the heartbeat
# thread waits for the GIL, which a long training kernel call holds.
LOCK_STALE_SECONDS = 600.0


class CheckpointError(ModelBuildError):
    """A checkpoint cannot be used to continue training; the message names the mismatch
    (a ModelBuildError: H2O-3 scripts catch it as EnvironmentError)."""


# -- checkpoint restart (the booklet's checkpoint=) ----------------------------
def _kind(frame_type: str) -> str:
    return "categorical" if frame_type == "enum" else "numeric" if frame_type in NUMERIC_TYPES else frame_type


def check_data_compatible(model: Model, frame: Frame, what: str = "training frame") -> None:
    """The frame must have the model's columns with the same kinds and categorical domains (H2O's rule)."""
    dinfo = model.dinfo
    where = f"{what} {frame.display_name}"
    needed = list(dinfo.predictors) + ([dinfo.response] if dinfo.response else [])
    missing = [c for c in needed if c not in frame.names]
    if missing:
        raise CheckpointError(
            f"{where}: checkpoint model {model.model_id} needs column(s) {missing}, which the frame does not have"
        )
    old_types = dinfo.column_types or {}
    for col in needed:
        new = frame.type(col)
        if col == dinfo.response:
            if dinfo.classification and dinfo.response_numeric_levels is None:
                if new != "enum":
                    raise CheckpointError(
                        f"{where}: response {col!r} is {_kind(new)}, the checkpoint model "
                        "was trained on it as categorical"
                    )
                if list(frame.domains[col]) != list(dinfo.response_domain):
                    raise CheckpointError(
                        f"{where}: response {col!r} has levels {list(frame.domains[col])}, "
                        f"the checkpoint model was trained on {list(dinfo.response_domain)}"
                    )
            elif new not in NUMERIC_TYPES:
                raise CheckpointError(
                    f"{where}: response {col!r} is {_kind(new)}, the checkpoint model was trained on it as numeric"
                )
            continue
        old = "enum" if col in dinfo.cat_cols else old_types.get(col, "real")
        if _kind(old) != _kind(new):
            raise CheckpointError(
                f"{where}: column {col!r} is {_kind(new)}, the checkpoint model was trained on it as {_kind(old)}"
            )
        if new == "enum" and list(frame.domains[col]) != list(dinfo.domains[col]):
            raise CheckpointError(
                f"{where}: column {col!r} has levels {list(frame.domains[col])}, the "
                f"checkpoint model was trained on {list(dinfo.domains[col])}"
            )


def prepare_checkpoint(
    checkpoint, params: DeepLearningParameters, frame: Frame, x, y, validation_frame: Frame | None = None
):
    """Load (if a path) and check a checkpoint model for training on; returns (model copy, its DataInfo).

    Checks what H2O checks (docs/checkpoints.md): the same response and
    predictors, no change of any parameter the checkpoint rules mark "F",
    frames with the same columns, kinds and categorical domains (no
    cross-validation: hpcdl/api.py checks that before any frame is read).
    ``epochs`` is the new total (the trainer checks it).
    """
    model = resolve_checkpoint(checkpoint)
    dinfo = model.dinfo
    if params.autoencoder:
        y = None
    if params.autoencoder != bool(dinfo.autoencoder):
        raise CheckpointError(
            f"cannot change autoencoder on checkpoint restart: checkpoint model "
            f"{model.model_id} has autoencoder={bool(dinfo.autoencoder)}"
        )
    if y is not None and dinfo.response != y:
        raise CheckpointError(f"cannot change the response on checkpoint restart: was {dinfo.response!r}, now {y!r}")
    if x is not None:
        kept, dropped = set(dinfo.predictors), set(dinfo.dropped or {})
        given = set(x) - ({y} if y else set())
        if not kept <= given or not given <= kept | dropped:
            raise CheckpointError(
                f"cannot change the predictors on checkpoint restart: was {sorted(kept)}, now {sorted(given)}"
            )
    try:
        check_checkpoint_change(model.params, params)
    except ParameterError as exc:
        raise CheckpointError(f"checkpoint model {model.model_id}: {exc}") from exc
    check_data_compatible(model, frame)
    if validation_frame is not None:
        check_data_compatible(model, validation_frame, "validation frame")
    copy = Model.from_content(model.to_content())  # train a copy; the given model stays as it was
    if params.model_id:  # the continued model's own id (H2O-3); without one it keeps the checkpoint's
        copy.model_id = params.model_id
    return copy, copy.dinfo


# -- periodic checkpoints and signals ------------------------------------------
def checkpoint_files(directory: str) -> list[str]:
    """Complete checkpoints of a job, oldest first (temporary *.part files never match)."""
    names = [os.path.basename(p) for p in glob.glob(os.path.join(glob.escape(directory), "checkpoint-*.h5"))]
    return [os.path.join(directory, n) for n in sorted(n for n in names if CHECKPOINT_RE.match(n))]


def newest_checkpoint(directory: str) -> tuple[str | None, Model | None]:
    """The newest checkpoint that loads, and its model; a damaged newest one falls back to the one before."""
    for path in reversed(checkpoint_files(directory)):
        try:
            return path, load_model(path)
        except ModelFileError as exc:
            print(f"hpcdl: skipping unusable checkpoint: {exc}", file=sys.stderr, flush=True)
    return None, None


def latest_checkpoint(directory: str) -> str | None:
    """The path of :func:`newest_checkpoint`."""
    return newest_checkpoint(directory)[0]


def clear_checkpoints(directory: str) -> int:
    """Remove a job's checkpoints and leftover temporary files (only when they are copies of a saved model)."""
    paths = checkpoint_files(directory) + glob.glob(os.path.join(glob.escape(directory), ".checkpoint-*.part"))
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    return len(paths)


def set_aside_checkpoints(directory: str) -> str:
    """Rename a job's checkpoint directory to ``<directory>.old-<time>`` (never delete); returns the new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, n = f"{directory}.old-{stamp}", 1
    while os.path.exists(target):
        target, n = f"{directory}.old-{stamp}-{n}", n + 1
    os.rename(directory, target)
    return target


def _say_now(text: str) -> None:
    """One line on stderr from a signal handler (os.write: print may be in the middle of a line)."""
    with contextlib.suppress(OSError):
        os.write(sys.stderr.fileno(), f"{text}\n".encode())


class CheckpointHook(TrainHook):
    """Trainer hook: rank 0 writes checkpoints; SIGTERM/SIGUSR1/SIGINT become a clean stop of all ranks.

    Periodic checkpoints are written after an iteration's scoring and only
    when training goes on, so a resumed run continues exactly where the
    checkpoint was taken. A final checkpoint is written when training ends
    (signal or not), so ``--resume`` after a finished run has nothing to redo.
    A checkpoint that cannot be written (full disk) is a warning: the previous
    one stays and training goes on. A second SIGINT (Ctrl-C) stops at once.
    """

    def __init__(self, job, comm: Comm, install_signals: bool = True) -> None:
        self.job = job
        self.comm = comm
        self.interval = float(job.checkpoint_interval or 0)
        self.last = time.time()
        self.received: list[int] = []
        self.written: list[str] = []
        self.failed: list[str] = []  # one line per checkpoint that could not be written
        self._previous: dict[int, object] = {}
        if install_signals:
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._on_signal)

    @property
    def signalled(self) -> int:
        """The signal that stopped training: SIGTERM/SIGUSR1 (requeue) before SIGINT (a user); 0 if none."""
        return max(self.received, default=0)

    def _on_signal(self, signum, frame) -> None:
        if signum == signal.SIGINT and signal.SIGINT in self.received:
            raise KeyboardInterrupt  # a second Ctrl-C: stop at once, without a checkpoint of this state
        self.received.append(signum)
        if self.comm.rank == 0 and self.received.count(signum) == 1:
            again = " (Ctrl-C again to stop at once)" if signum == signal.SIGINT else ""
            _say_now(
                f"hpcdl: {signal.Signals(signum).name}: stopping after this iteration and writing a checkpoint{again}"
            )

    def restore_signals(self) -> None:
        """Put back the handlers that were there before (after training)."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def after_iteration(self, ctx) -> None:
        if self.received:
            ctx.stop_requested = True
        if (
            self.comm.rank == 0
            and self.interval > 0
            and ctx.decision is StopReason.CONTINUE
            and time.time() - self.last >= self.interval
        ):
            self.write(ctx.model)

    def after_training(self, ctx) -> None:
        if self.comm.rank == 0:
            self.write(ctx.model)

    def write(self, model: Model) -> str | None:
        """Write ``checkpoint-<iteration>.h5`` atomically and keep the newest KEEP_CHECKPOINTS.

        A write that fails (no space, no permission) leaves the previous checkpoints as they were
        and returns None after a one-line warning: training goes on, and a later checkpoint may fit."""
        directory = self.job.checkpoint_dir
        iteration = model.run.iterations
        path = os.path.join(directory, f"checkpoint-{iteration:08d}.h5")
        if not np.isfinite(model.net.buffer).all():
            return None  # never save a diverged state; the last good checkpoint stays
        try:
            os.makedirs(directory, exist_ok=True)
            if not self.written:  # temporary files of a run killed while writing
                for stale in glob.glob(os.path.join(glob.escape(directory), ".checkpoint-*.part")):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(stale)
            model.save(path, force=True)
        except OSError as exc:
            kept = f"the previous one ({self.written[-1]}) is kept" if self.written else "no earlier one exists"
            line = f"hpcdl: warning: checkpoint {path} not written ({exc}); {kept}; training goes on"
            self.failed.append(line)
            print(line, file=sys.stderr, flush=True)
            return None
        self.written.append(path)
        for old in checkpoint_files(directory)[:-KEEP_CHECKPOINTS]:
            with contextlib.suppress(FileNotFoundError):
                os.remove(old)
        self.last = time.time()
        return path


# -- one run per output directory ------------------------------------------------
class OutputDirInUse(RuntimeError):
    """Another live run owns the job's output directory; the message names its pid, host and age."""


def _process_start(pid: int) -> int | None:
    """The start time of a process in clock ticks since boot (tells a reused pid from the original)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _read_lock(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        int(data["pid"]), str(data["host"]), float(data["heartbeat"])
        return data
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _gone(data: dict, stale_seconds: float) -> str | None:
    """Why the run that wrote ``data`` is certainly gone, or None if it may be alive."""
    pid, host, beat = int(data["pid"]), str(data["host"]), float(data["heartbeat"])
    age = f"last heartbeat {time.time() - beat:.0f} s ago"
    slurm_job = os.environ.get("SLURM_JOB_ID")
    if slurm_job and data.get("slurm_job_id") == slurm_job:
        restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
        if restarts > int(data.get("slurm_restart_count") or 0):  # Slurm never runs two incarnations at once
            return f"an earlier incarnation of Slurm job {slurm_job} ({age})"
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return f"pid {pid} on {host} is not running ({age})"
        except PermissionError:
            pass  # alive, another user's
        started = data.get("pid_start")
        now = _process_start(pid)
        if started is not None and now is not None and now != int(started):
            return f"pid {pid} on {host} is now another process ({age})"
        return None
    if time.time() - beat > stale_seconds:
        return f"pid {pid} on host {host}, no heartbeat for {time.time() - beat:.0f} s"
    return None


def running_marker(directory: str) -> dict | None:
    """The running.json of a job directory if that job is still alive, else None (for ``hpcdl ui``)."""
    data = _read_lock(os.path.join(directory, RUNNING_FILE))
    if data is None or _gone(data, STALE_SECONDS):
        return None
    return data


class RunLock(TrainHook):
    """``<output_dir>/running.json``: the one run that owns a job's output directory (docs/checkpoints.md).
    As a trainer hook it keeps the epochs that ``hpcdl ui`` shows.

    Taken atomically: the lock file is written complete under a private name and hard-linked to
    ``running.json``, which fails if the name exists, also over NFS (where O_EXCL was unreliable);
    on a file system without hard links, O_CREAT|O_EXCL is used instead. It holds pid, host, the
    process start time, start, heartbeat and epochs (read by ``hpcdl ui``). A thread refreshes the
    heartbeat every HEARTBEAT_SECONDS. A lock whose process is gone (same host: the pid is not
    running; another host: no heartbeat for LOCK_STALE_SECONDS; Slurm: an earlier incarnation of
    the same requeued job) is taken over with a note; a live one is refused.
    """

    def __init__(self, directory: str, total_epochs: float = 0.0) -> None:
        self.directory = directory
        self.path = os.path.join(directory, RUNNING_FILE)
        self.total = float(total_epochs)
        self.started = time.time()
        self.epochs = 0.0
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._made: list[str] = []  # the directories acquire() created, deepest first

    def _data(self) -> dict:
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "pid_start": _process_start(os.getpid()),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            "slurm_restart_count": int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0),
            "token": self.token,
            "started": self.started,
            "heartbeat": time.time(),
            "epochs": float(self.epochs),
            "total_epochs": self.total,
        }

    def _private_copy(self) -> str:
        """The lock's content, complete and fsynced, under a name of this process (hidden from `hpcdl ui`)."""
        private = os.path.join(self.directory, f".{RUNNING_FILE}.{self.token}.part")
        with open(private, "w", encoding="utf-8") as fh:
            json.dump(self._data(), fh)
            fh.flush()
            os.fsync(fh.fileno())
        return private

    def _create(self) -> bool:
        """Create running.json if no file has that name; True if this process created it."""
        private = self._private_copy()
        try:
            return _exclusive_link(private, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(private)

    def _take_over(self, seen: dict | None) -> bool:
        """Replace a gone run's lock by ours; False if another process is doing so or did it first.

        One taker at a time (``.running.json.takeover``, created exclusively), and running.json is
        replaced in one rename after checking it is still the lock judged gone: it never disappears,
        so a starting run cannot slip in between."""
        mutex = os.path.join(self.directory, f".{RUNNING_FILE}.takeover")
        private = self._private_copy()
        try:
            if not _exclusive_link(private, mutex):
                if _age(mutex) > 10.0:  # a taker that died in these few instructions
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(mutex)
                return False
            try:
                if _read_lock(self.path) != seen:
                    return False
                os.replace(private, self.path)
                return True
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(mutex)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(private)

    def acquire(self) -> str | None:
        """Take the lock, or raise OutputDirInUse naming the live holder; returns a note after a takeover."""
        self._made = _missing_dirs(self.directory)
        for _ in range(200):
            note = None
            os.makedirs(self.directory, exist_ok=True)  # again each time: a failed run may have just removed it
            try:
                created = self._create()
            except FileNotFoundError:  # ... between the makedirs and here
                continue
            if not created:
                seen = _read_lock(self.path)
                if seen is None and _age(self.path) < 5.0:
                    time.sleep(0.05)  # just created by O_EXCL and not yet written
                    continue
                why = "unreadable lock file" if seen is None else _gone(seen, LOCK_STALE_SECONDS)
                if why is None:
                    raise OutputDirInUse(self._refusal(seen))
                if not self._take_over(seen):
                    time.sleep(0.02)
                    continue
                note = f"hpcdl: note: took over {self.path} from a run that is gone ({why})"
            self._thread = threading.Thread(target=self._beat, name="hpcdl-heartbeat", daemon=True)
            self._thread.start()
            return note
        raise OutputDirInUse(f"{self.path}: could not take the lock (it keeps changing); is another run starting?")

    def _refusal(self, holder: dict) -> str:
        now = time.time()
        return (
            f"{self.directory} is in use by another run: pid {holder['pid']} on host {holder['host']}, "
            f"started {_duration(now - float(holder.get('started', now)))} ago, last heartbeat "
            f"{now - float(holder['heartbeat']):.0f} s ago ({self.path}). One run owns an output directory: "
            "wait for that run or stop it, or give this one another output_dir (--output-dir DIR)"
        )

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            current = _read_lock(self.path)
            if current is None or current.get("token") != self.token:
                print(f"hpcdl: warning: {self.path} was taken over by another run", file=sys.stderr, flush=True)
                return
            with contextlib.suppress(OSError):  # a full disk: try again at the next beat
                with atomic_path(self.path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
                    json.dump(self._data(), fh)

    def after_iteration(self, ctx) -> None:
        self.epochs = ctx.epochs

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        current = _read_lock(self.path)
        if current is not None and current.get("token") == self.token:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
        # A run that failed before writing anything (a missing input frame, a bad parameter) leaves
        # no empty output directory behind; only the directories this run created, and only if empty.
        for directory in self._made:
            try:
                os.rmdir(directory)
            except OSError:
                break


def _missing_dirs(path: str) -> list[str]:
    """``path`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        missing.append(path)
        path = os.path.dirname(path)
    return missing


def _exclusive_link(source: str, target: str) -> bool:
    """Give ``source``'s content the name ``target`` unless that name exists (atomic, NFS included)."""
    try:
        os.link(source, target)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links on this file system: exclusive create (a reader may see it empty briefly)
        try:
            fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as out, open(source, encoding="utf-8") as src:
            out.write(src.read())
        return True


def _age(path: str) -> float:
    try:
        return time.time() - os.stat(path).st_mtime
    except OSError:
        return 0.0


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"
