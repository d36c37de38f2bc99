"""H2O-3's estimators on several ranks: one model on every rank, the same ids (a continued model's
fresh id is drawn once), the same grid; asserted collectively so one failing rank fails all."""

import os

import pytest

import hpcdl
from hpcdl import comm as comm_mod
from hpcdl.estimators import H2ODeepLearningEstimator, H2OGridSearch

IRIS = os.path.join(os.path.dirname(hpcdl.__file__), "datasets", "iris_wheader.csv")


@pytest.mark.mpi(min_size=2)
def test_estimator_checkpoint_by_id_and_grid_agree_on_every_rank():
    comm = comm_mod.world()
    first = H2ODeepLearningEstimator(hidden=[4], epochs=4, seed=3, reproducible=True)
    first.train(y="class", training_frame=IRIS, comm=comm, threads=1)
    more = H2ODeepLearningEstimator(hidden=[4], epochs=8, seed=3, reproducible=True, checkpoint=first.model_id)
    more.train(y=4, training_frame=IRIS, comm=comm, threads=1)
    gs = H2OGridSearch(H2ODeepLearningEstimator(epochs=3, seed=3, reproducible=True), {"hidden": [[2], [3]]}, "eg")
    gs.train(y="class", training_frame=IRIS, comm=comm, threads=1)
    mine = {
        "ids": (first.model_id, more.model_id),
        "epochs": more.run_info["epochs"],
        "ranks": more.run_info["ranks"],
        "logloss": round(more.logloss(), 12),
        "grid": gs.model_ids,
        "grid_logloss": [round(m.logloss(), 12) for m in gs],
        "found": hpcdl.get_model(more.model_id) is more.hpcdl_model,
    }
    every = comm.allgather(mine)
    assert all(facts == every[0] for facts in every), every
    facts = every[0]
    assert facts["ids"][0] != facts["ids"][1] and facts["epochs"] == pytest.approx(8.0)
    assert facts["ranks"] == comm.size and facts["found"]
    assert sorted(facts["grid"]) == ["eg_model_1", "eg_model_2"]
