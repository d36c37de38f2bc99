"""Job files: a TOML file names the frames, x, y, the parameters and the run settings.

    [job]            name, output_dir, threads, checkpoint_interval, save_model, ui
    [data]           training_frame, validation_frame, test_frame, x, y, ignored_columns, col_types
    [parameters]     any Deep Learning parameter (H2O names)
    [grid]           parameters given as lists of values -> a grid search (see docs/jobs.md)

Data paths are relative to the job file; ``output_dir`` is relative to the
directory hpcdl is started from (a Slurm job's submit directory).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field

JOB_KEYS = {
    "name",
    "output_dir",
    "threads",
    "checkpoint_interval",
    "save_model",
    "ui",
    "port",
    "ui_bind",
    "parallelism",
    "quiet",
}
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
}


class JobError(ValueError):
    """A job file is unusable; the message names the file and the key."""


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


def parse_value(text: str):
    """A command-line value as TOML would read it (numbers, bools, lists), else the string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(job: Job, overrides: list[str]) -> None:
    """``--set key=value`` on the command line: parameters, or data./job. keys."""
    for item in overrides or []:
        if "=" not in item:
            raise JobError(f"--set {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        key = key.strip()
        value = parse_value(value.strip())
        if key.startswith("data."):
            job.data[key[5:]] = value
        elif key.startswith("job."):
            setattr(job, key[4:], value)
        else:
            job.parameters[key] = value


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
    bad = set(job_t) - JOB_KEYS
    if bad:
        raise JobError(f"{path}: [job] has unknown key(s) {sorted(bad)}; valid: {sorted(JOB_KEYS)}")
    data_t = doc.get("data", {})
    bad = set(data_t) - DATA_KEYS
    if bad:
        raise JobError(f"{path}: [data] has unknown key(s) {sorted(bad)}; valid: {sorted(DATA_KEYS)}")
    name = str(job_t.get("name") or os.path.splitext(os.path.basename(path))[0])
    job = Job(
        path=path,
        name=name,
        output_dir=os.path.abspath(job_t.get("output_dir", os.path.join("runs", name))),
        threads=job_t.get("threads") or None,
        checkpoint_interval=float(job_t.get("checkpoint_interval", 300.0)),
        save_model=bool(job_t.get("save_model", True)),
        ui=bool(job_t.get("ui", False)),
        port=int(job_t.get("port", 54321)),
        ui_bind=str(job_t.get("ui_bind", "127.0.0.1")),
        parallelism=int(job_t.get("parallelism", 1)),
        quiet=bool(job_t.get("quiet", False)),
        data=dict(data_t),
        parameters=dict(doc.get("parameters", {})),
        grid=dict(doc.get("grid", {})),
        search_criteria=dict(doc.get("search_criteria", {})),
    )
    apply_overrides(job, overrides or [])
    if not job.data.get("training_frame"):
        raise JobError(f"{path}: [data] training_frame is required")
    if not job.data.get("y") and not job.parameters.get("autoencoder"):
        raise JobError(f"{path}: [data] y (the response column) is required unless parameters.autoencoder = true")
    return job
