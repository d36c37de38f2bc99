"""A real Slurm for the tests: one node, or two nodes on one machine.

Debian's ``slurm-wlm`` (22.05) and ``munge``, run as root without systemd. Everything
a cluster writes (its slurm.conf, munge key and socket, spool, logs) lives in one fresh
directory, and the commands find that configuration through ``SLURM_CONF``, so nothing
in /etc is touched. The daemons run in the foreground as children of the test process
and are stopped by their PIDs. The second node of the two-node cluster is a ``slurmd``
in a network namespace made here, joined to the host by a veth pair; both are removed
when the cluster stops. A lock file serializes clusters of concurrent test runs on one
machine (they would share the ports and the namespace name).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

PACKAGES = ("slurm-wlm", "munge", "iproute2")
COMMANDS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "srun", "scontrol", "squeue", "scancel", "ip")
CTLD_PORT, SLURMD_PORT = 6917, 6918  # not Slurm's default 6817/6818: never answer a site's own commands
LOCK_FILE = "/run/lock/hpcdl-slurm-tests.lock"
LEFTOVERS = "/run/hpcdl-slurm-tests.confs"  # clusters of a test run killed before its clean-up
NETNS, VETH = "hpcdl-c2", "hpcdl-veth"  # the veth pair's ends have one name, one in each namespace
HOST_ADDR, NODE_ADDR = "10.99.0.1", "10.99.0.2"
SECOND_NODE = "c2"
# MPI between the two nodes goes over the veth pair, as between two machines over their network:
# UCX (PyPI MPICH's transport) would otherwise see one machine and use shared memory.
NETWORK_ENV = {"UCX_TLS": "tcp", "UCX_NET_DEVICES": VETH}
TERMINAL_STATES = {
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "BOOT_FAIL",
    "DEADLINE",
    "PREEMPTED",
}


class SlurmUnavailable(RuntimeError):
    """Slurm cannot be installed or started here; the message says why (the tests skip with it)."""


def _run(cmd: list[str], timeout: float = 60, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def ensure_installed() -> None:
    """Install slurm-wlm, munge (and ip) with apt-get when missing; SlurmUnavailable when that cannot be done."""
    if os.geteuid() != 0:
        raise SlurmUnavailable(
            "the suite runs as root (it starts munged, slurmctld and slurmd, and a network namespace)"
        )
    if all(shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") for name in COMMANDS):
        return
    if not shutil.which("apt-get"):
        raise SlurmUnavailable("Slurm is not installed and there is no apt-get to install slurm-wlm and munge")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        proc = _run(cmd, timeout=900, check=False, env=env)
        if proc.returncode != 0:
            raise SlurmUnavailable(f"{' '.join(cmd)} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")


@contextlib.contextmanager
def machine_lock(timeout: float = 1800):
    """One test cluster per machine at a time (released by the kernel if the holder dies)."""
    os.makedirs(os.path.dirname(LOCK_FILE), exist_ok=True)
    with open(LOCK_FILE, "w") as fh:
        deadline = time.time() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.time() > deadline:
                    raise RuntimeError(
                        f"{LOCK_FILE}: another test run kept its Slurm cluster for {timeout:.0f} s"
                    ) from None
                time.sleep(2)
        try:
            stop_leftovers()
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def stop_leftovers() -> None:
    """Stop what a test run killed before its clean-up left: every process of its clusters
    (daemons, slurmstepd, jobs: all carry that cluster's SLURM_CONF), its namespace and veth."""
    try:
        with open(LEFTOVERS) as fh:
            confs = [line.strip() for line in fh if line.strip()]
    except FileNotFoundError:
        confs = []
    for conf in confs:
        _kill_processes_of(conf)
    with contextlib.suppress(FileNotFoundError):
        os.remove(LEFTOVERS)
    _remove_network()


def _kill_processes_of(conf: str) -> None:
    """Every process started with SLURM_CONF=conf in its environment: ours, and only ours.
    Again until none is left: a slurmd may start a slurmstepd while the first pass runs."""
    marker = f"SLURM_CONF={conf}".encode()
    for _ in range(20):
        found = []
        for pid in [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
            try:
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    if marker in fh.read().split(b"\0"):
                        found.append(pid)
            except OSError:
                continue
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if not found:
            return
        time.sleep(0.5)


def _remove_network() -> None:
    if os.path.exists(f"/run/netns/{NETNS}") or _run(["ip", "link", "show", VETH], check=False).returncode == 0:
        _run(["ip", "link", "del", VETH], check=False)  # deletes both ends of the pair
        _run(["ip", "netns", "del", NETNS], check=False)


@dataclass
class Node:
    name: str
    addr: str  # Slurm's NodeAddr: nothing depends on the machine resolving the node's name
    netns: str | None = None  # run this node's slurmd in that network namespace


@dataclass
class Cluster:
    """A running Slurm cluster; ``env`` is the environment its commands (sbatch, squeue, ...) need."""

    root: str
    nodes: list[Node]
    env: dict = field(default_factory=dict)
    daemons: dict[str, subprocess.Popen] = field(default_factory=dict)  # in start order

    @property
    def cpus(self) -> int:
        """CPUs per node: the machine's, and at least 4, so that 2 ranks x 2 threads fit on a
        2-core machine (they then share its cores, as the two-node cluster's nodes do)."""
        return max(os.cpu_count() or 1, 4)

    @property
    def conf(self) -> str:
        return os.path.join(self.root, "slurm.conf")

    # -- start and stop ---------------------------------------------------------------------
    def start(self) -> None:
        os.chmod(self.root, 0o755)  # munged runs as user munge and must reach its directory
        self.env = {**os.environ, "SLURM_CONF": self.conf}
        for var in [v for v in self.env if v.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_"))]:
            if var != "SLURM_CONF":  # a test run inside an allocation must not steer this cluster's jobs
                del self.env[var]
        with open(LEFTOVERS, "a") as fh:  # until stop(): a killed test run's successor cleans up
            fh.write(self.conf + "\n")
        self._start_munge()
        with open(self.conf, "w") as fh:
            fh.write(self._slurm_conf())
        # srun --mpi=pmix (Open MPI): the plugin's client directory is named after the job step, not
        # the node, so two slurmds on one file system collide ("File exists"); each node mounts its
        # own directory at this path (_slurmd_command), as each real node has its own /tmp.
        os.makedirs(os.path.join(self.root, "pmix"))
        with open(os.path.join(self.root, "mpi.conf"), "w") as fh:
            fh.write(f"PMIxCliTmpDirBase={self.root}/pmix\n")
        self._spawn(["slurmctld", "-D", "-i", "-f", self.conf], "slurmctld")
        self._wait(lambda: _run(["scontrol", "ping"], check=False, env=self.env).returncode == 0, 30, "slurmctld")
        for node in self.nodes:
            self._spawn(self._slurmd_command(node), f"slurmd-{node.name}")
        self._wait(self._all_idle, 60, "every node idle")

    def _slurmd_command(self, node: Node) -> list[str]:
        """slurmd for ``node``, in a mount namespace of its own whose /etc/hosts names every
        node: its jobs (MPI's launcher among them) resolve the nodes, and the machine's
        /etc/hosts is neither needed nor touched."""
        cmd = ["slurmd", "-D", "-f", self.conf, "-N", node.name]
        hosts = os.path.join(self.root, "hosts")
        if not os.path.exists(hosts):
            with open(hosts, "w") as fh:
                fh.write("127.0.0.1 localhost\n" + "".join(f"{n.addr} {n.name}\n" for n in self.nodes))
        own_pmix = os.path.join(self.root, f"pmix-{node.name}")
        script = (
            f"mount --bind {hosts} /etc/hosts && mkdir -p {own_pmix} && mount --bind {own_pmix} {self.root}/pmix && "
        )
        prefix = ["unshare", "--mount", "--propagation", "private"]
        if node.netns:  # not `ip netns exec`: it remounts /sys, and slurmd then misses /sys/fs/cgroup
            prefix = ["nsenter", f"--net=/run/netns/{node.netns}", "unshare", "--uts", "--mount"]
            prefix += ["--propagation", "private"]
            script += f"hostname {node.name} && "
        return [*prefix, "sh", "-c", script + "exec " + shlex.join(cmd)]

    def _start_munge(self) -> None:
        munge_dir = os.path.join(self.root, "munge")
        os.makedirs(munge_dir)
        os.chmod(munge_dir, 0o755)  # clients need to reach the socket; the key itself is 0400
        key = os.path.join(munge_dir, "munge.key")
        _run(["mungekey", "--create", f"--keyfile={key}"])
        shutil.chown(munge_dir, "munge", "munge")
        shutil.chown(key, "munge", "munge")
        os.chmod(key, 0o400)
        self.munge_socket = os.path.join(munge_dir, "munge.socket")
        cmd = ["munged", "-F", f"--key-file={key}", f"--socket={self.munge_socket}"]
        cmd += [f"--pid-file={munge_dir}/munged.pid", f"--log-file={munge_dir}/munged.log"]
        cmd += [f"--seed-file={munge_dir}/munged.seed"]
        self._spawn(cmd, "munged", user="munge")
        self._wait(lambda: os.path.exists(self.munge_socket), 20, "munged")

    def _slurm_conf(self) -> str:
        first = self.nodes[0]
        lines = [
            "ClusterName=hpcdltest",
            f"SlurmctldHost={first.name}({first.addr})",
            f"SlurmctldPort={CTLD_PORT}",
            f"SlurmdPort={SLURMD_PORT}",
            "SlurmUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            # cred_expire: a requeued job waits cred_expire + 1 s instead of 121 s before it starts again
            f"AuthInfo=socket={self.munge_socket},cred_expire=10",
            "MpiDefault=none",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",  # nothing pinned: the nodes declare more CPUs than the machine has
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SchedulerType=sched/backfill",
            "SchedulerParameters=sched_interval=2",
            "EnforcePartLimits=ALL",  # an impossible request fails at submission instead of pending forever
            "ReturnToService=2",
            "KillWait=10",
            "MinJobAge=3600",  # finished jobs stay visible to `scontrol show job` for the assertions
            "MailProg=/bin/true",
            "SlurmdParameters=config_overrides",  # the declared CPUs count, not the machine's
            f"StateSaveLocation={self.root}/state",
            f"SlurmdSpoolDir={self.root}/spool-%n",
            f"SlurmctldPidFile={self.root}/slurmctld.pid",
            f"SlurmdPidFile={self.root}/slurmd-%n.pid",
            f"SlurmctldLogFile={self.root}/slurmctld.log",
            f"SlurmdLogFile={self.root}/slurmd-%n.log",
        ]
        for node in self.nodes:
            lines.append(f"NodeName={node.name} NodeAddr={node.addr} CPUs={self.cpus} State=UNKNOWN")
        lines.append(f"PartitionName=test Nodes={','.join(n.name for n in self.nodes)} Default=YES MaxTime=INFINITE")
        return "\n".join(lines) + "\n"

    def _spawn(self, cmd: list[str], name: str, user: str | None = None) -> None:
        log = open(os.path.join(self.root, f"{name}.stdout"), "w")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, user=user)
        log.close()
        self.daemons[name] = proc
        time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited at once (code {proc.returncode}):\n{self.logs()}")

    def _wait(self, ready, seconds: float, what: str) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            if ready():
                return
            dead = [name for name, p in self.daemons.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead[0]} died (code {self.daemons[dead[0]].returncode}):\n{self.logs()}")
            time.sleep(0.5)
        raise RuntimeError(f"Slurm test cluster: no {what} after {seconds:.0f} s\n{self.logs()}")

    def _all_idle(self) -> bool:
        out = _run(["sinfo", "-h", "-N", "-o", "%N %T"], check=False, env=self.env).stdout.split("\n")
        states = dict(line.split() for line in out if line.strip())
        return sorted(states) == sorted(n.name for n in self.nodes) and set(states.values()) == {"idle"}

    def logs(self, tail: int = 30) -> str:
        parts = []
        for name in sorted(os.listdir(self.root)):
            if name.endswith((".log", ".stdout")):
                with open(os.path.join(self.root, name), errors="replace") as fh:
                    lines = fh.readlines()[-tail:]
                parts.append(f"--- {name}\n{''.join(lines)}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel every job, stop the daemons by PID, kill what they left behind."""
        ctld = self.daemons.get("slurmctld")
        if ctld is not None and ctld.poll() is None:  # let Slurm end the jobs first
            _run(["scancel", "--user=root"], check=False, env=self.env)
            deadline = time.time() + 40
            while time.time() < deadline and _run(["squeue", "-h"], check=False, env=self.env).stdout.strip():
                time.sleep(1)
        for proc in reversed(self.daemons.values()):  # slurmd(s), slurmctld, munged
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        _kill_processes_of(self.conf)  # slurmstepd and job processes outlive a killed slurmd
        with contextlib.suppress(FileNotFoundError):
            os.remove(LEFTOVERS)
        shutil.rmtree(self.root, ignore_errors=True)  # a failing test has shown the logs already

    # -- jobs -------------------------------------------------------------------------------
    def sbatch(self, script: str, args: list[str] = (), options: list[str] = (), cwd: str | None = None) -> int:
        proc = _run(["sbatch", "--parsable", *options, script, *args], env=self.env, cwd=cwd)
        return int(proc.stdout.strip().split(";")[0])

    def job(self, job_id: int) -> dict:
        """``scontrol show job`` as a dict (JobState, ExitCode, Restarts, NodeList, StdOut, ...)."""
        out = _run(["scontrol", "show", "job", "-o", str(job_id)], env=self.env).stdout
        return dict(re.findall(r"(\w+)=(\S*)", out))

    def wait(self, job_id: int, until, timeout: float, what: str = "") -> dict:
        """Poll the job until ``until(record)``; fails with the job's record and the daemons' logs."""
        deadline = time.time() + timeout
        record = {}
        while time.time() < deadline:
            record = self.job(job_id)
            if until(record):
                return record
            time.sleep(0.5)
        raise AssertionError(
            f"job {job_id}: not {what or 'done'} after {timeout:.0f} s: {record}\n{self.job_output(record)}{self.logs()}"
        )

    def wait_done(self, job_id: int, timeout: float) -> dict:
        return self.wait(job_id, lambda r: r.get("JobState") in TERMINAL_STATES, timeout, "finished")

    @staticmethod
    def job_output(record: dict) -> str:
        path = record.get("StdOut")
        if not path or not os.path.exists(path):
            return ""
        with open(path, errors="replace") as fh:
            return f"--- {path}\n{fh.read()}\n"

    def scancel(self, job_id: int, *options: str) -> None:
        _run(["scancel", *options, str(job_id)], env=self.env)

    def scontrol(self, *args: str) -> str:
        return _run(["scontrol", *args], env=self.env).stdout


# -- the two ways the tests need a cluster --------------------------------------------------------
def host_name() -> str:
    return socket.gethostname().split(".")[0]


def one_node() -> Cluster:
    """This host as the only node."""
    cluster = Cluster(tempfile.mkdtemp(prefix="hpcdl-slurm-"), [Node(host_name(), "127.0.0.1")])
    _start_or_stop(cluster)
    return cluster


def two_nodes() -> Cluster:
    """This host and node c2, a slurmd in network namespace hpcdl-c2 behind a veth pair."""
    root = tempfile.mkdtemp(prefix="hpcdl-slurm2-")
    host = host_name()
    try:
        _make_network()
    except (RuntimeError, OSError) as exc:
        _remove_network()
        raise SlurmUnavailable(f"cannot make the second node's network namespace and veth pair: {exc}") from exc
    nodes = [Node(host, HOST_ADDR), Node(SECOND_NODE, NODE_ADDR, NETNS)]
    cluster = Cluster(root, nodes)
    _start_or_stop(cluster, network=True)
    cluster.env.update(NETWORK_ENV)
    return cluster


def _start_or_stop(cluster: Cluster, network: bool = False) -> None:
    """Start the cluster; if it does not come up, stop what did and say why Slurm cannot run here."""
    try:
        cluster.start()
    except BaseException as exc:
        cluster.stop()
        if network:
            _remove_network()
        if isinstance(exc, RuntimeError | OSError | subprocess.SubprocessError):
            raise SlurmUnavailable(f"the test cluster did not start: {exc}") from exc
        raise


def _make_network() -> None:
    _remove_network()
    _run(["ip", "netns", "add", NETNS])
    _run(["ip", "link", "add", VETH, "type", "veth", "peer", "name", "hpcdl-vpeer", "netns", NETNS])
    _run(["ip", "addr", "add", f"{HOST_ADDR}/24", "dev", VETH])
    _run(["ip", "link", "set", VETH, "up"])
    inside = ["ip", "netns", "exec", NETNS]
    _run([*inside, "ip", "link", "set", "hpcdl-vpeer", "name", VETH])
    _run([*inside, "ip", "addr", "add", f"{NODE_ADDR}/24", "dev", VETH])
    _run([*inside, "ip", "link", "set", VETH, "up"])
    _run([*inside, "ip", "link", "set", "lo", "up"])
    # the host's other addresses (e.g. the one MPI may publish for a rank there) via the veth too
    _run([*inside, "ip", "route", "add", "default", "via", HOST_ADDR])


def veth_bytes() -> tuple[int, int]:
    """Bytes the host's end of the veth pair has received and sent (from node c2, to node c2)."""
    stats = f"/sys/class/net/{VETH}/statistics"
    with open(f"{stats}/rx_bytes") as rx, open(f"{stats}/tx_bytes") as tx:
        return int(rx.read()), int(tx.read())


def stop_two_nodes(cluster: Cluster) -> None:
    cluster.stop()
    _remove_network()
