"""``hpcdl slurm JOB``: an sbatch script for a job, so that nobody edits one by hand.

Every script comes from the one template beside this file, ``slurm.sbatch``; the
scripts in the repository's ``slurm/`` directory are made by this command too (their
first lines say with which options), and tests/slurm submits them to a real Slurm.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass

from ..comm import world
from ..fsutil import atomic_path
from ..jobs import load_job

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "slurm.sbatch")
LAUNCHERS = ("mpiexec", "srun")
MAX_SIGNAL_SECONDS = 65535  # sbatch --signal's limit
DEFAULT_TIME = "01:00:00"
# Directories that are each node's own on a cluster: a virtualenv there is not on the other nodes.
NODE_LOCAL = ("/tmp", "/var/tmp", "/dev/shm", "/run", "/local", "/scratch/local")
_NAME = re.compile(r"[\w.+,-]+")  # partition, account: no spaces, quotes or shell characters
_PATTERN = re.compile(r"[^\s'\"\\$`;#]+")  # job name, output file pattern (%x, %j are Slurm's)


class SlurmScriptError(ValueError):
    """An option that would give a broken or misleading script; the message names it."""


@dataclass
class ScriptOptions:
    """What `hpcdl slurm` puts into the #SBATCH lines and the launch line (sbatch's own names)."""

    nodes: int = 1
    ntasks_per_node: int = 1
    cpus_per_task: int | None = None  # None: the job's [job] threads, else 1
    time: str | None = None  # None: DEFAULT_TIME, and the header says so
    signal_seconds: int = 120
    job_name: str | None = None  # None: hpcdl-<job name>
    output: str = "hpcdl-%x-%j.out"
    partition: str | None = None
    account: str | None = None
    launcher: str = "mpiexec"
    mpi: str = "pmi2"  # srun's --mpi plugin (launcher srun): pmi2 for PyPI's MPICH, pmix for Open MPI
    venv: str | None = None  # None: this Python's virtualenv, else .venv; the header says so


def time_limit_seconds(text: str) -> int:
    """Seconds of a Slurm time limit: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not m:
        raise SlurmScriptError(
            f"--time {text!r}: expected minutes, MM:SS, HH:MM:SS or D-HH:MM:SS (a finite limit: "
            "hpcdl's checkpoint comes --signal-seconds before it)"
        )
    days, a, b, c = (int(g) if g is not None else None for g in m.groups())
    if days is None:
        h, mi, s = (0, a, b or 0) if c is None else (a, b, c)
    else:
        h, mi, s = a, b or 0, c or 0
    return (((days or 0) * 24 + h) * 60 + mi) * 60 + s


def _check(opts: ScriptOptions) -> None:
    for name in ("nodes", "ntasks_per_node", "cpus_per_task"):
        value = getattr(opts, name)
        if not isinstance(value, int) or value < 1:
            raise SlurmScriptError(f"--{name.replace('_', '-')} {value!r}: must be a whole number >= 1")
    limit = time_limit_seconds(opts.time)
    if not 0 < opts.signal_seconds < min(limit, MAX_SIGNAL_SECONDS + 1):
        raise SlurmScriptError(
            f"--signal-seconds {opts.signal_seconds}: the checkpoint signal must come after the start and "
            f"before the time limit (--time {opts.time} is {limit} s; at most {MAX_SIGNAL_SECONDS})"
        )
    if opts.launcher not in LAUNCHERS:
        raise SlurmScriptError(f"--launcher {opts.launcher!r}: expected one of {', '.join(LAUNCHERS)}")
    named = (("partition", _NAME), ("account", _NAME), ("mpi", _NAME), ("job_name", _PATTERN), ("output", _PATTERN))
    for name, rule in named:
        value = getattr(opts, name)
        if value is not None and not rule.fullmatch(value):
            raise SlurmScriptError(f"--{name.replace('_', '-')} {value!r}: no spaces, quotes or shell characters")


def _default_venv() -> tuple[str, str]:
    """The virtualenv a script activates when no --venv is given, and what the header says of it."""
    if sys.prefix != sys.base_prefix:
        return sys.prefix, "the default: the virtualenv `hpcdl slurm` ran from"
    return ".venv", "the default: `hpcdl slurm` ran outside a virtualenv; .venv of the directory sbatch runs in"


def node_local(path: str) -> bool:
    """Whether ``path`` lies in a directory that is each node's own (/tmp, $TMPDIR, ...)."""
    full = os.path.realpath(path)
    roots = [*NODE_LOCAL, os.environ.get("TMPDIR", "")]
    return any(root and (full == root or full.startswith(root.rstrip("/") + "/")) for root in roots)


def venv_note(venv: str) -> str:
    """One line for stderr when the script's virtualenv may not be where the ranks run."""
    if node_local(venv):
        return (
            f"hpcdl: warning: the script activates {venv}, a node-local directory: ranks on other nodes "
            "will not find it; give --venv a shared path (or set HPCDL_VENV when submitting)"
        )
    return ""


def _command(job_file: str, opts: ScriptOptions) -> str:
    """The `hpcdl slurm` command line that makes this script again (every option spelled out)."""
    words = ["hpcdl", "slurm", job_file]
    for name in ("nodes", "ntasks_per_node", "cpus_per_task", "time", "signal_seconds", "job_name", "output"):
        words += [f"--{name.replace('_', '-')}", str(getattr(opts, name))]
    for name in ("partition", "account"):
        if getattr(opts, name):
            words += [f"--{name}", getattr(opts, name)]
    words += ["--launcher", opts.launcher] + (["--mpi", opts.mpi] if opts.launcher == "srun" else [])
    return shlex.join([*words, "--venv", opts.venv])


def render(template: str, values: dict[str, str]) -> str:
    """Fill ``{{name}}`` fields; a line holding only an empty field disappears."""
    lines = []
    for line in template.splitlines(keepends=True):
        field = re.fullmatch(r"\{\{(\w+)\}\}\n?", line)
        if field and not values[field.group(1)]:
            continue
        lines.append(line)
    text = re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], "".join(lines))
    return text


def sbatch_script(job_file: str, opts: ScriptOptions | None = None, script_path: str | None = None) -> str:
    """The sbatch script for ``job_file`` (checked: it must load) with ``opts``."""

    job = load_job(job_file)
    opts = ScriptOptions(**vars(opts)) if opts else ScriptOptions()
    if opts.cpus_per_task is None:
        opts.cpus_per_task = int(job.threads or 1)
    opts.job_name = opts.job_name or "hpcdl-" + re.sub(r"[^\w.+-]", "_", job.name)
    time_said = "" if opts.time else f" (the default: no --time given; Slurm ends the job at {DEFAULT_TIME})"
    opts.time = opts.time or DEFAULT_TIME
    venv_said = ""
    if not opts.venv:
        opts.venv, venv_said = _default_venv()
        venv_said = f" ({venv_said})"
    _check(opts)
    ranks = opts.nodes * opts.ntasks_per_node
    summary = (
        f"{ranks} rank(s) ({opts.nodes} node(s) x {opts.ntasks_per_node}) x {opts.cpus_per_task} thread(s), "
        f"time limit {opts.time}"
    )
    with open(TEMPLATE, encoding="utf-8") as fh:
        template = fh.read()
    return render(
        template,
        {
            "summary": summary,
            "time_said": time_said,
            "venv_said": venv_said,
            "command": _command(job_file, opts),
            "script": script_path or "SCRIPT",
            "job_name": opts.job_name,
            "nodes": str(opts.nodes),
            "ntasks_per_node": str(opts.ntasks_per_node),
            "cpus_per_task": str(opts.cpus_per_task),
            "time": opts.time,
            "signal_seconds": str(opts.signal_seconds),
            "output": opts.output,
            "partition_line": f"#SBATCH --partition={opts.partition}" if opts.partition else "",
            "account_line": f"#SBATCH --account={opts.account}" if opts.account else "",
            "job_file": shlex.quote(job_file),
            "venv": shlex.quote(opts.venv),
            "mpiexec": "" if opts.launcher == "mpiexec" else "# ",
            "srun": "" if opts.launcher == "srun" else "# ",
            "srun_mpi": opts.mpi,
        },
    )


def write_script(text: str, path: str, job_file: str, force: bool = False) -> None:
    """Write the script atomically; never over the job file, over another file only with --force."""

    if os.path.isdir(path):
        raise SlurmScriptError(f"--out {path}: is a directory; give a file name")
    if os.path.exists(path) and os.path.samefile(path, job_file):
        raise SlurmScriptError(f"--out {path}: that is the job file itself; choose another name")
    if os.path.exists(path) and not force:
        raise SlurmScriptError(f"--out {path}: the file exists; --force overwrites it")
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)


def options_from_args(args) -> ScriptOptions:
    return ScriptOptions(**{name: getattr(args, name) for name in ScriptOptions.__dataclass_fields__})


def cmd_slurm(args) -> int:

    if world().rank != 0:  # `mpiexec -n 2 hpcdl slurm ...`: one script, printed or written once
        return 0
    text = sbatch_script(args.job, options_from_args(args), script_path=args.out)
    note = venv_note(args.venv or _default_venv()[0])
    if note:
        print(note, file=sys.stderr)
    if not args.out:
        sys.stdout.write(text)
        return 0
    write_script(text, args.out, args.job, force=args.force)
    print(f"{args.out}: sbatch script for {args.job}; submit with: sbatch {shlex.quote(args.out)}")
    return 0


def register(subparsers) -> None:
    d = ScriptOptions()
    s = subparsers.add_parser(
        "slurm",
        help="print (or write) an sbatch script that trains a job on Slurm",
        description="An sbatch script for JOB: ranks = nodes x ntasks-per-node, HOGWILD! threads per rank = "
        "cpus-per-task; a checkpoint before the time limit, then requeue and resume (README, docs/mpi.md).",
    )
    s.add_argument("job", help="TOML job file (it must load; its path goes into the script as given)")
    s.add_argument("--nodes", type=int, default=d.nodes, help=f"nodes (default {d.nodes})")
    s.add_argument("--ntasks-per-node", type=int, default=d.ntasks_per_node, help="MPI ranks per node (default 1)")
    s.add_argument(
        "--cpus-per-task", type=int, default=None, help="threads per rank (default: the job's [job] threads, else 1)"
    )
    s.add_argument("--time", default=None, help=f"time limit, Slurm's format (default {DEFAULT_TIME})")
    s.add_argument(
        "--signal-seconds",
        type=int,
        default=d.signal_seconds,
        help=f"USR1 this many seconds before the time limit: checkpoint and requeue (default {d.signal_seconds})",
    )
    s.add_argument("--job-name", default=None, help="Slurm job name (default hpcdl-<job name>)")
    s.add_argument("--output", default=d.output, help=f"log file pattern (default {d.output})")
    s.add_argument("--partition", help="Slurm partition (default: the cluster's)")
    s.add_argument("--account", help="Slurm account (default: yours)")
    s.add_argument(
        "--launcher",
        choices=LAUNCHERS,
        default=d.launcher,
        help="mpiexec: PyPI MPICH's, inside the allocation (default); srun: srun --mpi=MPI",
    )
    s.add_argument(
        "--mpi",
        default=d.mpi,
        help=f"with --launcher srun: srun's --mpi plugin (default {d.mpi}, for PyPI's MPICH; Open MPI: pmix)",
    )
    s.add_argument("--venv", help="virtualenv to activate (default: this hpcdl's, else .venv)")
    s.add_argument("--out", help="write the script to this file instead of printing it")
    s.add_argument("--force", action="store_true", help="with --out: overwrite an existing file")
    s.set_defaults(func=cmd_slurm)
