"""predict, anomaly and deepfeatures all return frames named as H2O-3 names them, and leave no temporary files.

Column names checked against H2O-3's DeepLearningModel: ``Reconstruction.MSE``, ``reconstr_<coef>.SE``,
``DF.L<layer+1>.C<unit>``. Values are checked against a NumPy forward pass of the network's weights.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hpcdl
from hpcdl.frame import Frame, frame_from_numpy


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    rng = np.random.default_rng(5)
    cols = {"a": rng.normal(size=80), "b": rng.normal(size=80) * 3 + 1}
    frame = frame_from_numpy(cols, str(tmp_path_factory.mktemp("res") / "f.h5"))
    ae = hpcdl.deeplearning(
        x=["a", "b"], training_frame=frame, autoencoder=True, activation="Tanh", hidden=[3], epochs=3, seed=2,
        reproducible=True,
    )  # fmt: skip
    return frame, cols, ae


def _numpy_pass(model, cols):
    """Normalized inputs (an autoencoder's (x - mean) / (max - min)), the hidden layer and the
    reconstruction (the output layer has the hidden activation), from the weights alone."""
    x = np.column_stack([(cols[n] - cols[n].mean()) / np.ptp(cols[n]) for n in ("a", "b")])
    h = np.tanh(x @ model.net.weights(0).T.astype(np.float64) + model.net.biases(0))
    out = np.tanh(h @ model.net.weights(1).T.astype(np.float64) + model.net.biases(1))
    return x, h, out


def test_anomaly_and_deepfeatures_are_frames_with_h2o_names(setup):
    frame, cols, ae = setup
    x, h, out = _numpy_pass(ae, cols)
    mse = hpcdl.anomaly(ae, frame)
    assert isinstance(mse, Frame) and mse.names == ["Reconstruction.MSE"] and mse.nrow == 80
    np.testing.assert_allclose(mse.column("Reconstruction.MSE"), ((out - x) ** 2).mean(axis=1), rtol=1e-4, atol=1e-7)
    per = ae.anomaly(frame, per_feature=True)
    assert isinstance(per, Frame) and per.names == ["reconstr_a.SE", "reconstr_b.SE"]
    np.testing.assert_allclose(per.as_numpy(), (out - x) ** 2, rtol=1e-4, atol=1e-7)
    feats = hpcdl.deepfeatures(ae, frame, 0)
    assert isinstance(feats, Frame) and feats.names == ["DF.L1.C1", "DF.L1.C2", "DF.L1.C3"]
    np.testing.assert_allclose(feats.as_numpy(), h, atol=2e-6)
    assert isinstance(ae.predict(frame), Frame)


def test_results_with_a_destination_are_kept_there(setup, tmp_path):
    frame, _, ae = setup
    kept = ae.anomaly(frame, destination=str(tmp_path / "mse.h5"))
    assert kept.path == str(tmp_path / "mse.h5")
    del kept
    assert hpcdl.get_frame(str(tmp_path / "mse.h5")).names == ["Reconstruction.MSE"]


def test_unkept_results_leave_no_temporary_files(tmp_path):
    """Every result without a destination lives in one per-process directory, gone at exit."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    script = textwrap.dedent(
        """
        import gc, os, sys
        import numpy as np
        import hpcdl
        rng = np.random.default_rng(0)
        data = {"a": rng.normal(size=50), "y": rng.normal(size=50)}
        model = hpcdl.deeplearning(y="y", training_frame=data, hidden=[2], epochs=1, seed=1, reproducible=True,
                                   nfolds=2, keep_cross_validation_predictions=True)
        preds = model.predict(data)                      # numpy input: a temporary input frame too
        feats = model.deepfeatures(data, 0)
        holdout = model.cross_validation_holdout_predictions()
        dirs = [d for d in os.listdir(sys.argv[1]) if d.startswith("hpcdl-")]
        assert len(dirs) == 1, dirs                      # one directory per process, not one per call
        path = preds.path
        assert os.path.exists(path)
        del preds; gc.collect()
        assert not os.path.exists(path)                  # a result's file goes with its frame object
        if os.fork() == 0:                               # a forked child must not delete its parent's files
            sys.exit(0)
        os.wait()
        assert os.path.exists(feats.path) and os.path.exists(holdout.path)
        print("ok")
        """
    )
    env = {**os.environ, "TMPDIR": str(tmp), "HPCDL_NO_MPI": "1"}
    run = subprocess.run([sys.executable, "-c", script, str(tmp)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]
    assert [p for p in os.listdir(tmp) if p.startswith("hpcdl-")] == []
