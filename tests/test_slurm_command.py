"""`hpcdl slurm`: the scripts it writes, the repository's slurm/*.sbatch made from the same
template, its refusals, and the script's own logic (signals, requeue, resume) run by bash
with stand-ins for mpiexec and scontrol. tests/slurm/ submits such scripts to a real Slurm."""

import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

from hpcdl.cli import build_parser, main
from hpcdl.commands.slurm import (
    ScriptOptions,
    SlurmScriptError,
    options_from_args,
    sbatch_script,
    time_limit_seconds,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
COMMITTED = ("slurm/single_node.sbatch", "slurm/multi_node.sbatch")


def _job(tmp_path, threads=None, name="job"):
    path = tmp_path / f"{name}.toml"
    job = f"[job]\nthreads = {threads}\n" if threads else ""
    path.write_text(job + '[data]\ntraining_frame = "train.csv"\ny = "y"\n')
    return str(path)


@pytest.mark.parametrize("script", COMMITTED)
def test_repository_scripts_are_the_template_with_the_options_in_their_header(script, monkeypatch):
    monkeypatch.chdir(REPO)  # the header's job file is relative to the repository
    with open(script) as fh:
        text = fh.read()
    command = text.splitlines()[2].removeprefix("# Made by `").removesuffix("`:")
    words = shlex.split(command)
    assert words[:2] == ["hpcdl", "slurm"], command
    args = build_parser().parse_args([*words[1:], "--out", script])
    assert sbatch_script(args.job, options_from_args(args), script_path=args.out) == text, (
        f"{script} is not what `{command} --out {script} --force` writes: make it again with that command"
    )


@pytest.mark.parametrize("launcher", ["mpiexec", "srun"])
def test_scripts_are_valid_bash_with_every_option(tmp_path, launcher):
    opts = ScriptOptions(nodes=3, ntasks_per_node=2, cpus_per_task=8, time="1-12:00:00", signal_seconds=600)
    opts.partition, opts.account, opts.launcher = "gpu,cpu", "proj-42", launcher
    text = sbatch_script(_job(tmp_path), opts)
    for line in ("--nodes=3", "--ntasks-per-node=2", "--cpus-per-task=8", "--time=1-12:00:00"):
        assert f"#SBATCH {line}\n" in text
    assert "#SBATCH --signal=B:USR1@600\n#SBATCH --requeue\n#SBATCH --open-mode=append\n" in text
    assert "#SBATCH --partition=gpu,cpu\n#SBATCH --account=proj-42\n" in text
    active = [line for line in text.splitlines() if line.startswith("launch=")]
    assert active == (["launch=(srun --mpi=pmi2)"] if launcher == "srun" else [active[0]])
    assert active[0].startswith(f"launch=({launcher} ")
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)


def test_srun_takes_the_mpi_plugin_of_the_sites_mpi(tmp_path):
    opts = ScriptOptions(launcher="srun", mpi="pmix")  # Open MPI (Debian's: pmix; pmi2 fails, docs/mpi.md)
    text = sbatch_script(_job(tmp_path), opts)
    assert [line for line in text.splitlines() if line.startswith("launch=")] == ["launch=(srun --mpi=pmix)"]
    assert " --launcher srun --mpi pmix --venv " in text.splitlines()[2]  # the command that makes it again
    assert " --mpi " not in sbatch_script(_job(tmp_path)).splitlines()[2]  # mpiexec: no plugin to name


def test_defaults_threads_from_the_job_and_no_partition_lines(tmp_path):
    text = sbatch_script(_job(tmp_path, threads=3, name="mnist"))
    assert "#SBATCH --cpus-per-task=3\n" in text and "#SBATCH --job-name=hpcdl-mnist\n" in text
    assert "--partition" not in text and "--account" not in text and "{{" not in text
    assert f"HPCDL_VENV=${{HPCDL_VENV:-{sys.prefix}}}" in text  # this hpcdl's virtualenv
    # the header names the time limit and the virtualenv, and says that they are defaults
    header = text.split("#SBATCH", 1)[0]
    assert "# Time limit: 01:00:00 (the default: no --time given; Slurm ends the job at 01:00:00).\n" in header
    assert f"# Virtualenv: {sys.prefix} (the default: the virtualenv `hpcdl slurm` ran from);\n" in header
    given = sbatch_script(_job(tmp_path, threads=3, name="mnist"), ScriptOptions(time="30", venv="/shared/v"))
    assert "# Time limit: 30.\n# Virtualenv: /shared/v;\n" in given and "the default" not in given


def test_no_construct_that_fails_under_set_u_before_bash_4_4():
    """bash < 4.4 (still on some clusters) stops at "${a[@]}" or ${a[*]} of an empty array under set -u:
    the only array the script expands is the launch line's, which is never empty."""
    with open(os.path.join(REPO, "hpcdl", "commands", "slurm.sbatch")) as fh:
        template = "".join(line for line in fh if not line.lstrip().startswith("#"))  # code, not comments
    assert "set -u\n" in template
    assert set(re.findall(r"\$\{!?#?(\w+)\[[@*]\]", template)) == {"launch"}
    made = re.findall(r"^(?:\{\{\w+\}\})?\s*(\w+)=\((.*)\)$", template, flags=re.M)  # arrays assigned
    assert [name for name, _ in made] == ["launch", "launch"], made
    assert all(words.split()[0] in ("mpiexec", "srun") for _, words in made), made  # never empty


def test_a_node_local_virtualenv_is_named_on_stderr(tmp_path, capsys):
    job = _job(tmp_path)
    assert main(["slurm", job, "--venv", "/tmp/myvenv"]) == 0
    captured = capsys.readouterr()
    assert "# Virtualenv: /tmp/myvenv;" in captured.out
    assert captured.err == (
        "hpcdl: warning: the script activates /tmp/myvenv, a node-local directory: ranks on other nodes will "
        "not find it; give --venv a shared path (or set HPCDL_VENV when submitting)\n"
    )
    assert main(["slurm", job, "--venv", str(REPO)]) == 0 and capsys.readouterr().err == ""


def test_time_limits_in_slurms_formats():
    assert time_limit_seconds("90") == 5400  # minutes
    assert time_limit_seconds("5:30") == 330  # minutes:seconds
    assert time_limit_seconds("04:00:00") == 14400
    assert time_limit_seconds("2-0") == 172800  # days-hours
    assert time_limit_seconds("1-02:03") == 93780  # days-hours:minutes
    assert time_limit_seconds("1-00:00:05") == 86405
    for bad in ("UNLIMITED", "1h", "", "1:2:3:4"):
        with pytest.raises(SlurmScriptError, match="--time"):
            time_limit_seconds(bad)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--time", "2", "--signal-seconds", "120"], "--signal-seconds 120: .*--time 2 is 120 s"),
        (["--nodes", "0"], "--nodes 0: must be a whole number >= 1"),
        (["--partition", "a b"], "--partition 'a b': no spaces"),
        (["--output", "log;rm -rf ~"], "--output"),
        (["--time", "forever"], "--time 'forever'"),
        (["--launcher", "srun", "--mpi", "pmix;x"], "--mpi 'pmix;x': no spaces"),
    ],
)
def test_options_that_would_give_a_wrong_script_are_refused(tmp_path, capsys, options, message):
    assert main(["slurm", _job(tmp_path), *options]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hpcdl slurm: error: ") and len(err.splitlines()) == 1
    assert re.search(message, err), err


def test_out_writes_once_and_never_over_the_job_file(tmp_path, capsys):
    job, out = _job(tmp_path), str(tmp_path / "run.sbatch")
    assert main(["slurm", job, "--out", out]) == 0
    first = open(out).read()
    assert "sbatch" in capsys.readouterr().out
    assert main(["slurm", job, "--out", out, "--nodes", "2"]) == 1
    assert "the file exists; --force overwrites it" in capsys.readouterr().err
    assert open(out).read() == first  # untouched
    assert main(["slurm", job, "--out", out, "--nodes", "2", "--force"]) == 0
    assert "#SBATCH --nodes=2\n" in open(out).read()
    job_text = open(job).read()
    assert main(["slurm", job, "--out", job, "--force"]) == 1
    assert "that is the job file itself" in capsys.readouterr().err
    assert open(job).read() == job_text
    assert main(["slurm", str(tmp_path / "missing.toml")]) == 1
    assert "missing.toml: no such job file" in capsys.readouterr().err
    assert main(["slurm", job, "--out", str(tmp_path), "--force"]) == 1
    assert "is a directory" in capsys.readouterr().err


@pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "mpiexec")), reason="no mpiexec beside the interpreter")
def test_the_same_command_on_two_ranks_prints_one_script(tmp_path):
    job = _job(tmp_path)
    cmd = [os.path.join(BIN, "mpiexec"), "-n", "2", os.path.join(BIN, "hpcdl"), "slurm", job]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    assert out == sbatch_script(job)


# -- the script's logic, run by bash with stand-ins (no Slurm needed) ------------------------------
FAKE_LAUNCHER = """#!/bin/bash
# stands in for mpiexec/srun: records how it was called, then trains until USR1 or TERM (exit 3)
{ echo "args $*"; echo "NUMBA_NUM_THREADS=$NUMBA_NUM_THREADS SRUN_CPUS_PER_TASK=$SRUN_CPUS_PER_TASK"; } > "$RECORD"
trap 'echo "got USR1" >> "$RECORD"; exit 3' USR1
trap 'echo "got TERM" >> "$RECORD"; exit 3' TERM
for _ in $(seq 600); do sleep 0.05; [ -n "${FINISH:-}" ] && exit "$FINISH"; done
exit 99
"""


def _run_script(tmp_path, send=None, env=None, args=("jobs/x.toml", "--set", "epochs=5")):
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "activate").write_text(f'PATH="{bin_dir}:$PATH"\n')
    for name in ("mpiexec", "srun"):
        (bin_dir / name).write_text(FAKE_LAUNCHER)
        (bin_dir / name).chmod(0o755)
    (bin_dir / "scontrol").write_text(
        f'#!/bin/bash\necho "scontrol $*" >> "{tmp_path}/scontrol"\nexit "${{SCONTROL_EXIT:-0}}"\n'
    )
    (bin_dir / "scontrol").chmod(0o755)
    script = tmp_path / "job.sbatch"
    script.write_text(sbatch_script(_job(tmp_path), ScriptOptions(ntasks_per_node=2, cpus_per_task=4)))
    record = tmp_path / "record"
    slurm = {"SLURM_JOB_ID": "42", "SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2", "SLURM_CPUS_PER_TASK": "4"}
    run_env = {**os.environ, **slurm, "HPCDL_VENV": str(tmp_path / "venv"), "RECORD": str(record), **(env or {})}
    proc = subprocess.Popen(
        ["bash", str(script), *args], env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.time() + 20
    while not record.exists() and time.time() < deadline:
        time.sleep(0.05)
    if send:
        time.sleep(0.2)
        proc.send_signal(send)
    out, _ = proc.communicate(timeout=30)
    calls = (tmp_path / "scontrol").read_text() if (tmp_path / "scontrol").exists() else ""
    return proc.returncode, out, record.read_text(), calls


def test_script_forwards_usr1_and_requeues_after_the_checkpoint(tmp_path):
    code, out, record, calls = _run_script(tmp_path, send=signal.SIGUSR1)
    assert code == 3, out
    assert "got USR1" in record and calls == "scontrol requeue 42\n"
    assert "args -n 2 -ppn 2 hpcdl train jobs/x.toml --set epochs=5\n" in record  # first run: no --resume
    assert "NUMBA_NUM_THREADS=4 SRUN_CPUS_PER_TASK=4" in record
    assert "requeueing job 42" in out


def test_script_forwards_term_as_usr1_and_leaves_the_requeue_to_the_user(tmp_path):
    code, out, record, calls = _run_script(tmp_path, send=signal.SIGTERM)
    assert code == 3 and "got USR1" in record and calls == ""
    assert "hpcdl: stopped by TERM after a checkpoint; continue with: scontrol requeue 42" in out


def test_script_resumes_a_requeued_run_and_passes_the_exit_code_on(tmp_path):
    code, out, record, calls = _run_script(tmp_path, env={"SLURM_RESTART_COUNT": "1", "FINISH": "7"})
    assert code == 7 and calls == ""
    assert "args -n 2 -ppn 2 hpcdl train jobs/x.toml --resume --set epochs=5\n" in record
    assert "hpcdl: job 42, run 2, nodes , virtualenv " in out


def test_script_runs_with_no_arguments_and_names_its_virtualenv(tmp_path):
    code, out, record, _ = _run_script(tmp_path, env={"FINISH": "0"}, args=())
    job = os.path.join(tmp_path, "job.toml")
    assert code == 0 and f"args -n 2 -ppn 2 hpcdl train {job}\n" in record, out
    assert f"virtualenv {tmp_path}/venv: mpiexec -n 2 -ppn 2 hpcdl train {job}" in out


def test_script_says_so_when_the_requeue_fails_and_defaults_the_job_file(tmp_path):
    code, out, record, calls = _run_script(
        tmp_path, send=signal.SIGUSR1, env={"SCONTROL_EXIT": "1"}, args=("--set", "epochs=5")
    )
    assert code == 3 and calls == "scontrol requeue 42\n"
    assert "hpcdl: error: the requeue failed; continue with: scontrol requeue 42" in out
    job = os.path.join(tmp_path, "job.toml")
    assert f"args -n 2 -ppn 2 hpcdl train {job} --set epochs=5\n" in record  # options only: the script's job
