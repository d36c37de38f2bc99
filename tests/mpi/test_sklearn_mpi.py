"""hpcdl.sklearn under mpiexec: fit refuses, on every rank, instead of training one model per rank."""

import numpy as np
import pytest


@pytest.mark.mpi(min_size=2)
def test_fit_refuses_several_ranks_on_every_rank():
    from mpi4py import MPI

    from hpcdl.sklearn import DeepLearningClassifier

    comm = MPI.COMM_WORLD
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10) % 2
    try:
        DeepLearningClassifier(hidden=(4,), epochs=1).fit(X, y)
        message = None
    except RuntimeError as exc:
        message = str(exc)
    messages = comm.allgather(message)
    expected = (
        f"DeepLearningClassifier.fit trains in one process, but this script runs on {comm.Get_size()} MPI ranks "
        "(mpiexec): run it without mpiexec, or train on several ranks with hpcdl.deeplearning or `hpcdl train JOB`"
    )
    assert messages == [expected] * comm.Get_size()
