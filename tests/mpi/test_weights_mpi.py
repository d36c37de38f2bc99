"""Observation weights under MPI: each rank's shard carries its rows' weights, so rows of weight 0
count for nothing on every rank (tests/test_weights.py has the serial checks)."""

import os

import numpy as np
import pytest
from collective import assert_all, assert_same, on_rank0

import hpcdl
from hpcdl.frame import Frame, frame_from_numpy

IRIS_CSV = os.path.join(os.path.dirname(hpcdl.__file__), "datasets", "iris_wheader.csv")


@pytest.mark.mpi(min_size=2)
def test_sharded_weights_zero_rows_count_for_nothing(comm, shared_dir):
    import pandas as pd

    iris = pd.read_csv(IRIS_CSV)
    k = np.arange(len(iris))
    w = np.where(k % 5 == 0, 0.0, 1.0 + (k % 3))  # zeros and unequal weights
    cols = iris.columns[:4].tolist()

    def make(name, junk):
        def write():
            data = {c: iris[c].to_numpy(dtype=np.float64) for c in cols}
            for c in cols:
                data[c] = np.where(w == 0, data[c] * junk + junk, data[c])
            data["y"] = iris["petal_wid"].to_numpy(dtype=np.float64) + (w == 0) * junk
            data["w"] = w
            return frame_from_numpy(data, os.path.join(shared_dir, name)).path

        return Frame(on_rank0(comm, write))

    kw = dict(x=cols[:3], y="y", weights_column="w", hidden=[5], epochs=3, seed=2, reproducible=True)
    kw.update(replicate_training_data=False, comm=comm)
    a = hpcdl.deeplearning(training_frame=make("a.h5", 1.0), **kw)
    b = hpcdl.deeplearning(training_frame=make("b.h5", 9.0), **kw)
    assert_all(comm, np.array_equal(a.net.buffer, b.net.buffer), "zero-weight rows changed the model")
    assert_same(comm, a.run.n_training_rows)
    assert_all(comm, a.run.n_training_rows == int((w > 0).sum()), f"N = {a.run.n_training_rows}")
    assert_all(comm, sum(a.run.rows_per_rank) == int((w > 0).sum()), f"rows per rank {a.run.rows_per_rank}")
