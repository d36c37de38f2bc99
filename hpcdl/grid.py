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
import io
import itertools
import json
import math
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .params import _BY_NAME, _coerce, _is_list, _resolve_name

STRATEGIES = ("Cartesian", "RandomDiscrete")
SEARCH_KEYS = (
    "strategy",
    "max_models",
    "max_runtime_secs",
    "seed",
    "stopping_rounds",
    "stopping_metric",
    "stopping_tolerance",
)
NOT_SEARCHABLE = ("model_id", "checkpoint")
LIST_KINDS = ("int_list", "float_list")
# Scalar metrics kept per model in the summary (keys of the metrics dicts).
SUMMARY_METRICS = (
    "logloss",
    "MSE",
    "RMSE",
    "classification_error",
    "mean_per_class_error",
    "AUC",
    "pr_auc",
    "r2",
    "mean_residual_deviance",
    "MAE",
)
# What users may call a metric in sorted_by / sort_by -> the metrics key.
METRIC_NAMES = {
    "logloss": "logloss",
    "mse": "MSE",
    "rmse": "RMSE",
    "auc": "AUC",
    "aucpr": "pr_auc",
    "pr_auc": "pr_auc",
    "r2": "r2",
    "mae": "MAE",
    "err": "classification_error",
    "classification_error": "classification_error",
    "misclassification": "classification_error",
    "mean_per_class_error": "mean_per_class_error",
    "residual_deviance": "mean_residual_deviance",
    "mean_residual_deviance": "mean_residual_deviance",
    "deviance": "mean_residual_deviance",
}
DEFAULT_SORT = {
    "binomial": "logloss",
    "multinomial": "logloss",
    "regression": "mean_residual_deviance",
    "autoencoder": "MSE",
}


class GridError(ValueError):
    """A grid cannot be set up or loaded; the message names the parameter or file."""


# --------------------------------------------------------------------------- #
# Checking what the user gave
# --------------------------------------------------------------------------- #


def check_hyper_params(hyper_params: dict, fixed: dict) -> dict[str, list]:
    """Canonical names -> lists of values; one error naming the parameter for anything unusable."""
    if not isinstance(hyper_params, dict) or not hyper_params:
        raise GridError("hyper_params must be a non-empty dict of parameter name -> list of values")
    fixed_names = {}
    for name in fixed:
        fixed_names[_resolve_name(name)] = name
    out: dict[str, list] = {}
    for name, values in hyper_params.items():
        canonical = _resolve_name(name)
        p = _BY_NAME[canonical]
        if canonical in NOT_SEARCHABLE:
            raise GridError(f"hyper_params: {name!r} cannot be searched (the grid names its models)")
        if canonical in out:
            raise GridError(f"hyper_params: {canonical!r} given twice")
        if canonical in fixed_names:
            raise GridError(f"{canonical!r} is given both as a fixed parameter and in hyper_params; give it once")
        if not _is_list(values):
            values = [values]
        values = list(values)
        if not values:
            raise GridError(f"hyper_params: {name!r} has an empty list of values")
        if p.kind in LIST_KINDS and not all(v is None or _is_list(v) for v in values):
            raise GridError(
                f"hyper_params: {name!r} takes a list of lists, one per model, e.g. "
                f"{{'{canonical}': [[200, 200], [100, 300, 100]]}}; got {values!r}"
            )
        out[canonical] = [list(v) if _is_list(v) else v for v in values]
    return out


def check_search_criteria(criteria: dict | None) -> dict:
    criteria = dict(criteria or {})
    bad = set(criteria) - set(SEARCH_KEYS)
    if bad:
        raise GridError(f"search_criteria: unknown key(s) {sorted(bad)}; valid: {list(SEARCH_KEYS)}")
    strategy = str(criteria.get("strategy", "Cartesian"))
    for s in STRATEGIES:
        if s.lower() == strategy.lower():
            strategy = s
            break
    else:
        raise GridError(f"search_criteria: strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    out = {"strategy": strategy}
    try:
        out["max_models"] = int(criteria.get("max_models", 0))
        out["max_runtime_secs"] = float(criteria.get("max_runtime_secs", 0.0))
        out["seed"] = int(criteria.get("seed", -1))
        out["stopping_rounds"] = int(criteria.get("stopping_rounds", 0))
        out["stopping_tolerance"] = float(criteria.get("stopping_tolerance", 1e-3))
    except (TypeError, ValueError) as exc:
        raise GridError(f"search_criteria: {exc}") from None
    out["stopping_metric"] = str(criteria.get("stopping_metric", "AUTO"))
    for key in ("max_models", "max_runtime_secs", "stopping_rounds", "stopping_tolerance"):
        if out[key] < 0:
            raise GridError(f"search_criteria: {key} must be >= 0, got {out[key]}")
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


def n_combinations(hyper: dict[str, list], criteria: dict) -> int:
    total = math.prod(len(v) for v in hyper.values())
    return min(total, criteria["max_models"]) if criteria["max_models"] else total


def metric_key(metric: str) -> str:
    key = METRIC_NAMES.get(str(metric).lower())
    if key is None:
        raise GridError(f"unknown metric {metric!r}; use one of {sorted(set(METRIC_NAMES))}")
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
    return {k: float(m[k]) for k in SUMMARY_METRICS if m.get(k) is not None}, source


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
        comm=None,
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
        self.sort_metric = metric_key(sort_by) if sort_by else metric_key(DEFAULT_SORT.get(kind, "logloss"))
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
                from .model import load_model

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
        canonical = _resolve_name(name)
        if not effective and canonical in self.hyper_params:
            return [e.hyper[canonical] for e in self.succeeded]
        out = []
        for m in self.models:
            out.append(m.effective.get(canonical) if effective else m.params[canonical])
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
        from .metrics import _pandas

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
        from .model import format_table

        title = (
            f"Hyper-Parameter Search Summary: grid {self.grid_id}, ordered by "
            f"{'decreasing' if self.decreasing else 'increasing'} {self.sort_metric}"
        )
        cols = ["model_id", *self.hyper_names, self.sort_metric, "metric_source", "epochs", "train_seconds"]
        rows = [
            {**r, **{n: json.dumps(r[n]) if _is_list(r[n]) else r[n] for n in self.hyper_names}}
            for r in self.summary_table()
            if r["status"] == "ok"
        ]
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
    from .fsutil import check_output

    if directory != "-":
        os.makedirs(directory, exist_ok=True)
    check_output(directory if directory == "-" else os.path.join(directory, "summary.json"), force=force, what="grid")


def _csv_value(v) -> str:
    if v is None:
        return ""
    if _is_list(v) or isinstance(v, dict):
        return json.dumps(v)
    return str(v)


def write_summary(grid: Grid, directory: str) -> None:
    """summary.csv (the table, best first) and summary.json (everything load_grid needs), atomically."""
    from .fsutil import atomic_path
    from .store import dumps

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
        fh.write(dumps(doc))


def load_grid(directory: str) -> Grid:
    """A grid saved by Grid.save or by a grid job; models are read from their files when used."""
    from .store import loads

    path = os.path.join(directory, "summary.json")
    if not os.path.exists(path):
        raise GridError(f"{directory}: not a saved grid (no summary.json)")
    try:
        with open(path, encoding="utf-8") as fh:
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
    index: int, model_id: str, hyper: dict, fixed: dict, data: dict, group, threads, remaining_secs: float | None
) -> GridEntry:
    """Train one combination on the ranks of ``group``; a failure becomes a failed entry."""
    from .api import train_model
    from .params import DeepLearningParameters

    entry = GridEntry(index=index, model_id=model_id, hyper=hyper)
    params = {**fixed, **hyper, "model_id": model_id}
    if remaining_secs is not None:  # the grid's time budget caps each model's own
        own = float(params.get("max_runtime_secs") or 0.0)
        params["max_runtime_secs"] = min(own, remaining_secs) if own > 0 else remaining_secs
    t0 = time.time()
    try:
        model = train_model(
            DeepLearningParameters(**params),
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


def _should_stop_early(entries: list[GridEntry], criteria: dict) -> bool:
    """Grid-level early stopping on the best-so-far stopping metric, models in build order."""
    from . import metrics

    k = criteria["stopping_rounds"]
    done = sorted((e for e in entries if e.status == "ok"), key=lambda e: e.index)
    if k <= 0 or not done:
        return False
    name = criteria["stopping_metric"]
    if name == "AUTO":
        key, higher = metric_key(DEFAULT_SORT[done[0].kind]), False
    else:
        key, higher = metrics.metric_for_stopping(name, done[0].kind)
    best, values = None, []
    for e in done:
        v = e.metrics.get(key, math.nan)
        if best is None or (v > best if higher else v < best):
            best = v
        values.append(best)
    return metrics.stop_early(values, k, criteria["stopping_tolerance"], higher)


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
    comm=None,
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
    from . import comm as comm_mod
    from .model import Model, as_frame, register

    if comm is None:
        comm_mod.abort_on_error_by_default()
    if training_frame is None:
        raise ValueError("training_frame is required")
    world = comm or comm_mod.world()
    for name, value in params.items():  # each fixed value on its own (combinations are checked per model)
        p = _BY_NAME[_resolve_name(name)]
        _coerce(p, value)
    if "model_id" in params or "key" in params:
        raise GridError("model_id is set by the grid (<grid_id>_model_<n>); give grid_id instead")
    hyper = check_hyper_params(hyper_params, params)
    criteria = check_search_criteria(search_criteria)
    from .api import check_response_given

    check_response_given(bool(params.get("autoencoder")) or any(hyper.get("autoencoder", [])), y)
    parallelism = int(parallelism)
    if not 1 <= parallelism <= world.size:
        raise GridError(f"parallelism must be between 1 and the number of ranks ({world.size}); got {parallelism}")
    if sort_by:
        metric_key(sort_by)
    criteria["seed"] = comm_mod.shared_seed(world, criteria["seed"])
    grid_id = grid_id or comm_mod.from_rank0(world, lambda: f"Grid_DeepLearning_{uuid.uuid4().hex[:10]}")
    data = {
        "x": x,
        "y": y,
        "training_frame": as_frame(training_frame, "training_frame", world),
        "validation_frame": as_frame(validation_frame, "validation_frame", world)
        if validation_frame is not None
        else None,
    }

    group_index = world.rank * parallelism // world.size  # contiguous blocks of ranks
    group = world.split(group_index, world.rank) if parallelism > 1 else world
    total = n_combinations(hyper, criteria)
    if progress is True:
        progress = _print_progress
    todo = combinations(hyper, criteria["strategy"], criteria["seed"])
    entries: list[GridEntry] = []
    t_start = time.time()
    remaining = criteria["max_runtime_secs"] or None
    started = 0
    while True:
        batch = []
        while len(batch) < parallelism and not (criteria["max_models"] and started >= criteria["max_models"]):
            nxt = next(todo, None)
            if nxt is None:
                break
            batch.append(nxt)
            started += 1
        if not batch:
            break
        mine = None
        if group_index < len(batch):
            index, combo = batch[group_index]
            mine = _train_one(index, f"{grid_id}_model_{index}", combo, params, data, group, threads, remaining)
            if save_dir and group.rank == 0 and mine.status == "ok":
                mine.model_file = f"{mine.model_id}.h5"
                mine.model.save(os.path.join(save_dir, mine.model_file), force=True)
        # World rank 0 collects every group's result (and, from other groups, the model itself).
        contribution = None
        if mine is not None and group.rank == 0:
            content = mine.model.to_content() if (mine.model is not None and world.rank != 0) else None
            contribution = (mine.record(), content)
        gathered = world.gather(contribution, root=0)
        decision = None
        if world.rank == 0:
            round_entries = []
            for item in gathered:
                if item is None:
                    continue
                record, content = item
                e = GridEntry(**record)
                if mine is not None and e.index == mine.index:
                    e.model = mine.model
                elif content is not None:  # trained by another group: findable by its id here too
                    e.model = register(Model.from_content(content))
                round_entries.append(e)
            round_entries.sort(key=lambda e: e.index)
            entries += round_entries
            if progress:
                for e in round_entries:
                    progress(e, len(entries), total)
            elapsed = time.time() - t_start
            stop = False
            if criteria["max_runtime_secs"] and elapsed >= criteria["max_runtime_secs"]:
                stop = True
            if _should_stop_early(entries, criteria):
                stop = True
            if save_dir:
                write_summary(
                    Grid(
                        grid_id,
                        hyper,
                        entries,
                        search_criteria=criteria,
                        sort_by=sort_by,
                        decreasing=decreasing,
                        directory=save_dir,
                    ),
                    save_dir,
                )
            left = criteria["max_runtime_secs"] - elapsed if criteria["max_runtime_secs"] else None
            decision = (stop, left, [e.record() for e in round_entries])
        stop, remaining, records = world.bcast(decision, root=0)
        if world.rank != 0:
            for record in records:
                e = GridEntry(**record)
                if mine is not None and e.index == mine.index:
                    e.model = mine.model
                entries.append(e)
        if stop:
            break
    return Grid(
        grid_id,
        hyper,
        entries,
        search_criteria=criteria,
        sort_by=sort_by,
        decreasing=decreasing,
        directory=save_dir,
        comm=world,
    )


def _print_progress(entry: GridEntry, done: int, total: int) -> None:
    hyper = ", ".join(f"{k}={json.dumps(v)}" for k, v in entry.hyper.items())
    if entry.status == "ok":
        key = DEFAULT_SORT.get(entry.kind, "logloss")
        value = entry.metrics.get(key)
        shown = f"{entry.metric_source} {key} {value:.6g}" if value is not None else "trained"
    else:
        shown = f"FAILED: {entry.error}"
    print(f"grid model {done}/{total} {entry.model_id} ({hyper}): {shown} [{entry.train_seconds:.1f} s]", flush=True)


# --------------------------------------------------------------------------- #
# Job files: `hpcdl train JOB` / `hpcdl grid JOB` with a [grid] table
# --------------------------------------------------------------------------- #


def run_grid_job(job, x, y, train_frame, valid_frame, test_frame, as_json: bool = False) -> Grid:
    """Run a job file's grid on every rank; world rank 0 prints the summary. Returns the grid."""
    from . import comm as comm_mod
    from .output import print_json

    world = comm_mod.world()
    fixed = {k: v for k, v in job.parameters.items() if k not in ("model_id", "key")}
    out_dir = os.path.join(job.output_dir, "grid")
    if world.rank == 0:
        os.makedirs(out_dir, exist_ok=True)
    world.barrier()
    quiet = job.quiet or as_json or fixed.get("quiet_mode")
    if world.rank == 0:
        print(
            f"hpcdl: grid job {job.name}: {world.size} rank(s) in {job.parallelism} group(s); "
            f"hyper-parameters {sorted(job.grid)}; output {out_dir}",
            flush=True,
            file=sys.stderr if as_json else sys.stdout,
        )
    g = grid(
        x,
        y,
        train_frame,
        valid_frame,
        hyper_params=job.grid,
        search_criteria=job.search_criteria,
        grid_id=job.name,
        threads=job.threads,
        comm=world,
        parallelism=job.parallelism,
        save_dir=out_dir if job.save_model else None,
        progress=None if quiet else True,
        **fixed,
    )
    if world.rank == 0:
        if not job.save_model:
            write_summary(g, out_dir)
        test_metrics = None
        if len(g) and test_frame is not None:
            test_metrics = g[0].model_performance(test_frame)
        if as_json:
            print_json(
                {
                    "grid_id": g.grid_id,
                    "directory": out_dir,
                    "sort_by": g.sort_metric,
                    "models": g.summary_table(),
                    "best_model_test_metrics": test_metrics,
                }
            )
        else:
            print()
            print(g)
            if test_metrics:
                from .metrics import format_metrics

                print()
                print(
                    format_metrics(
                        test_metrics,
                        g[0].kind,
                        f"Best model {g[0].model_id} on the test frame {test_frame.display_name}",
                        domain=g[0].dinfo.response_domain,
                    )
                )
            print(f"\ngrid summary: {os.path.join(out_dir, 'summary.csv')}")
    return g
