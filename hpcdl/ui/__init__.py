"""The web UI: a live view of a training job (rank 0) and a browser for finished jobs, models and frames.

``hpcdl train JOB --ui`` serves the running job; ``hpcdl ui DIR`` serves a
directory of job outputs or model files. Both bind 127.0.0.1 unless another
address is asked for, and are read-only (GET/HEAD). See docs/ui.md.
"""

from __future__ import annotations

import os
import warnings

from .live import LiveJob
from .server import UIServer, bind
from .site import Site

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 54321
LIVE_PORT_TRIES = 20  # a busy port (another job's UI on the same node) moves to the next one


def serve_directory(root: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, verbose: bool = False) -> UIServer:
    """A (not yet started) server for the jobs, models and frames under ``root``."""
    return bind(Site(root), host, port, verbose=verbose)


def start_live_ui(job, *, ranks: int = 1, threads: int = 1, host: str | None = None) -> tuple[LiveJob, UIServer]:
    """Rank 0: start serving ``job`` (a :class:`hpcdl.jobs.Job`) on a daemon thread; returns the hook and server.

    Pass the hook in the trainer's ``hooks``; the server reads the model through it.
    """
    os.makedirs(job.output_dir, exist_ok=True)
    root = os.path.realpath(job.output_dir)
    live = LiveJob(
        os.path.basename(root),
        os.path.basename(job.model_path),
        name=job.name,
        ranks=ranks,
        threads=threads,
        model_id=job.parameters.get("model_id") or job.name,
    )
    host = host or getattr(job, "ui_bind", None) or DEFAULT_HOST
    port = int(job.port if job.port is not None else DEFAULT_PORT)
    server = bind(Site(root, live=live), host, port, tries=LIVE_PORT_TRIES if port else 1).start()
    if not server.loopback_only:
        warnings.warn(
            f"web UI bound to {host}: anyone who can reach port {server.server_address[1]} can read this "
            "job's parameters, metrics, frame summaries and download its model (no login; docs/ui.md)",
            stacklevel=2,
        )
    return live, server


__all__ = ["LiveJob", "Site", "UIServer", "bind", "serve_directory", "start_live_ui"]
