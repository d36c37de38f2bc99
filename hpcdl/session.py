"""H2O-3's session calls (``h2o.init``, ``h2o.cluster()``, ``h2o.ls``, ``h2o.remove`` ...) for scripts
that start with them.

hpcdl has no server: a script trains in its own process (and its MPI ranks), frames are files and
models are Python objects (findable by id while referenced; docs/python-api.md). So ``init`` and
``cluster().shutdown()`` manage nothing and say so once; ``ls``/``remove``/``remove_all`` act on the
models this process knows by id; ``upload_file`` is ``import_file``; ``export_file`` writes a frame
as CSV through the output rules (no overwrite without ``force``, never over an input).
"""

from __future__ import annotations

import os
import sys

from .comm import world
from .fsutil import atomic_path, check_output
from .version import __version__

_SAID: set[str] = set()


def _note(key: str, message: str) -> None:
    """Print ``message`` on stderr once per process (rank 0 only under MPI)."""
    if key in _SAID or world().rank != 0:
        return
    _SAID.add(key)
    print(f"hpcdl: {message}", file=sys.stderr, flush=True)


def init(*args, **kwargs) -> None:
    """H2O-3's ``h2o.init(...)``: accepted with any of its arguments; there is no cluster to start or
    connect to (training runs in this process and its MPI ranks), so it does nothing but say so once."""
    _note("init", "h2o.init(): no cluster to start; hpcdl trains in this process (and its MPI ranks)")


def no_progress() -> None:
    """H2O-3's ``h2o.no_progress()``: hpcdl's Python API prints no progress bars, so nothing changes."""


def show_progress() -> None:
    """H2O-3's ``h2o.show_progress()``: the Python API prints no progress bars; ``verbose=True`` in
    ``train()`` prints a line per scoring event instead."""
    _note("show_progress", "h2o.show_progress(): no progress bars here; train(..., verbose=True) prints scoring lines")


class Cluster:
    """What ``h2o.cluster()`` returns: there is no cluster, so ``shutdown()`` ends nothing."""

    cloud_name = "hpcdl"
    cloud_size = 1

    @property
    def version(self) -> str:
        return __version__

    def shutdown(self, prompt: bool = False) -> None:
        _note("shutdown", "h2o.cluster().shutdown(): no cluster to shut down")

    def show_status(self, detailed: bool = False) -> None:
        print(f"hpcdl {self.version}: no cluster; this process is rank {world().rank} of {world().size}")

    def is_running(self) -> bool:
        return True

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"cluster().{name}: hpcdl has no H2O cluster (training runs in this process)")


def cluster() -> Cluster:
    """H2O-3's ``h2o.cluster()`` (see :class:`Cluster`)."""
    return Cluster()


def ls():
    """The models this process knows by id (``key`` column), as H2O-3's ``h2o.ls()`` lists its keys.
    Frames are files, not keys: they are not listed."""
    import pandas as pd  # a slow import (0.3-0.7 s here): only for ls()'s table

    from .model import _MODELS  # model loads Numba: `import hpcdl` loads this module

    return pd.DataFrame({"key": sorted(_MODELS.keys())})


def remove(x, cascade: bool = True) -> None:
    """Forget a model (object or id) or a list of them, as ``h2o.remove``: ``get_model`` no longer finds
    it. A frame is left as it is: an imported file is the user's data, and a temporary frame file goes
    when its Python object does."""
    from .model import _MODELS, Model  # model loads Numba: `import hpcdl` loads this module

    for item in x if isinstance(x, (list, tuple)) else [x]:
        key = getattr(item, "model_id", item) if not isinstance(item, str) else item
        if isinstance(item, Model) or isinstance(key, str):
            _MODELS.pop(key, None)


def remove_all(retained=None) -> None:
    """Forget every model of this process but those in ``retained`` (objects or ids), as ``h2o.remove_all``."""
    from .model import _MODELS  # model loads Numba: `import hpcdl` loads this module

    keep = {getattr(r, "model_id", r) for r in (retained or [])}
    for key in [k for k in _MODELS.keys() if k not in keep]:
        _MODELS.pop(key, None)


def export_file(frame, path: str, force: bool = False, sep: str = ",", header: bool = True, **kwargs) -> str:
    """Write ``frame`` as CSV to ``path`` (H2O-3's ``h2o.export_file``): replaced only with ``force``,
    never one of the frame's own files; NA is an empty field. Returns the path."""
    path = os.fspath(path)
    if kwargs.get("parts", 1) not in (1, None):
        raise ValueError("export_file(parts=...): hpcdl writes one file")
    inputs = [p for p in (getattr(frame, "path", None), getattr(frame, "source", None)) if p]
    check_output(path, inputs=inputs, force=force, what="exported frame")
    df = frame.as_data_frame()
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep=sep, header=header, index=False, na_rep="")
    return path
