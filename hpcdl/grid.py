"""Grid search (booklet §3.4, docs/model-selection.md): many models over lists of parameter values.

    g = hpcdl.grid(x=..., y="label", training_frame=train, validation_frame=valid,
                   hyper_params={"hidden": [[200, 200], [100, 300, 100]], "l1": [1e-5, 1e-7]},
                   search_criteria={"strategy": "RandomDiscrete", "max_models": 4, "seed": 1},
                   epochs=1, activation="RectifierWithDropout")
    print(g)                 # summary, best model first
    g[0], g.models, g.get_model(model_id), g.get_param("l1"), g.sorted_by("AUC", decreasing=True)
    g.save("runs/grid")      # one model file each + summary.csv + summary.json; hpcdl.load_grid(dir)

On several MPI ranks the models are trained one after the other by all ranks
(``parallelism=1``) or, with ``parallelism=G``, by G groups of ranks at the same
time (``comm.split``), in rounds of G models. The set of models, their ids and
their parameters are the same either way; world rank 0 ends with every model.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import math
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import comm as comm_mod
from . import metrics
from .comm import Comm
from .fsutil import atomic_path, check_output
from .metrics import _pandas
from .params import (
    DeepLearningParameters,
    any_autoencoder,
    check_response_given,
    check_value,
    drop_unsupported_defaults,
    is_list,
    lookup,
)

# api, model and store (numba, h5py, pyarrow under them) are imported inside the functions that use
# them: hpcdl/__init__.py imports this module eagerly, and `import hpcdl` must stay light.

STRATEGIES = ("Cartesian", "RandomDiscrete")


@dataclass(frozen=True)
class SearchCriteria:
    """H2O's ``search_criteria``, checked (:func:`check_search_criteria`): how a grid walks its
    combinations and when it stops. The defaults are H2O-3's."""

    strategy: str = "Cartesian"
    max_models: int = 0
    max_runtime_secs: float = 0.0
    seed: int = -1
    stopping_rounds: int = 0
    stopping_metric: str = "AUTO"
    stopping_tolerance: float = 1e-3


SEARCH_KEYS = tuple(f.name for f in dataclasses.fields(SearchCriteria))
_SEARCH_NUMBERS = {"max_models": int, "max_runtime_secs": float, "seed": int, "stopping_rounds": int}
NOT_SEARCHABLE = ("model_id", "checkpoint")
LIST_KINDS = ("int_list", "float_list")


class GridError(ValueError):
    """A grid cannot be set up or loaded; the message names the parameter or file."""


# --------------------------------------------------------------------------- #
# Checking what the user gave
# --------------------------------------------------------------------------- #


def check_hyper_params(hyper_params: dict, fixed: dict) -> dict[str, list]:
    """Canonical names -> lists of values; one error naming the parameter for anything unusable."""
    if not isinstance(hyper_params, dict) or not hyper_params:
        raise GridError("hyper_params must be a non-empty dict of parameter name -> list of values")
    fixed_names = {lookup(name).name: name for name in fixed}
    out: dict[str, list] = {}
    for name, values in hyper_params.items():
        p = lookup(name)
        canonical = p.name
        if canonical in NOT_SEARCHABLE:
            raise GridError(f"hyper_params: {name!r} cannot be searched (the grid names its models)")
        if canonical in out:
            raise GridError(f"hyper_params: {canonical!r} given twice")
        if canonical in fixed_names:
            raise GridError(f"{canonical!r} is given both as a fixed parameter and in hyper_params; give it once")
        if not is_list(values):
            values = [values]
        values = list(values)
        if not values:
            raise GridError(f"hyper_params: {name!r} has an empty list of values")
        if p.kind in LIST_KINDS and not all(v is None or is_list(v) for v in values):
            raise GridError(
                f"hyper_params: {name!r} takes a list of lists, one per model, e.g. "
                f"{{'{canonical}': [[200, 200], [100, 300, 100]]}}; got {values!r}"
            )
        out[canonical] = [list(v) if is_list(v) else v for v in values]
    return out


def check_search_criteria(criteria: dict | None) -> SearchCriteria:
    """The user's search_criteria dict (the API's, a job's ``[search_criteria]``) as a SearchCriteria."""
    criteria = dict(criteria or {})
    bad = set(criteria) - set(SEARCH_KEYS)
    if bad:
        raise GridError(f"search_criteria: unknown key(s) {sorted(bad)}; valid: {list(SEARCH_KEYS)}")
    strategy = str(criteria.get("strategy", SearchCriteria.strategy))
    for s in STRATEGIES:
        if s.lower() == strategy.lower():
            strategy = s
            break
    else:
        raise GridError(f"search_criteria: strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    casts = {**_SEARCH_NUMBERS, "stopping_tolerance": float, "stopping_metric": str}
    try:
        given = {key: cast(criteria[key]) for key, cast in casts.items() if key in criteria}
    except (TypeError, ValueError) as exc:
        raise GridError(f"search_criteria: {exc}") from None
    out = SearchCriteria(strategy=strategy, **given)
    for key in ("max_models", "max_runtime_secs", "stopping_rounds", "stopping_tolerance"):
        if getattr(out, key) < 0:
            raise GridError(f"search_criteria: {key} must be >= 0, got {getattr(out, key)}")
    return out


def combinations(hyper: dict[str, list], strategy: str, seed: int):
    """(index from 1, {name: value}) in search order: every combination, or random ones without repeats."""
    names = list(hyper)
    sizes = [len(hyper[n]) for n in names]
    total = math.prod(sizes)

    def combo(idx):
        return {n: hyper[n][i] for n, i in zip(names, idx)}

    if strategy == "Cartesian":
        for k, idx in enumerate(itertools.product(*[range(s) for s in sizes]), start=1):
            yield k, combo(idx)
        return
    rng = random.Random(seed)
    if total <= 100_000:  # small space: a random permutation of all combinations
        order = list(range(total))
        rng.shuffle(order)
        for k, flat in enumerate(order, start=1):
            idx, rest = [], flat
            for s in reversed(sizes):
                idx.append(rest % s)
                rest //= s
            yield k, combo(tuple(reversed(idx)))
        return
    seen: set[tuple] = set()
    k = 0
    while len(seen) < total:
        idx = tuple(rng.randrange(s) for s in sizes)
        if idx in seen:
            continue
        seen.add(idx)
        k += 1
        yield k, combo(idx)


def n_combinations(hyper: dict[str, list], criteria: SearchCriteria) -> int:
    total = math.prod(len(v) for v in hyper.values())
    return min(total, criteria.max_models) if criteria.max_models else total


def metric_key(metric: str) -> str:
    """The metrics key of what a user may call a metric in sorted_by / sort_by (metrics.METRICS)."""
    names = metrics.sort_names()
    key = names.get(str(metric).lower())
    if key is None:
        raise GridError(f"unknown metric {metric!r}; use one of {sorted(set(names))}")
    return key


# --------------------------------------------------------------------------- #
# The grid object
# --------------------------------------------------------------------------- #


@dataclass
class GridEntry:
    """One model of a grid: its varied parameters, status, time and metrics."""

    index: int
    model_id: str
    hyper: dict
    status: str = "ok"  # or "failed"
    error: str | None = None
    train_seconds: float = 0.0
    epochs: float | None = None
    metrics: dict = field(default_factory=dict)
    metric_source: str | None = None  # "xval", "valid" or "train"
    kind: str | None = None
    model_file: str | None = None  # file name inside a saved grid directory
    model: Any = field(default=None, repr=False)

    def record(self) -> dict:
        """The entry without its model (what the summary files and the MPI gather carry)."""
        d = {
            k: getattr(self, k)
            for k in (
                "index",
                "model_id",
                "hyper",
                "status",
                "error",
                "train_seconds",
                "epochs",
                "metrics",
                "metric_source",
                "kind",
                "model_file",
            )
        }
        return d


def _model_metrics(model) -> tuple[dict, str]:
    if model.cross_validation_metrics:
        m, source = model.cross_validation_metrics, "xval"
    elif model.validation_metrics:
        m, source = model.validation_metrics, "valid"
    else:
        m, source = model.training_metrics, "train"
    return {k: float(m[k]) for k in metrics.metric_keys("grid") if m.get(k) is not None}, source


class Grid:
    """A finished grid: models sorted best first, failed models listed apart."""

    def __init__(
        self,
        grid_id: str,
        hyper_params: dict,
        entries: list[GridEntry],
        *,
        search_criteria: dict,
        sort_by: str | None = None,
        decreasing: bool = False,
        directory: str | None = None,
        comm: Comm | None = None,
    ) -> None:
        self.grid_id = grid_id
        self.hyper_params = hyper_params
        self.hyper_names = list(hyper_params)
        self.entries = list(entries)
        self.search_criteria = search_criteria
        self.directory = directory
        self._comm = comm
        kind = next((e.kind for e in self.entries if e.kind), None)
        self.kind = kind
        self.sort_metric = metric_key(sort_by) if sort_by else metrics.default_metric(kind)
        self.decreasing = bool(decreasing)
        self._sort()

    def _sort(self) -> None:
        key = self.sort_metric
        sign = -1.0 if self.decreasing else 1.0

        def order(e: GridEntry):
            v = e.metrics.get(key)
            missing = e.status != "ok" or v is None or math.isnan(v)
            return (e.status != "ok", missing, sign * v if not missing else 0.0, e.index)

        self.entries.sort(key=order)

    # -- access ----------------------------------------------------------------
    @property
    def succeeded(self) -> list[GridEntry]:
        return [e for e in self.entries if e.status == "ok"]

    @property
    def failed(self) -> list[GridEntry]:
        return [e for e in self.entries if e.status != "ok"]

    def _load(self, e: GridEntry):
        if e.model is None:
            if self.directory and e.model_file:
                from .model import load_model  # light `import hpcdl` (see the note on the imports)

                e.model = load_model(os.path.join(self.directory, e.model_file))
            else:
                raise GridError(
                    f"model {e.model_id} is not held on this rank (rank 0 holds every model of a "
                    "grid trained with parallelism > 1)"
                )
        return e.model

    @property
    def models(self) -> list:
        """The models that trained, best first."""
        return [self._load(e) for e in self.succeeded]

    @property
    def model_ids(self) -> list[str]:
        return [e.model_id for e in self.succeeded]

    def __len__(self) -> int:
        return len(self.succeeded)

    def __getitem__(self, i: int):
        return self._load(self.succeeded[i])

    def __iter__(self):
        return iter(self.models)

    def get_model(self, model_id: str):
        for e in self.succeeded:
            if e.model_id == model_id:
                return self._load(e)
        for e in self.failed:
            if e.model_id == model_id:
                raise GridError(f"model {model_id} failed: {e.error}")
        raise GridError(f"no model {model_id!r} in grid {self.grid_id} (models: {self.model_ids})")

    def get_param(self, name: str, effective: bool = False) -> list:
        """One parameter across the models, best first (the booklet's lapply(grid@model, ...$params$l1))."""
        canonical = lookup(name).name
        if not effective and canonical in self.hyper_params:
            return [e.hyper[canonical] for e in self.succeeded]
        out = []
        for m in self.models:
            out.append(m.effective[canonical] if effective else m.params[canonical])
        return out

    def get_grid(self, sort_by: str | None = None, decreasing: bool | None = None) -> Grid:
        """H2O-3's ``get_grid``: this grid ordered by ``sort_by`` (increasing unless ``decreasing=True``,
        as H2O-3 sorts: ``get_grid(sort_by="auc", decreasing=True)`` puts the best AUC first); both
        None: the grid as it is."""
        if sort_by is None and decreasing is None:
            return self
        return self.sorted_by(sort_by or self.sort_metric, bool(decreasing))

    def get_hyperparams_dict(self, id: str) -> dict:
        """The searched parameters' values of model ``id`` (H2O-3's ``get_hyperparams_dict``)."""
        for e in self.entries:
            if e.model_id == id:
                return {n: e.hyper.get(n) for n in self.hyper_names}
        raise GridError(f"no model {id!r} in grid {self.grid_id} (models: {[e.model_id for e in self.entries]})")

    def get_hyperparams(self, id: str) -> list:
        """The searched parameters' values of model ``id``, in ``hyper_names`` order."""
        return list(self.get_hyperparams_dict(id).values())

    def sorted_metric_table(self, use_pandas: bool = True):
        """The models that trained, best first: model_id, the searched parameters and the sort metric
        (a pandas DataFrame, or a list of dicts with ``use_pandas=False``)."""
        rows = [
            {"model_id": r["model_id"], **{n: r[n] for n in self.hyper_names}, self.sort_metric: r[self.sort_metric]}
            for r in self.summary_table()
            if r["status"] == "ok"
        ]
        if not use_pandas:
            return rows
        return _pandas("sorted_metric_table()").DataFrame(
            rows, columns=["model_id", *self.hyper_names, self.sort_metric]
        )

    def sorted_by(self, metric: str, decreasing: bool = False) -> Grid:
        """The same grid ordered by another metric (h2o.getGrid(sort_by=, decreasing=))."""
        return Grid(
            self.grid_id,
            self.hyper_params,
            self.entries,
            search_criteria=self.search_criteria,
            sort_by=metric,
            decreasing=decreasing,
            directory=self.directory,
            comm=self._comm,
        )

    def summary_table(self) -> list[dict]:
        """One row per model, best first, then the failed ones (with their error)."""
        rows = []
        for e in self.entries:
            row = {"model_id": e.model_id}
            for n in self.hyper_names:
                row[n] = e.hyper.get(n)
            row[self.sort_metric] = e.metrics.get(self.sort_metric)
            for k, v in e.metrics.items():
                if k != self.sort_metric:
                    row[k] = v
            row.update(
                {
                    "metric_source": e.metric_source,
                    "epochs": e.epochs,
                    "train_seconds": round(e.train_seconds, 3),
                    "status": e.status,
                    "error": e.error,
                }
            )
            rows.append(row)
        return rows

    def __str__(self) -> str:
        title = (
            f"Hyper-Parameter Search Summary: grid {self.grid_id}, ordered by "
            f"{'decreasing' if self.decreasing else 'increasing'} {self.sort_metric}"
        )
        cols = ["model_id", *self.hyper_names, self.sort_metric, "metric_source", "epochs", "train_seconds"]
        rows = [
            {**r, **{n: json.dumps(r[n]) if is_list(r[n]) else r[n] for n in self.hyper_names}}
            for r in self.summary_table()
            if r["status"] == "ok"
        ]
        from .model import format_table  # light `import hpcdl` (see the note on the imports)

        lines = [format_table(rows, cols, title) if rows else f"{title}\n(no model trained)"]
        if self.failed:
            lines.append(f"\nFailed models ({len(self.failed)}):")
            for e in self.failed:
                lines.append(f"  {e.model_id} {json.dumps(e.hyper)}: {e.error}")
        return "\n".join(lines)

    def show(self) -> None:
        print(self)

    # -- persistence -----------------------------------------------------------------
    def save(self, directory: str, force: bool = False) -> str:
        """Write every model (``<model_id>.h5``) and summary.csv/summary.json into ``directory``.

        On several ranks only world rank 0 writes (it holds every model). Refuses to
        replace an existing saved grid unless ``force``.
        """
        comm = self._comm
        if comm is not None and comm.rank != 0:
            comm.barrier()
            return directory
        try:
            _check_grid_directory(directory, force)
            for e in self.succeeded:
                model = self._load(e)
                e.model_file = f"{e.model_id}.h5"
                model.save(os.path.join(directory, e.model_file), force=True)
            write_summary(self, directory)
            self.directory = directory
        finally:
            if comm is not None and comm.size > 1:
                comm.barrier()
        return directory


def _check_grid_directory(directory: str, force: bool) -> None:
    """The output rules (docs/outputs.md) for a grid directory, created if missing: a saved grid
    there is replaced only with ``force``. (Saving a grid back where it was loaded from is allowed
    with ``force``: each model is read before its own file is replaced, atomically.)"""
    if directory != "-":
        os.makedirs(directory, exist_ok=True)
    check_output(directory if directory == "-" else os.path.join(directory, "summary.json"), force=force, what="grid")


def _csv_value(v) -> str:
    if v is None:
        return ""
    if is_list(v) or isinstance(v, dict):
        return json.dumps(v)
    return str(v)


def write_summary(grid: Grid, directory: str) -> None:
    """summary.csv (the table, best first) and summary.json (everything load_grid needs), atomically."""
    rows = grid.summary_table()
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns)
    for r in rows:
        w.writerow([_csv_value(r.get(c)) for c in columns])
    with atomic_path(os.path.join(directory, "summary.csv")) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(buf.getvalue())
    doc = {
        "format": "hpcdl-grid",
        "format_version": 1,
        "grid_id": grid.grid_id,
        "hyper_params": grid.hyper_params,
        "search_criteria": grid.search_criteria,
        "sort_by": grid.sort_metric,
        "decreasing": grid.decreasing,
        "kind": grid.kind,
        "models": [e.record() for e in grid.entries],
    }
    with atomic_path(os.path.join(directory, "summary.json")) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        from .store import dumps  # light `import hpcdl` (see the note on the imports)

        fh.write(dumps(doc))


def load_grid(directory: str) -> Grid:
    """A grid saved by Grid.save or by a grid job; models are read from their files when used."""
    path = os.path.join(directory, "summary.json")
    if not os.path.exists(path):
        raise GridError(f"{directory}: not a saved grid (no summary.json)")
    try:
        with open(path, encoding="utf-8") as fh:
            from .store import loads  # light `import hpcdl` (see the note on the imports)

            doc = loads(fh.read())
        if doc.get("format") != "hpcdl-grid":
            raise GridError(f"{path}: not an hpcdl grid summary")
        entries = [GridEntry(**m) for m in doc["models"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise GridError(f"{path}: unreadable grid summary ({exc})") from exc
    return Grid(
        doc["grid_id"],
        doc["hyper_params"],
        entries,
        search_criteria=doc["search_criteria"],
        sort_by=doc.get("sort_by"),
        decreasing=bool(doc.get("decreasing")),
        directory=directory,
    )


# --------------------------------------------------------------------------- #
# Training
# --------------------------------------------------------------------------- #


def _train_one(
    index: int,
    model_id: str,
    hyper: dict,
    fixed: dict,
    data: dict,
    group: Comm,
    threads: int | None,
    remaining_secs: float | None,
) -> GridEntry:
    """Train one combination on the ranks of ``group``; a failure becomes a failed entry."""
    entry = GridEntry(index=index, model_id=model_id, hyper=hyper)
    t0 = time.time()
    try:
        from . import api  # light `import hpcdl` (see the note on the imports)

        params = DeepLearningParameters(**{**fixed, **hyper, "model_id": model_id})
        if remaining_secs is not None:  # the grid's time budget caps each model's own
            own = params.max_runtime_secs
            params = params.replace(max_runtime_secs=min(own, remaining_secs) if own > 0 else remaining_secs)
        model = api.train_model(
            params,
            data["training_frame"],
            data["validation_frame"],
            x=data["x"],
            y=data["y"],
            comm=group,
            threads=threads,
        )
    except Exception as exc:  # noqa: BLE001 - a bad combination must not stop the grid
        entry.status, entry.error = "failed", f"{type(exc).__name__}: {exc}"
        entry.train_seconds = time.time() - t0
        return entry
    entry.train_seconds = time.time() - t0
    if model.run_info.get("diverged"):
        entry.status, entry.error = "failed", str(model.run_info["diverged"])
        return entry
    entry.model = model
    entry.kind = model.kind
    entry.epochs = float(model.run_info.get("epochs", 0.0))
    entry.metrics, entry.metric_source = _model_metrics(model)
    return entry


def _should_stop_early(entries: list[GridEntry], criteria: SearchCriteria) -> bool:
    """Grid-level early stopping on the best-so-far stopping metric, models in build order."""
    k = criteria.stopping_rounds
    done = sorted((e for e in entries if e.status == "ok"), key=lambda e: e.index)
    if k <= 0 or not done:
        return False
    key, higher = metrics.metric_for_stopping(criteria.stopping_metric, done[0].kind)
    best, values = None, []
    for e in done:
        v = e.metrics.get(key, math.nan)
        if best is None or (v > best if higher else v < best):
            best = v
        values.append(best)
    return metrics.stop_early(values, k, criteria.stopping_tolerance, higher)


def _as_frame(frame, name: str, world: Comm):
    from .model import as_frame  # light `import hpcdl` (see the note on the imports)

    return as_frame(frame, name, world)


def grid(
    x=None,
    y=None,
    training_frame=None,
    validation_frame=None,
    hyper_params: dict | None = None,
    search_criteria: dict | None = None,
    grid_id: str | None = None,
    *,
    threads: int | None = None,
    comm: Comm | None = None,
    parallelism: int = 1,
    save_dir: str | None = None,
    progress=None,
    sort_by: str | None = None,
    decreasing: bool = False,
    **params,
) -> Grid:
    """Train a model per combination of ``hyper_params`` values (h2o.grid); every rank calls this.

    ``params`` are the fixed Deep Learning parameters. ``search_criteria``: strategy
    (Cartesian | RandomDiscrete), max_models, max_runtime_secs, seed, stopping_rounds,
    stopping_metric, stopping_tolerance. ``parallelism``: groups of ranks training
    different models at once. ``save_dir``: write each model as it finishes (by its
    group's rank 0) and the summary after each round (world rank 0). ``progress``:
    True to print a line per model, or a callable(entry, done, total).
    """
    if comm is None:
        comm_mod.abort_on_error_by_default()
    world = comm or comm_mod.world()
    params = drop_unsupported_defaults(params)  # H2O-3 parameters hpcdl lacks, at their defaults: no-ops
    hyper, criteria = _check_call(world, training_frame, y, hyper_params, search_criteria, parallelism, sort_by, params)
    criteria = dataclasses.replace(criteria, seed=comm_mod.shared_seed(world, criteria.seed))
    grid_id = grid_id or comm_mod.from_rank0(world, lambda: f"Grid_DeepLearning_{uuid.uuid4().hex[:10]}")
    data = {
        "x": x,
        "y": y,
        "training_frame": _as_frame(training_frame, "training_frame", world),
        "validation_frame": _as_frame(validation_frame, "validation_frame", world)
        if validation_frame is not None
        else None,
    }
    search = _Search(world, int(parallelism), grid_id, hyper, criteria, params, data, threads, save_dir)
    search.sort_by, search.decreasing = sort_by, decreasing
    search.progress = _print_progress if progress is True else progress
    search.run()
    return search.result(comm=world)


def _check_call(world: Comm, training_frame, y, hyper_params, search_criteria, parallelism, sort_by, params):
    """What ``grid`` is given, checked before any model trains: (canonical hyper_params, search criteria)."""
    if training_frame is None:
        raise ValueError("training_frame is required")
    for name, value in params.items():  # each fixed value on its own (combinations are checked per model)
        check_value(name, value)
    if "model_id" in params or "key" in params:
        raise GridError("model_id is set by the grid (<grid_id>_model_<n>); give grid_id instead")
    hyper = check_hyper_params(hyper_params, params)
    criteria = check_search_criteria(search_criteria)
    check_response_given(any_autoencoder(params, hyper), y)
    parallelism = int(parallelism)
    if not 1 <= parallelism <= world.size:
        raise GridError(f"parallelism must be between 1 and the number of ranks ({world.size}); got {parallelism}")
    if sort_by:
        metric_key(sort_by)
    return hyper, criteria


class _Search:
    """One grid search on every rank: rounds of ``parallelism`` models, one per group of ranks
    (contiguous blocks of world ranks), gathered on world rank 0, which decides whether to go on."""

    def __init__(
        self, world: Comm, parallelism, grid_id, hyper, criteria: SearchCriteria, fixed, data, threads, save_dir
    ) -> None:
        self.world, self.parallelism, self.grid_id = world, parallelism, grid_id
        self.hyper, self.criteria, self.fixed, self.data = hyper, criteria, fixed, data
        self.threads, self.save_dir = threads, save_dir
        self.sort_by, self.decreasing, self.progress = None, False, None
        self.group_index = world.rank * parallelism // world.size
        self.group = world.split(self.group_index, world.rank) if parallelism > 1 else world
        self.total = n_combinations(hyper, criteria)
        self.entries: list[GridEntry] = []
        self.started = 0
        self.t_start = time.time()

    def run(self) -> None:
        todo = combinations(self.hyper, self.criteria.strategy, self.criteria.seed)
        remaining = self.criteria.max_runtime_secs or None
        while batch := self._next_batch(todo):
            mine = self._train_mine(batch, remaining)
            gathered = self.world.gather(self._contribution(mine), root=0)
            decision = self._decide(self._collect(gathered, mine)) if self.world.rank == 0 else None
            stop, remaining, records = self.world.bcast(decision, root=0)
            if self.world.rank != 0:
                self.entries += [self._entry(record, mine) for record in records]
            if stop:
                break

    def _next_batch(self, todo) -> list:
        """The next round: up to one combination per group, within max_models."""
        batch = []
        cap = self.criteria.max_models
        while len(batch) < self.parallelism and not (cap and self.started >= cap):
            nxt = next(todo, None)
            if nxt is None:
                break
            batch.append(nxt)
            self.started += 1
        return batch

    def _train_mine(self, batch: list, remaining: float | None) -> GridEntry | None:
        """This group's model of the round (None when the round has fewer models than groups)."""
        if self.group_index >= len(batch):
            return None
        index, combo = batch[self.group_index]
        mine = _train_one(
            index, f"{self.grid_id}_model_{index}", combo, self.fixed, self.data, self.group, self.threads, remaining
        )
        if self.save_dir and self.group.rank == 0 and mine.status == "ok":
            mine.model_file = f"{mine.model_id}.h5"
            mine.model.save(os.path.join(self.save_dir, mine.model_file), force=True)
        return mine

    def _contribution(self, mine: GridEntry | None):
        """What a group's rank 0 sends world rank 0: its record and, from another group, the model itself."""
        if mine is None or self.group.rank != 0:
            return None
        content = mine.model.to_content() if (mine.model is not None and self.world.rank != 0) else None
        return mine.record(), content

    @staticmethod
    def _entry(record: dict, mine: GridEntry | None) -> GridEntry:
        e = GridEntry(**record)
        if mine is not None and e.index == mine.index:
            e.model = mine.model
        return e

    def _collect(self, gathered: list, mine: GridEntry | None) -> list[GridEntry]:
        """World rank 0: the round's entries in build order, every model findable by its id here."""
        round_entries = []
        for item in gathered:
            if item is None:
                continue
            record, content = item
            e = self._entry(record, mine)
            if e.model is None and content is not None:  # trained by another group
                from .model import Model, register  # light `import hpcdl` (see the note on the imports)

                e.model = register(Model.from_content(content))
            round_entries.append(e)
        round_entries.sort(key=lambda e: e.index)
        self.entries += round_entries
        if self.progress:
            for e in round_entries:
                self.progress(e, len(self.entries), self.total)
        return round_entries

    def _decide(self, round_entries: list[GridEntry]) -> tuple:
        """World rank 0: (stop?, seconds left, the round's records); the summary so far is saved."""
        elapsed = time.time() - self.t_start
        budget = self.criteria.max_runtime_secs
        stop = bool(budget and elapsed >= budget) or _should_stop_early(self.entries, self.criteria)
        if self.save_dir:
            write_summary(self.result(directory=self.save_dir), self.save_dir)
        return stop, (budget - elapsed if budget else None), [e.record() for e in round_entries]

    def result(self, comm: Comm | None = None, directory: str | None = None) -> Grid:
        return Grid(
            self.grid_id,
            self.hyper,
            self.entries,
            search_criteria=dataclasses.asdict(self.criteria),
            sort_by=self.sort_by,
            decreasing=self.decreasing,
            directory=directory or self.save_dir,
            comm=comm,
        )


def _print_progress(entry: GridEntry, done: int, total: int) -> None:
    hyper = ", ".join(f"{k}={json.dumps(v)}" for k, v in entry.hyper.items())
    if entry.status == "ok":
        key = metrics.default_metric(entry.kind)
        value = entry.metrics.get(key)
        shown = f"{entry.metric_source} {key} {value:.6g}" if value is not None else "trained"
    else:
        shown = f"FAILED: {entry.error}"
    print(f"grid model {done}/{total} {entry.model_id} ({hyper}): {shown} [{entry.train_seconds:.1f} s]", flush=True)
