"""The Slurm suite: a real Slurm cluster (tests/slurm/slurm_cluster.py) that runs the project's sbatch scripts.

It starts daemons as root, so it runs only when asked: tests/run_all.sh's Slurm stage sets
HPCDL_SLURM_TESTS=1 (by hand: ``HPCDL_SLURM_TESTS=1 python -m pytest tests/slurm``). Where Slurm
cannot be installed or started the tests skip and say why; with HPCDL_SLURM_REQUIRED=1 (CI,
.ci/run) that is a failure instead. One cluster per module: test_one_node.py gets a one-node
cluster, test_two_nodes.py a two-node one; each is stopped (daemons by PID, namespace and
veth removed) when its module ends, also after a failure.
"""

from __future__ import annotations

import os
import signal
import sys

import pytest
import slurm_cluster

REQUIRED = os.environ.get("HPCDL_SLURM_REQUIRED") == "1"


ENABLED = os.environ.get("HPCDL_SLURM_TESTS") == "1"


def pytest_configure(config):
    if ENABLED:
        # `timeout` and CI stop a run with SIGTERM: turn it into KeyboardInterrupt, so that pytest
        # still runs the fixtures' finalizers and the daemons and the namespace go away.
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def pytest_collection_modifyitems(config, items):
    if ENABLED:
        return
    skip = pytest.mark.skip(
        reason="the Slurm suite starts daemons as root: run by tests/run_all.sh (HPCDL_SLURM_TESTS=1)"
    )
    for item in items:
        if "tests/slurm/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


def unavailable(reason: str):
    """Skip (or, where Slurm must run, fail) with the reason Slurm cannot run here."""
    message = f"Slurm cannot run here: {reason}"
    if REQUIRED:
        pytest.fail(message + " (HPCDL_SLURM_REQUIRED=1)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def slurm_machine():
    """Slurm installed (apt-get if missing) and this machine's test-cluster lock held for the session."""
    try:
        slurm_cluster.ensure_installed()
    except slurm_cluster.SlurmUnavailable as exc:
        unavailable(str(exc))
    with slurm_cluster.machine_lock():
        yield


def job_environment(cluster) -> dict:
    """What sbatch passes on to a job (--export=ALL): this Python's virtualenv, no thread settings of ours."""
    env = dict(cluster.env)
    for var in ("HPCDL_THREADS", "NUMBA_NUM_THREADS", "HPCDL_JUNIT_DIR"):
        env.pop(var, None)
    env["HPCDL_VENV"] = sys.prefix  # the scripts' default is ./.venv; the test runs in the suite's environment
    return env


def _start(factory):
    try:
        cluster = factory()
    except slurm_cluster.SlurmUnavailable as exc:
        unavailable(str(exc))
    cluster.env = job_environment(cluster)
    return cluster


@pytest.fixture(scope="module")
def one_node(slurm_machine):
    """A one-node cluster: this host."""
    cluster = _start(slurm_cluster.one_node)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def two_nodes(slurm_machine):
    """A two-node cluster: this host, and node c2 in a network namespace behind a veth pair."""
    cluster = _start(slurm_cluster.two_nodes)
    yield cluster
    slurm_cluster.stop_two_nodes(cluster)
