"""Job files: a TOML file names the frames, x, y, the parameters and the run settings.

    [job]            name, output_dir, threads, checkpoint_interval, save_model, ui, port, ui_bind,
                     parallelism, quiet
    [data]           training_frame, validation_frame, test_frame, x, y, ignored_columns, col_types
    [parameters]     any Deep Learning parameter (H2O names)
    [grid]           parameters given as lists of values -> a grid search (see docs/jobs.md)

Data paths are relative to the job file; ``output_dir`` is relative to the
directory hpcdl is started from (a Slurm job's submit directory).

Every value is checked when the job is loaded, before a frame is read: [job] values by
JOB_SETTINGS (also for ``--set job.KEY=...``), [parameters] by DeepLearningParameters
(the Python API's gate, with its messages), prefixed with ``FILE:LINE: [table] key`` or
the ``--set`` argument that gave the value.
"""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
from dataclasses import dataclass, field

from .params import (
    ALIASES,
    DeepLearningParameters,
    ParameterError,
    any_autoencoder,
    check_response_given,
    check_value,
    lookup,
)

DATA_KEYS = {
    "training_frame",
    "validation_frame",
    "test_frame",
    "x",
    "y",
    "ignored_columns",
    "col_types",
    "header",
    "sep",
    "na_strings",
    "validation_split",
    "split_seed",
}


class JobError(ValueError):
    """A job file is unusable; the message names the file and the key."""


# [job] settings: the type each must have (checked for the file and for --set job.KEY alike).
def _positive_int_or_auto(v):
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise TypeError("a whole number >= 1 (or 0 for automatic)")
    return v or None


def _number_at_least_zero(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
        raise TypeError("a number of seconds >= 0")
    return float(v)


def _boolean(v):
    if not isinstance(v, bool):
        raise TypeError("true or false")
    return v


def _text(v):
    if not isinstance(v, str) or not v:
        raise TypeError("a non-empty string")
    return v


def _name(v):
    if _text(v) != os.path.basename(v) or v in (".", ".."):
        raise TypeError("a name without a directory part (it names the model file)")
    return v


def _port(v):
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 65535:
        raise TypeError("a port number from 0 to 65535")
    return v


def _at_least_one(v):
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise TypeError("a whole number >= 1")
    return v


JOB_SETTINGS = {
    "name": _name,
    "output_dir": _text,
    "threads": _positive_int_or_auto,
    "checkpoint_interval": _number_at_least_zero,
    "save_model": _boolean,
    "ui": _boolean,
    "port": _port,
    "ui_bind": _text,
    "parallelism": _at_least_one,
    "quiet": _boolean,
}
JOB_KEYS = set(JOB_SETTINGS)


@dataclass
class Job:
    path: str
    name: str
    output_dir: str
    threads: int | None = None
    checkpoint_interval: float = 300.0
    save_model: bool = True
    ui: bool = False
    port: int = 54321
    ui_bind: str = "127.0.0.1"
    parallelism: int = 1
    quiet: bool = False
    data: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    search_criteria: dict = field(default_factory=dict)
    from_file: bool = True  # False: built from `hpcdl train --training-frame ...` options (no file to name)
    overrides: dict = field(default_factory=dict)  # "table.KEY" -> the --set argument that gave it

    def data_path(self, key: str) -> str | None:
        value = self.data.get(key)
        if not value:
            return None
        value = os.path.expanduser(str(value))
        if not os.path.isabs(value):
            value = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(self.path)), value))
        return value

    @property
    def model_path(self) -> str:
        return os.path.join(self.output_dir, f"{self.name}.h5")

    @property
    def checkpoint_dir(self) -> str:
        return os.path.join(self.output_dir, "checkpoints")

    def where(self, table: str, key: str) -> str:
        """Where the user gave ``[table] key``: the --set argument, ``FILE:LINE: [table] key``, or the option."""
        if f"{table}.{key}" in self.overrides:
            return f"--set {self.overrides[f'{table}.{key}']}"
        if not self.from_file:
            return f"--{key.replace('_', '-')}" if table == "data" else f"hpcdl train: {key}"
        line = toml_line(self.path, table, key)
        return f"{self.path}:{line}: [{table}] {key}" if line else f"{self.path}: [{table}] {key}"


def toml_line(path: str, table: str, key: str) -> int | None:
    """The 1-based line of ``key = ...`` inside ``[table]`` of a TOML file (None if not found).

    A plain scan, enough for the flat tables job files have; the file was parsed by tomllib already."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    current = None
    key_re = re.compile(rf"""^\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
    for number, text in enumerate(lines, 1):
        header = re.match(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$", text)
        if header:
            current = header.group(1)
        elif current == table and key_re.match(text):
            return number
    return None


def parse_value(text: str):
    """A command-line value as TOML would read it (numbers, bools, lists), else the string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def job_setting(key: str, value, where: str):
    """A [job] value checked and converted; the error names where it came from."""
    if key not in JOB_SETTINGS:
        raise JobError(f"{where}: unknown [job] key {key!r}; valid: {sorted(JOB_KEYS)}")
    try:
        return JOB_SETTINGS[key](value)
    except TypeError as exc:
        raise JobError(f"{where}: {key} = {value!r} is not valid; expected {exc}") from None


def apply_overrides(job: Job, overrides: list[str]) -> None:
    """``--set key=value`` on the command line: parameters, or data./job. keys (checked like the file's)."""
    for item in overrides or []:
        if "=" not in item:
            raise JobError(f"--set {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        key = key.strip()
        value = parse_value(value.strip())
        if key.startswith("data."):
            if key[5:] not in DATA_KEYS:
                raise JobError(f"--set {item}: unknown [data] key {key[5:]!r}; valid: {sorted(DATA_KEYS)}")
            job.data[key[5:]] = value
        elif key.startswith("job."):
            setattr(job, key[4:], job_setting(key[4:], value, f"--set {item}"))
            if key[4:] == "output_dir":
                job.output_dir = os.path.abspath(job.output_dir)
        else:
            job.parameters[key] = value
        table = key.split(".", 1)[0] if key.startswith(("data.", "job.")) else "parameters"
        job.overrides[f"{table}.{key.split('.', 1)[1] if table != 'parameters' else key}"] = item


def check_job(job: Job):
    """What a job needs before anything is read or trained; returns its DeepLearningParameters
    (None for a grid job, whose models are checked one by one).

    Parameter errors name the job file and line, or the --set argument, with the message the
    Python API gives for the same value (``DeepLearningParameters`` is the one gate)."""
    if not job.data.get("training_frame"):
        raise JobError(f"{job.where('data', 'training_frame')}: the training frame is required")
    try:
        if job.grid:  # fixed values one by one; the combinations are checked per model
            for name, value in job.parameters.items():
                check_value(name, value)
            params = None
        else:
            named = any(ALIASES.get(k, k) == "model_id" for k in job.parameters)
            params = DeepLearningParameters(**({} if named else {"model_id": job.name}), **job.parameters)
    except ParameterError as exc:
        raw = next((k for k in job.parameters if exc.parameter in (k, ALIASES.get(k))), exc.parameter)
        raise JobError(f"{job.where('parameters', raw)}: {exc}") from None
    _check_grid_table(job)
    _check_validation_split(job)
    try:
        check_response_given(any_autoencoder(job.parameters, job.grid), job.data.get("y"))
    except ParameterError:  # the rule is the gate's; the message names the job's own spelling
        raise JobError(
            f"{job.path}: [data] y (the response column) is required unless [parameters] autoencoder = true"
            if job.from_file
            else "--y (the response column) is required unless --set autoencoder=true",
        ) from None
    return params


def _check_grid_table(job) -> None:
    """[grid]: each key a parameter not also fixed in [parameters], each value a non-empty list of values
    the parameter takes; errors name the file and line, as [parameters] errors do. (Ranges that hold only
    per model are checked per model: a failing model is reported and left out, as in H2O-3.)"""
    fixed = set()
    for name in job.parameters:
        with contextlib.suppress(ParameterError):
            fixed.add(lookup(name).name)
    for name, values in job.grid.items():
        where = job.where("grid", name)
        try:
            p = lookup(name)
            canonical = p.name
            if canonical in fixed:
                raise JobError(f"{where}: {canonical!r} is also fixed in [parameters]; give it in one table")
            values = values if isinstance(values, list) else [values]
            if not values:
                raise JobError(f"{where}: an empty list; give the values to search, one per model")
            if p.kind.endswith("_list") and not all(isinstance(v, list) for v in values):
                raise JobError(
                    f"{where}: takes a list of lists, one per model, e.g. [[200, 200], [100]]; got {values!r}"
                )
            for v in values:
                if p.kind in ("int", "float") and isinstance(v, int | float) and not isinstance(v, bool):
                    continue  # a number out of range fails its own model, listed as failed, as in H2O-3's grids
                check_value(p.name, v)
        except ParameterError as exc:
            raise JobError(f"{where}: {exc}") from None


def _check_validation_split(job) -> None:
    """[data] validation_split: the fraction of the training frame held out to score and stop on
    (split_frame's rows for split_seed), instead of a validation frame."""
    split, seed = job.data.get("validation_split"), job.data.get("split_seed")
    if split is None:
        if seed is not None:
            raise JobError(f"{job.where('data', 'split_seed')}: split_seed applies to validation_split only")
        return
    where = job.where("data", "validation_split")
    if isinstance(split, bool) or not isinstance(split, int | float) or not 0 < split < 1:
        raise JobError(f"{where}: validation_split = {split!r} is not valid; expected a fraction between 0 and 1")
    if job.data.get("validation_frame"):
        raise JobError(f"{where}: give validation_split or validation_frame, not both")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise JobError(f"{job.where('data', 'split_seed')}: split_seed = {seed!r} is not a whole number")


def load_job(path: str, overrides: list[str] | None = None) -> Job:
    if not os.path.exists(path):
        raise JobError(f"{path}: no such job file")
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise JobError(f"{path}: not valid TOML ({exc})") from exc
    unknown = set(doc) - {"job", "data", "parameters", "grid", "search_criteria"}
    if unknown:
        raise JobError(
            f"{path}: unknown table(s) {sorted(unknown)}; expected [job], [data], [parameters], "
            "[grid], [search_criteria]"
        )
    job_t = doc.get("job", {})
    data_t = doc.get("data", {})
    bad = set(data_t) - DATA_KEYS
    if bad:
        raise JobError(f"{path}: [data] has unknown key(s) {sorted(bad)}; valid: {sorted(DATA_KEYS)}")
    job = Job(path=path, name=os.path.splitext(os.path.basename(path))[0], output_dir="")
    for key, value in job_t.items():
        line = toml_line(path, "job", key)
        setattr(job, key, job_setting(key, value, f"{path}:{line}: [job]" if line else f"{path}: [job]"))
    job.output_dir = os.path.abspath(job_t.get("output_dir", os.path.join("runs", job.name)))
    job.data = dict(data_t)
    job.parameters = dict(doc.get("parameters", {}))
    job.grid = dict(doc.get("grid", {}))
    job.search_criteria = dict(doc.get("search_criteria", {}))
    apply_overrides(job, overrides or [])
    check_job(job)
    return job
