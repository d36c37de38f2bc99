"""comm.node_leader_first: the first rank of a node compiles the kernels, the others wait and load.

    timeout 300 mpiexec -n 2 python -m pytest --with-mpi -m mpi tests/mpi/test_node_leader_mpi.py -q

All ranks of these tests run on one host, so world rank 0 is the node's leader. The order is
checked through files in a shared directory, not clocks: the leader's work finishes by writing
a file, and every other rank's work records whether that file was there when it began.
"""

import os
import time

import pytest
from collective import assert_all, assert_same

from hpcdl import comm as comm_mod


@pytest.mark.mpi
def test_the_leader_works_first_and_the_others_after_it(comm, shared_dir):
    done = os.path.join(shared_dir, "leader-done")

    def work():
        if comm.rank == 0:
            time.sleep(0.5)  # the others would start meanwhile if they did not wait
            others_started = sorted(name for name in os.listdir(shared_dir) if name.startswith("started-"))
            with open(done, "w") as f:
                f.write("done")
            return ("leader", others_started)
        with open(os.path.join(shared_dir, f"started-{comm.rank}"), "w") as f:
            f.write("x")
        return ("after", os.path.exists(done))

    role, seen = comm_mod.node_leader_first(comm, work)
    expected = ("leader", []) if comm.rank == 0 else ("after", True)
    assert_all(comm, (role, seen) == expected, f"got {(role, seen)}, expected {expected}")
    assert_same(comm, os.path.exists(done), "the leader's file")


@pytest.mark.mpi
def test_a_failure_of_the_leader_is_raised_on_it_and_the_others_go_on(comm):
    """The leader's error reaches the leader; the node's other ranks are not left at the
    barrier: they run the work themselves (they would compile the kernels on their own)."""

    def work():
        if comm.rank == 0:
            raise ValueError("the leader's compile failed")
        return comm.rank

    outcome = None
    try:
        outcome = comm_mod.node_leader_first(comm, work)
    except ValueError as exc:
        outcome = str(exc)
    expected = "the leader's compile failed" if comm.rank == 0 else comm.rank
    assert_all(comm, outcome == expected, f"got {outcome!r}, expected {expected!r}")
