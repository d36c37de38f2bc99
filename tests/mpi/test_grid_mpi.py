"""Grid search on several ranks: all ranks per model (parallelism=1) or groups of ranks (parallelism=G)."""

import json
import os
import tempfile

import numpy as np
import pytest
from collective import assert_all, assert_same, checked, on_rank0, shared_tmpdir

import hpcdl
from hpcdl.frame import Frame, frame_from_numpy
from hpcdl.grid import load_grid

HYPER = {"hidden": [[3], [6]], "l1": [0.0, -1.0, 1e-3]}  # l1=-1 fails: 2 failed, 4 trained


def _shared_frame(comm):
    def make():
        rng = np.random.default_rng(0)
        X = rng.normal(size=(400, 3))
        y = (X[:, 0] - X[:, 1] > 0).astype(int)
        d = tempfile.mkdtemp(prefix="hpcdl-grid-mpi-")
        columns = {"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": np.array(["n", "p"])[y]}
        return frame_from_numpy(columns, os.path.join(d, "f.h5")).path

    return Frame(on_rank0(comm, make))


def _run(comm, parallelism, save_dir):
    frame = _shared_frame(comm)
    return hpcdl.grid(
        y="y",
        training_frame=frame,
        hyper_params=HYPER,
        grid_id="mg",
        comm=comm,
        parallelism=parallelism,
        save_dir=save_dir,
        epochs=10,
        seed=5,
        threads=1,
    )


def _content(g):
    return sorted((e.model_id, json.dumps(e.hyper), e.status) for e in g.entries)


@pytest.mark.mpi(min_size=2)
def test_grid_parallelism_modes_give_the_same_grid(comm):
    save = [shared_tmpdir(comm, "hpcdl-grid-p1-"), shared_tmpdir(comm, "hpcdl-grid-p2-")]
    g1 = _run(comm, 1, save[0])
    g2 = _run(comm, 2, save[1])
    expected = sorted(
        (f"mg_model_{i}", json.dumps({"hidden": h, "l1": l1}), "failed" if l1 < 0 else "ok")
        for i, (h, l1) in enumerate([(h, l) for h in HYPER["hidden"] for l in HYPER["l1"]], 1)
    )
    # every rank knows every model's summary, in both modes
    assert_all(comm, _content(g1) == expected and _content(g2) == expected, f"{_content(g1)} / {_content(g2)}")
    assert_all(comm, all("l1" in e.error for g in (g1, g2) for e in g.failed), "a failure not about l1")

    def on_world_rank_0():
        # world rank 0 holds every model in both modes; models agree on their parameters
        for g in (g1, g2):
            assert len(g.models) == 4
            for e, m in zip(g.succeeded, g.models):
                assert m.model_id == e.model_id
                assert m.params.hidden == e.hyper["hidden"] and m.params.l1 == e.hyper["l1"]
                assert m.training_metrics["logloss"] < 0.69  # learned something (chance is ln 2)
        # one model trained on all ranks, the other by a group: same data, both fit it
        r1 = {e.model_id: e.metrics["logloss"] for e in g1.succeeded}
        r2 = {e.model_id: e.metrics["logloss"] for e in g2.succeeded}
        assert set(r1) == set(r2)
        assert g1.models[0].run_info["ranks"] == comm.size
        assert {m.run_info["ranks"] for m in g2.models} <= {comm.size // 2, comm.size - comm.size // 2}
        # saved: the groups' rank 0s wrote their models, world rank 0 the summary
        for d in save:
            back = load_grid(d)
            assert sorted(back.model_ids) == sorted(r1)
            assert len(back.failed) == 2
            for mid in back.model_ids:
                assert os.path.exists(os.path.join(d, f"{mid}.h5"))
        same = hpcdl.load_model(os.path.join(save[1], "mg_model_1.h5"))
        assert same.model_id == "mg_model_1"

    def on_other_ranks():
        # other ranks hold the models their group trained
        held = [e for e in g2.entries if e.model is not None]
        assert held, "a group member keeps its own group's models"
        assert all(e.model.model_id == e.model_id for e in held)

    checked(comm, on_world_rank_0 if comm.rank == 0 else on_other_ranks)


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("replicate", [True, False])
def test_cross_validation_on_ranks_with_sharded_or_replicated_rows(comm, replicate):
    from hpcdl.cv import random_folds

    frame = _shared_frame(comm)
    m = hpcdl.deeplearning(
        y="y",
        training_frame=frame,
        nfolds=3,
        seed=9,
        hidden=[4],
        # 20 epochs: replicated ranks each sample their rows independently (as H2O's nodes do), and
        # after 10 epochs the averaged 4-unit net was still near chance on 3 ranks for some seeds
        epochs=20,
        threads=1,
        comm=comm,
        replicate_training_data=replicate,
        balance_classes=True,
        class_sampling_factors=[1.0, 2.0],
    )
    folds = random_folds(frame.nrow, 3, seed=9)
    y = frame.column("y") == 1

    def fold_models():
        for k, fm in enumerate(m.fold_models):
            # fold k's models trained on the other folds' rows, over all shards, balanced with the global ratios
            assert fm.run_info["n_training_rows"] == int((~y[folds != k]).sum() + 2 * y[folds != k].sum())
            prior = y[folds != k].mean()
            np.testing.assert_allclose(fm.run_info["class_prior"], [1 - prior, prior])

    checked(comm, fold_models)
    # every rank ends with the same CV metrics and the same main model
    assert_same(
        comm, (m.cross_validation_metrics["logloss"], float(m.net.buffer.sum()), m.run_info["class_sampled_prior"])
    )
    assert_all(comm, m.cross_validation_metrics["logloss"] < 0.69, m.cross_validation_metrics["logloss"])
