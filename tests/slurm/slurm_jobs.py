"""What the Slurm tests do with jobs: job files, logs, the ranks' processes, reference runs."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from slurm_cluster import TERMINAL_STATES

import hpcdl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(REPO, "slurm")
PROSTATE = os.path.join(REPO, "hpcdl", "datasets", "prostate.csv")
BIN = os.path.dirname(sys.executable)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def write_job(directory, name: str, job: dict | None = None, **parameters) -> str:
    """A job file like jobs/prostate.toml (CAPSULE from the prostate data) with these settings.

    It trains all its epochs: no early stopping, also not at a training error of 0."""
    parameters = {"activation": "Tanh", "seed": 1234, "stopping_rounds": 0, "classification_stop": -1, **parameters}
    lines = ["[job]", f"name = {_toml(name)}", "checkpoint_interval = 0"]
    lines += [f"{k} = {_toml(v)}" for k, v in (job or {}).items()]
    lines += ["", "[data]", f"training_frame = {_toml(PROSTATE)}", 'y = "CAPSULE"', 'ignored_columns = ["ID"]']
    lines += ['col_types = { CAPSULE = "enum" }', "", "[parameters]"]
    lines += [f"{k} = {_toml(v)}" for k, v in parameters.items()]
    path = os.path.join(str(directory), f"{name}.toml")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def read_log(record: dict) -> str:
    with open(record["StdOut"], errors="replace") as fh:
        return fh.read()


def wait_training(cluster, job_id: int, output_dir: str, timeout: float = 180) -> None:
    """Until rank 0's running.json says training has done some epochs (a signal now stops a real run)."""
    marker = os.path.join(output_dir, "running.json")

    def training(record):
        if record.get("JobState") in TERMINAL_STATES:
            raise AssertionError(f"job {job_id} ended before training: {record}\n{cluster.job_output(record)}")
        try:
            with open(marker) as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return False
        # epochs done; else a heartbeat after the start (the marker is refreshed after iterations)
        return data.get("epochs", 0) > 0 or data.get("heartbeat", 0) - data.get("started", float("inf")) >= 1

    cluster.wait(job_id, training, timeout, "training")


def reference_run(job_file: str, output_dir: str, ranks: int = 2) -> subprocess.Popen:
    """The same job uninterrupted, outside Slurm: ``mpiexec -n ranks hpcdl train`` (started, not awaited)."""
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    for var in [v for v in env if v.startswith(("SLURM_", "HPCDL_THREADS"))]:
        del env[var]
    cmd = [os.path.join(BIN, "mpiexec"), "-n", str(ranks), os.path.join(BIN, "hpcdl"), "train", job_file]
    cmd += ["--output-dir", output_dir, "--quiet"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: float = 600) -> None:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(proc.args)}: exit {proc.returncode}\n{out}"


def assert_same_model(path: str, reference: str) -> hpcdl.Model:
    """Bit for bit: the whole state buffer (weights, biases, optimizer state) and the sample counts."""
    model, ref = hpcdl.load_model(path), hpcdl.load_model(reference)
    assert model.net.buffer.shape == ref.net.buffer.shape
    assert np.array_equal(model.net.buffer, ref.net.buffer), (
        f"{path} differs from the uninterrupted run {reference}: "
        f"max |diff| {np.max(np.abs(model.net.buffer - ref.net.buffer))}"
    )
    for key in ("iterations", "samples", "epochs"):
        assert model.run_info[key] == ref.run_info[key], (key, model.run_info[key], ref.run_info[key])
    return model


def assert_nothing_half_written(output_dir: str) -> list[str]:
    """No temporary file left, and every HDF5 file (frames, checkpoints, models) opens; returns them."""
    leftovers = [p for p in glob.glob(os.path.join(output_dir, "**", "*"), recursive=True) if p.endswith(".part")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    files = sorted(glob.glob(os.path.join(output_dir, "**", "*.h5"), recursive=True))
    for path in files:
        if os.sep + "frames" + os.sep in path:
            hpcdl.get_frame(path)
        else:
            hpcdl.load_model(path)
    return files


@dataclass
class RankProcess:
    """One rank's process as /proc showed it while the job ran."""

    pid: int
    rank: int
    node: str  # SLURMD_NODENAME: the Slurm node that started it
    netns: str  # the network namespace it ran in
    env: dict
    cpu: dict = field(default_factory=dict)  # thread id -> CPU seconds (user + system), last seen

    seen_at: float = 0.0  # monotonic time of the last sample
    most_at_once: int = 0  # the most threads seen running at the same time (one sample to the next)

    def record(self, cpu: dict, now: float) -> None:
        """A new sample of every thread's CPU time: a thread that got at least half the wall time
        since the last sample was running through it. hpcdl starts a team's helper threads per
        training call, so counting thread ids over the whole run would count every call's threads."""
        if self.seen_at:
            span = now - self.seen_at
            running = sum(seconds - self.cpu.get(tid, 0.0) >= 0.5 * span for tid, seconds in cpu.items())
            self.most_at_once = max(self.most_at_once, running)
        self.cpu.update(cpu)
        self.seen_at = now


class RankWatcher(threading.Thread):
    """Watches /proc while a job runs: its ranks' processes (``hpcdl train`` with the job's
    SLURM_JOB_ID and an MPI rank), with node, network namespace and per-thread CPU time."""

    def __init__(self, job_id: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.job_id, self.interval = str(job_id), interval
        self.processes: dict[int, RankProcess] = {}
        self._done = threading.Event()

    def __enter__(self) -> RankWatcher:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self.join(10)

    def run(self) -> None:
        while not self._done.is_set():
            for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
                self._sample(pid)
            self._done.wait(self.interval)

    def _sample(self, pid: int) -> None:
        try:
            proc = self.processes.get(pid) or self._identify(pid)
            if proc is None:
                return
            cpu = {}
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                cpu[int(tid)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            proc.record(cpu, time.monotonic())
        except (OSError, ValueError, IndexError):
            return  # the process or thread ended between two reads

    def _identify(self, pid: int) -> RankProcess | None:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            pairs = [item.split(b"=", 1) for item in fh.read().split(b"\0") if b"=" in item]
        env = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}
        if env.get("SLURM_JOB_ID") != self.job_id:
            return None
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read().split(b"\0")
        # a rank is Python running `hpcdl train` (not mpiexec, srun or Hydra's proxy launching it)
        python = os.path.basename(cmdline[0]).startswith(b"python")
        if not (python and len(cmdline) > 2 and cmdline[1].endswith(b"/hpcdl") and cmdline[2] == b"train"):
            return None
        rank = env.get("PMI_RANK", env.get("SLURM_PROCID"))  # mpiexec's ranks; srun's tasks
        if rank is None:
            return None
        with open(f"/proc/{pid}/stat") as fh:
            parent = int(fh.read().rsplit(")", 1)[1].split()[1])
        if parent in self.processes:
            return None  # a rank's own short-lived child (a fork before an exec shares its command line)
        proc = RankProcess(pid, int(rank), env.get("SLURMD_NODENAME", ""), os.readlink(f"/proc/{pid}/ns/net"), env)
        self.processes[pid] = proc
        return proc

    def ranks(self) -> dict[int, list[RankProcess]]:
        by_rank: dict[int, list[RankProcess]] = {}
        for proc in self.processes.values():
            by_rank.setdefault(proc.rank, []).append(proc)
        return by_rank


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"no {what} after {timeout:.0f} s")
