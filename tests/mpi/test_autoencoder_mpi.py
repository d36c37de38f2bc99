"""The booklet's ECG anomaly detection (section 4.2) trained on several MPI ranks.

Each rank trains on its shard of the 20 good heartbeats (10/10 rows on 2 ranks, 7/7/6 on 3)
and the averaged model must still give the three appended bad heartbeats of the test file the
three largest reconstruction errors, clearly apart; every rank must hold the same model.
"""

import os

import numpy as np
import pytest
from collective import assert_all, assert_same, checked, on_rank0

import hpcdl

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATASETS = os.path.join(REPO, "hpcdl", "datasets")
ECG_JOB = os.path.join(REPO, "jobs", "ecg_anomaly.toml")
BOOKLET = {"autoencoder": True, "activation": "Tanh", "hidden": [50, 20, 50], "l1": 1e-4, "epochs": 100}
ECG_GAP = 100.0  # serial runs reach >= 340x; see tests/test_autoencoder.py


def _ecg_frames(comm, directory):
    """Rank 0 imports both CSV files (no header: C1..C210); every rank opens the frames."""

    def make():
        for name in ("train", "test"):
            hpcdl.import_file(
                os.path.join(DATASETS, f"ecg_discord_{name}.csv"), destination=os.path.join(directory, f"{name}.h5")
            )

    on_rank0(comm, make)
    return hpcdl.get_frame(os.path.join(directory, "train.h5")), hpcdl.get_frame(os.path.join(directory, "test.h5"))


def _three_appended_rows_stand_out(errors):
    """A check (plain asserts) for collective.checked."""
    errors = np.asarray(errors)
    assert errors.shape == (23,), errors.shape
    assert set(np.argsort(-errors)[:3]) == {20, 21, 22}, np.argsort(-errors)[:3]
    assert errors[20:].min() > ECG_GAP * errors[:20].max(), (errors[20:].min(), errors[:20].max())


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("reproducible", [True, False])
def test_ecg_anomalies_found_by_a_model_averaged_over_ranks(comm, shared_dir, reproducible):
    train, test = _ecg_frames(comm, shared_dir)
    model = hpcdl.deeplearning(training_frame=train, seed=42, reproducible=reproducible, threads=1, **BOOKLET)
    assert_all(comm, model.run_info["ranks"] == comm.size, f"ranks {model.run_info['ranks']}")
    assert_same(comm, float(np.sum(model.net.buffer.astype(np.float64))), "the averaged model's weight sum")
    errors = hpcdl.anomaly(model, test).column("Reconstruction.MSE")
    checked(comm, lambda: _three_appended_rows_stand_out(errors))
    assert_all(comm, np.array_equal(comm.bcast(errors, root=0), errors), "errors differ from rank 0's")


@pytest.mark.mpi(min_size=2)
def test_ecg_job_under_mpi_writes_the_anomaly_table(comm, shared_dir):
    from hpcdl import cli

    out = shared_dir
    code = cli.main(["train", ECG_JOB, "--output-dir", out, "--quiet", "--threads", "1"])
    assert_all(comm, code == 0, f"exit code {code}")

    def check_rank0_files():  # rank 0 alone scored and wrote
        with open(os.path.join(out, "ecg_anomaly_anomaly.csv")) as fh:
            lines = fh.read().split()
        assert lines[0] == "Reconstruction.MSE"
        errors = np.array(lines[1:], dtype=np.float64)
        _three_appended_rows_stand_out(errors)
        model = hpcdl.load_model(os.path.join(out, "ecg_anomaly.h5"))
        (name,) = [n for n in os.listdir(os.path.join(out, "frames")) if n.startswith("ecg_discord_test-")]
        test = hpcdl.get_frame(os.path.join(out, "frames", name))
        np.testing.assert_allclose(model.anomaly(test).column("Reconstruction.MSE"), errors, rtol=1e-12)
        assert model.run_info["ranks"] == comm.size

    on_rank0(comm, check_rank0_files)
