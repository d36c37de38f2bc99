"""The booklet's ECG anomaly detection (section 4.2) trained on several MPI ranks.

Each rank trains on its shard of the 20 good heartbeats (10/10 rows on 2 ranks, 7/7/6 on 3)
and the averaged model must still give the three appended bad heartbeats of the test file the
three largest reconstruction errors, clearly apart; every rank must hold the same model.
"""

import os
import tempfile

import numpy as np
import pytest

import hpcdl

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATASETS = os.path.join(REPO, "hpcdl", "datasets")
ECG_JOB = os.path.join(REPO, "jobs", "ecg_anomaly.toml")
BOOKLET = {"autoencoder": True, "activation": "Tanh", "hidden": [50, 20, 50], "l1": 1e-4, "epochs": 100}
ECG_GAP = 100.0  # serial runs reach >= 340x; see tests/test_autoencoder.py


def _world():
    from mpi4py import MPI

    return MPI.COMM_WORLD


def _shared_dir(comm):
    path = tempfile.mkdtemp(prefix="hpcdl-ae-mpi-") if comm.rank == 0 else None
    return comm.bcast(path, root=0)


def _ecg_frames(comm):
    """Rank 0 imports both CSV files (no header: C1..C210); every rank opens the frames."""
    d = _shared_dir(comm)
    error = None
    if comm.rank == 0:
        try:
            for name in ("train", "test"):
                hpcdl.import_file(
                    os.path.join(DATASETS, f"ecg_discord_{name}.csv"), destination=os.path.join(d, f"{name}.h5")
                )
        except Exception as exc:  # noqa: BLE001 - reported on every rank
            error = repr(exc)
    error = comm.bcast(error, root=0)
    assert error is None, error
    return hpcdl.get_frame(os.path.join(d, "train.h5")), hpcdl.get_frame(os.path.join(d, "test.h5"))


def _assert_three_appended_rows_stand_out(errors):
    errors = np.asarray(errors)
    assert errors.shape == (23,)
    assert set(np.argsort(-errors)[:3]) == {20, 21, 22}
    assert errors[20:].min() > ECG_GAP * errors[:20].max()


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("reproducible", [True, False])
def test_ecg_anomalies_found_by_a_model_averaged_over_ranks(reproducible):
    comm = _world()
    train, test = _ecg_frames(comm)
    model = hpcdl.deeplearning(training_frame=train, seed=42, reproducible=reproducible, threads=1, **BOOKLET)
    assert model.run_info["ranks"] == comm.size
    sums = comm.allgather(float(np.sum(model.net.buffer.astype(np.float64))))
    assert len(set(sums)) == 1  # the same averaged model on every rank
    errors = hpcdl.anomaly(model, test).column("Reconstruction.MSE")
    _assert_three_appended_rows_stand_out(errors)
    np.testing.assert_array_equal(comm.bcast(errors, root=0), errors)
    comm.Barrier()


@pytest.mark.mpi(min_size=2)
def test_ecg_job_under_mpi_writes_the_anomaly_table():
    from hpcdl import cli

    comm = _world()
    out = _shared_dir(comm)
    code = cli.main(["train", ECG_JOB, "--output-dir", out, "--quiet", "--threads", "1"])
    assert code == 0
    comm.Barrier()
    error = None
    if comm.rank == 0:  # rank 0 alone scored and wrote; check it, then tell every rank
        try:
            with open(os.path.join(out, "ecg_anomaly_anomaly.csv")) as fh:
                lines = fh.read().split()
            assert lines[0] == "Reconstruction.MSE"
            errors = np.array(lines[1:], dtype=np.float64)
            _assert_three_appended_rows_stand_out(errors)
            model = hpcdl.load_model(os.path.join(out, "ecg_anomaly.h5"))
            (name,) = [n for n in os.listdir(os.path.join(out, "frames")) if n.startswith("ecg_discord_test-")]
            test = hpcdl.get_frame(os.path.join(out, "frames", name))
            np.testing.assert_allclose(model.anomaly(test).column("Reconstruction.MSE"), errors, rtol=1e-12)
            assert model.run_info["ranks"] == comm.size
        except Exception as exc:  # noqa: BLE001 - reported on every rank
            error = repr(exc)
    error = comm.bcast(error, root=0)
    assert error is None, error
