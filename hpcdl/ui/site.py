"""The UI's data: jobs, models and frames of a served directory, plus the live job of a training run."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from .. import store
from ..frame import Frame, FrameError, frame_summary, get_frame
from ..model import load_model
from ..runstate import RunState
from .catalog import Catalog
from .views import browser_json, model_view

MODEL_CACHE_SIZE = 8  # loaded models (weights included) kept in memory
CACHE_ENTRIES = 1000  # model headers / frame summaries kept


def _model_header(path: str) -> dict:
    """A model file's id, run info, effective parameters and final metrics (without its weights if the store can)."""
    content = store.read_model_summary(path)
    eff = (content.get("params") or {}).get("effective") or {}
    metrics = content.get("metrics") or {}
    out = {
        "model_id": str(content.get("model_id", "")),
        "created": str(content.get("created", "")),
        "run_info": RunState.from_extra(content.get("extra") or {}).report(),
        "epochs_requested": eff.get("epochs"),
        "hidden": eff.get("hidden"),
        "activation": eff.get("activation"),
        "output": (content.get("net") or content.get("net_attrs") or {}).get("output"),
    }
    for part in ("training", "validation"):
        m = metrics.get(part) or {}
        out[f"{part}_error"] = m.get("classification_error", m.get("RMSE"))
        out[f"{part}_error_name"] = "classification error" if "classification_error" in m else "RMSE"
    return out


class Site:
    """Answers the UI's questions from a :class:`Catalog` (and a :class:`~hpcdl.ui.live.LiveJob`, if any)."""

    def __init__(self, root: str, live=None, rescan_seconds: float = 2.0) -> None:
        self.catalog = Catalog(root, rescan_seconds=rescan_seconds)
        self.live = live
        self._lock = threading.Lock()
        self._headers: dict[tuple, dict] = {}
        self._models: OrderedDict[tuple, object] = OrderedDict()
        self._summaries: dict[tuple, dict] = {}
        self._views: dict[tuple, dict] = {}

    # -- cached file readers ---------------------------------------------------
    @staticmethod
    def _sig(entry: dict) -> tuple:
        st = os.stat(entry["path"])
        return entry["path"], st.st_mtime_ns, st.st_size

    def _unreadable(self, entry: dict, exc: Exception) -> str:
        """The reader's message, naming the file by its key (no absolute host paths in the page)."""
        return str(exc).replace(entry["path"], entry["key"])

    def _header(self, entry: dict) -> dict:
        """The model file's header, or ``{"error": message}`` if it cannot be read."""
        try:
            sig = self._sig(entry)
            if sig not in self._headers:
                if len(self._headers) > CACHE_ENTRIES:  # rotating checkpoints: forget old versions
                    self._headers.clear()
                try:
                    self._headers[sig] = _model_header(entry["path"])
                except (KeyError, ValueError, TypeError) as exc:  # ModelFileError is a ValueError
                    self._headers[sig] = {"error": self._unreadable(entry, exc)}
            return self._headers[sig]
        except OSError as exc:
            return {"error": self._unreadable(entry, exc)}

    def _loaded(self, entry: dict):
        sig = self._sig(entry)
        with self._lock:
            if sig in self._models:
                self._models.move_to_end(sig)
                return self._models[sig]
        model = load_model(entry["path"])
        with self._lock:
            self._models[sig] = model
            while len(self._models) > MODEL_CACHE_SIZE:
                self._models.popitem(last=False)
        return model

    # -- jobs ------------------------------------------------------------------
    def _job_model_entry(self, job: dict) -> tuple[dict | None, str]:
        """The job's final model, else its newest checkpoint; and the status that implies
        (running while another process keeps the job's running.json alive)."""
        cat = self.catalog
        if job["running"] is not None:
            return (cat.models[max(job["checkpoints"])] if job["checkpoints"] else None), "running"
        if job["models"]:
            return cat.models[max(job["models"], key=lambda k: cat.models[k]["mtime"])], "finished"
        if job["checkpoints"]:
            return cat.models[max(job["checkpoints"])], "incomplete"
        return None, "no model"

    def _job_summary(self, job: dict) -> dict:
        entry, status = self._job_model_entry(job)
        head = self._header(entry) if entry else None
        if head and "error" in head:
            status = "unreadable"
        info = (head or {}).get("run_info", {})
        total = (head or {}).get("epochs_requested")
        epochs = info.get("epochs")
        if status == "running":  # newer than any checkpoint: the heartbeat of the training process
            epochs, total = job["running"].get("epochs"), job["running"].get("total_epochs")
        return browser_json(
            {
                "key": job["key"],
                "name": job["name"],
                "status": status,
                "live": False,
                "stop_reason": info.get("stop_reason"),
                "model": entry["key"] if entry else None,
                "model_id": (head or {}).get("model_id"),
                "frames": job["frames"],
                "epochs": epochs,
                "total_epochs": total,
                "progress": min(1.0, epochs / total) if epochs is not None and total else None,
                "samples": info.get("samples"),
                "samples_per_second": info.get("samples_per_second"),
                "elapsed_seconds": info.get("wall_seconds", info.get("train_seconds")),
                "eta_seconds": None,
                "iterations": info.get("iterations"),
                "ranks": info.get("ranks"),
                "threads": info.get("threads"),
                "updated": entry["mtime"] if entry else None,
                "message": (head or {}).get("error"),
            }
        )

    def jobs(self) -> list[dict]:
        self.catalog.refresh()
        out = [] if self.live is None else [self.live.job_summary()]
        live = self.live is not None
        out += [
            self._job_summary(j)
            for k, j in self.catalog.jobs.items()  # the live job is the root's
            if not (live and (k == self.live.job_key or j["dir"] == self.catalog.root))
        ]
        return out

    def job(self, key: str) -> dict | None:
        self.catalog.refresh()
        if self.live is not None and key == self.live.job_key:
            summary = self.live.job_summary()
            job = next((j for j in self.catalog.jobs.values() if j["dir"] == self.catalog.root), None)
            frames = job["frames"] if job else []
            checkpoints = job["checkpoints"] if job else []
        else:
            job = self.catalog.jobs.get(key)
            if job is None:
                return None
            summary = self._job_summary(job)
            frames, checkpoints = job["frames"], job["checkpoints"]
        summary["frames"] = [self._frame_entry(k) for k in frames if k in self.catalog.frames]
        summary["checkpoints"] = [self.catalog.describe_download(k) for k in checkpoints if k in self.catalog.files]
        return summary

    # -- models ----------------------------------------------------------------
    def models(self) -> list[dict]:
        self.catalog.refresh()
        out = []
        if self.live is not None:
            out.append(self.live.model_summary())
        for key, entry in self.catalog.models.items():
            if entry.get("checkpoint") or (self.live is not None and key == self.live.model_key):
                continue
            head = self._header(entry)
            if "error" in head:
                out.append(
                    {
                        "key": key,
                        "model_id": entry["name"],
                        "job": entry.get("job"),
                        "live": False,
                        "status": "unreadable",
                        "size": entry["size"],
                        "error": head["error"],
                    }
                )
                continue
            info = head["run_info"]
            out.append(
                browser_json(
                    {
                        "key": key,
                        "model_id": head["model_id"],
                        "job": entry.get("job"),
                        "live": False,
                        "status": "saved",
                        "size": entry["size"],
                        "created": head["created"],
                        "hidden": head["hidden"],
                        "activation": head["activation"],
                        "epochs": info.get("epochs"),
                        "training_error": head["training_error"],
                        "validation_error": head["validation_error"],
                        "error_name": head["training_error_name"],
                        "output": head["output"],
                    }
                )
            )
        return out

    def model(self, key: str) -> dict | None:
        self.catalog.refresh()
        if self.live is not None and key == self.live.model_key:
            return self.live.model_view(self._downloads(key, live=True))
        entry = self.catalog.models.get(key)
        if entry is None:
            return None
        sig = self._sig(entry)
        view = self._views.get(sig)
        if view is None:
            try:
                model = self._loaded(entry)
            except (KeyError, ValueError, TypeError, OSError) as exc:  # damaged or foreign-version file
                return {
                    "key": key,
                    "model_id": entry["name"],
                    "status": "unreadable",
                    "job": entry.get("job"),
                    "error": self._unreadable(entry, exc),
                    "downloads": self._downloads(key),
                }
            view = model_view(
                model,
                key=key,
                status="checkpoint" if entry.get("checkpoint") else "saved",
                downloads=[],
                job=entry.get("job"),
            )
            self._views = {s: v for s, v in self._views.items() if s[0] != sig[0]}
            self._views[sig] = view
        return {**view, "downloads": self._downloads(key)}

    def _downloads(self, key: str, live: bool = False) -> list[dict]:
        cat = self.catalog
        keys = cat.exports_of(key)
        if live:  # a model file from an earlier run is not this run's model
            keys = [k for k in keys if cat.models.get(k) is None or self.live.is_current_file(cat.files[k])]
        return [cat.describe_download(k) for k in keys if k in cat.files]

    # -- frames ----------------------------------------------------------------
    def _frame_entry(self, key: str) -> dict:
        entry = self.catalog.frames[key]
        try:
            frame = Frame(entry["path"])
            shape = {"nrow": frame.nrow, "ncol": frame.ncol}
        except (FrameError, OSError):
            shape = {"nrow": None, "ncol": None}
        return {"key": key, "name": entry["name"], "job": entry.get("job"), "size": entry["size"], **shape}

    def frames(self) -> list[dict]:
        self.catalog.refresh()
        return [self._frame_entry(k) for k in self.catalog.frames]

    def frame(self, key: str) -> dict | None:
        self.catalog.refresh()
        entry = self.catalog.frames.get(key)
        if entry is None:
            return None
        sig = self._sig(entry)
        if sig not in self._summaries:
            if len(self._summaries) > CACHE_ENTRIES:
                self._summaries.clear()
            summary = frame_summary(get_frame(entry["path"]))
            summary["path"] = key  # never show absolute paths of the host
            self._summaries[sig] = browser_json({**summary, "key": key, "job": entry.get("job")})
        return self._summaries[sig]

    def download(self, key: str) -> str | None:
        self.catalog.refresh()
        return self.catalog.download_path(key)

    def info(self) -> dict:
        return {
            "live": self.live is not None,
            "read_only": True,
            "default_route": f"#/job/{self.live.job_key}" if self.live is not None else "#/jobs",
            "root": os.path.basename(self.catalog.root),
        }
