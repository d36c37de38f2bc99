"""What a served directory holds: jobs, models, frames and downloadable files.

The catalog is the only place that touches the file system. Requests name
things by catalog key (a relative path that the scan found); a key is looked up
in a dict and never joined to a path, so a request cannot reach a file the
scan did not list. Files whose real path leaves the served directory (symlinks)
are not listed.
"""

from __future__ import annotations

import os
import re
import threading
import time

import h5py

from ..lifecycle import RUNNING_FILE, running_marker

MAX_DEPTH = 4  # runs/<job>/checkpoints/x.h5 is depth 3
EXPORT_EXTENSIONS = (".onnx", ".json", ".java", ".zip", ".npz", ".py", ".txt", ".csv", ".gz", ".pb", ".tar")
CHECKPOINT_RE = re.compile(r"^checkpoint-\d+\.h5$")


def _h5_kind(path: str) -> str | None:
    """'model', 'frame' or None, from the file's format attribute (reads no data)."""
    try:
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
    except (OSError, ValueError):
        return None
    if isinstance(fmt, bytes):
        fmt = fmt.decode("utf-8", "replace")
    return {"hpcdl-model": "model", "hpcdl-frame": "frame"}.get(fmt)


class Catalog:
    """A cached scan of ``root``; :meth:`refresh` rescans at most every ``rescan_seconds``."""

    def __init__(self, root: str, rescan_seconds: float = 2.0) -> None:
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"{root}: no such directory")
        self.rescan_seconds = rescan_seconds
        self._lock = threading.Lock()
        self._scanned = -1e18
        self._kinds: dict[tuple, str | None] = {}
        self.jobs: dict[str, dict] = {}
        self.models: dict[str, dict] = {}
        self.frames: dict[str, dict] = {}
        self.files: dict[str, str] = {}  # download key -> absolute path: model files and their exports only
        self._candidates: dict[str, str] = {}  # files that could be exports (by extension)

    # -- scanning -----------------------------------------------------------
    def _inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.root or real.startswith(self.root + os.sep)

    def _kind(self, path: str) -> str | None:
        st = os.stat(path)
        sig = (path, st.st_mtime_ns, st.st_size)
        if sig not in self._kinds:
            self._kinds[sig] = _h5_kind(path)
        return self._kinds[sig]

    def refresh(self, force: bool = False) -> None:
        with self._lock:
            if not force and time.monotonic() - self._scanned < self.rescan_seconds:
                return
            self._scan()
            self._scanned = time.monotonic()

    def _rel(self, path: str) -> str:
        return os.path.relpath(path, self.root).replace(os.sep, "/")

    def _scan(self) -> None:
        models, frames, files, candidates, running = {}, {}, {}, {}, {}
        for here, subdirs, names in os.walk(self.root, followlinks=False):
            depth = 0 if here == self.root else self._rel(here).count("/") + 1
            subdirs[:] = sorted(
                d for d in subdirs if not d.startswith(".") and depth < MAX_DEPTH and d != "__pycache__"
            )
            for name in sorted(names):
                path = os.path.join(here, name)
                if name.startswith(".") or name.endswith(".part") or not self._inside(path) or not os.path.isfile(path):
                    continue
                key = self._rel(path)
                if name == RUNNING_FILE:  # a job training in some process (lifecycle.RunLock)
                    running[here] = running_marker(here)  # None: that process is gone
                    continue
                try:
                    kind = self._kind(path) if name.endswith(".h5") else None
                    st = os.stat(path)
                except OSError:
                    continue
                entry = {"key": key, "path": path, "dir": here, "name": name, "size": st.st_size, "mtime": st.st_mtime}
                if kind == "model":
                    entry["checkpoint"] = bool(CHECKPOINT_RE.match(name)) and os.path.basename(here) == "checkpoints"
                    models[key] = entry
                    files[key] = path
                elif kind == "frame":
                    frames[key] = entry
                elif name.lower().endswith(EXPORT_EXTENSIONS):
                    candidates[key] = path
        live = {(e["path"]) for e in list(models.values()) + list(frames.values())}
        self._kinds = {sig: kind for sig, kind in self._kinds.items() if sig[0] in live}  # forget old files
        self.models, self.frames, self._candidates = models, frames, candidates
        for key in models:
            files.update({k: candidates[k] for k in self.exports_of(key) if k in candidates})
        self.files = files
        self.jobs = self._find_jobs(models, frames, running)

    def _find_jobs(self, models: dict, frames: dict, running: dict) -> dict:
        """A job output dir is one with frames/ or checkpoints/ holding our files (``hpcdl train`` writes both),
        or with a running.json (a job that has not written either yet). ``running`` maps a directory to
        its live RunLock data (or None); each job gets it as ``running``."""
        job_dirs: dict[str, dict] = {}
        for job_dir in sorted(running):
            if self._inside(job_dir):
                job_dirs.setdefault(job_dir, {"frames": [], "checkpoints": [], "models": []})
        for entry in list(frames.values()) + list(models.values()):
            parent = entry["dir"]
            if os.path.basename(parent) in ("frames", "checkpoints"):
                job_dir = os.path.dirname(parent)
                if self._inside(job_dir):
                    job_dirs.setdefault(job_dir, {"frames": [], "checkpoints": [], "models": []})
        for entry in frames.values():
            j = job_dirs.get(os.path.dirname(entry["dir"]))
            if j is not None and os.path.basename(entry["dir"]) == "frames":
                j["frames"].append(entry["key"])
        for entry in models.values():
            if entry["checkpoint"]:
                j = job_dirs.get(os.path.dirname(entry["dir"]))
                if j is not None:
                    j["checkpoints"].append(entry["key"])
            elif entry["dir"] in job_dirs:
                job_dirs[entry["dir"]]["models"].append(entry["key"])
            if entry["dir"] in job_dirs:
                entry["job_dir"] = entry["dir"]
            elif entry["checkpoint"] and os.path.dirname(entry["dir"]) in job_dirs:
                entry["job_dir"] = os.path.dirname(entry["dir"])
        jobs = {}
        for job_dir, j in sorted(job_dirs.items()):
            key = os.path.basename(job_dir) if job_dir == self.root else self._rel(job_dir)
            if key in jobs:
                key += "~root"
            j.update(key=key, dir=job_dir, name=os.path.basename(job_dir), running=running.get(job_dir))
            jobs[key] = j
        key_of = {j["dir"]: k for k, j in jobs.items()}
        for entry in models.values():
            if "job_dir" in entry:
                entry["job"] = key_of[entry.pop("job_dir")]
        for entry in frames.values():
            for k, j in jobs.items():
                if entry["key"] in j["frames"]:
                    entry["job"] = k
        return jobs

    # -- downloads ----------------------------------------------------------
    def exports_of(self, model_key: str) -> list[str]:
        """Download keys of a model file and its exports: files beside it named after it, and exports/."""
        entry = self.models.get(model_key)
        if entry is None:
            return []
        stem = os.path.splitext(entry["name"])[0]
        out = [model_key]
        for key, path in sorted(self._candidates.items()):
            here, name = os.path.split(path)
            beside = here == entry["dir"] and (name.startswith((stem + ".", stem + "_", stem + "-")))
            in_exports = here == os.path.join(entry["dir"], "exports")
            if beside or in_exports:
                out.append(key)
        return out

    def download_path(self, key: str) -> str | None:
        """The file behind a download key, re-checked to be a regular file inside the root."""
        path = self.files.get(key)
        if path is None or not os.path.isfile(path) or not self._inside(path):
            return None
        return path

    def describe_download(self, key: str) -> dict:
        path = self.files[key]
        try:
            size = os.path.getsize(path)
        except OSError:
            size = None
        return {
            "key": key,
            "name": os.path.basename(path),
            "size": size,
            "kind": "model"
            if key in self.models and not self.models[key].get("checkpoint")
            else "checkpoint"
            if key in self.models
            else "export",
        }
