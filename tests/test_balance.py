"""Class balancing in training: balanced row counts, probabilities corrected back to the original priors."""

import numpy as np
import pytest

import hpcdl
from hpcdl.frame import frame_from_numpy
from hpcdl.prep import balance_classes


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory):
    """2,000 rows, exactly 10% positives, two weakly informative features."""
    rng = np.random.default_rng(0)
    n = 2000
    y = np.zeros(n, dtype=int)
    y[rng.choice(n, 200, replace=False)] = 1
    X = rng.normal(size=(n, 2)) + 0.8 * y[:, None]
    d = tmp_path_factory.mktemp("bal")
    frame = frame_from_numpy({"u": X[:, 0], "v": X[:, 1], "y": np.array(["neg", "pos"])[y]}, str(d / "f.h5"))
    return frame, y


def test_balance_counts_as_asked():
    y = np.repeat([0, 1], [1800, 200])
    rows, prior, sampled = balance_classes(y, 2, seed=3)  # equalize: minority ratio 9, majority 1
    np.testing.assert_array_equal(np.bincount(y[rows]), [1800, 1800])
    np.testing.assert_allclose(prior, [0.9, 0.1])
    np.testing.assert_allclose(sampled, [0.5, 0.5])
    rows, _, _ = balance_classes(y, 2, class_sampling_factors=[0.5, 3.0], seed=3)
    after = np.bincount(y[rows])
    assert after[1] == 600  # whole ratio: every minority row exactly 3 times
    assert abs(after[0] - 900) < 4 * np.sqrt(1800 * 0.25)  # each majority row kept with probability 1/2
    rows, _, _ = balance_classes(y, 2, max_after_balance_size=1.2, seed=3)  # 3,600 capped to 2,400
    after = np.bincount(y[rows])
    assert after[1] == 1200  # ratios scaled by 2/3: 9 -> 6
    assert abs(after[0] - 1200) < 4 * np.sqrt(1800 * 2 / 9)
    assert abs(after.sum() - 2400) < 4 * np.sqrt(1800 * 2 / 9)


def test_training_on_balanced_rows_and_probabilities_back_to_priors(imbalanced):
    frame, _ = imbalanced
    m = hpcdl.deeplearning(
        y="y",
        training_frame=frame,
        balance_classes=True,
        hidden=[8],
        epochs=5,
        seed=1,
        threads=1,
        score_training_samples=0,
        stopping_rounds=0,
    )
    info = m.run_info
    assert info["n_training_rows"] == 3600  # 1,800 + 200 x 9: one epoch is the balanced frame
    np.testing.assert_allclose(info["class_prior"], [0.9, 0.1])
    np.testing.assert_allclose(info["class_sampled_prior"], [0.5, 0.5])
    assert m.training_metrics["nobs"] == 2000  # training metrics on the original rows (see docs)

    X, _, _ = m.dinfo.transform(frame, 0, frame.nrow)
    raw = m._raw_outputs(X)  # the network's own probabilities, learned on balanced classes
    p = m.predict(frame).as_data_frame()["pos"].to_numpy()
    # the correction, computed here: p_k * prior_k / sampled_k, renormalized
    w = raw * np.array([0.9, 0.1]) / np.array([0.5, 0.5])
    np.testing.assert_allclose(p, w[:, 1] / w.sum(axis=1), rtol=1e-6, atol=1e-9)
    assert raw[:, 1].mean() > 0.3  # balanced training pushes the raw positive rate up ...
    # ... and the correction brings it back to the 10% prior (seeds 1-6 gave 0.10-0.14: every
    # iteration trains a fresh random sample of the rows, as H2O's does; uncorrected it is > 0.3)
    assert abs(p.mean() - 0.1) < 0.05
    # ranking is unchanged by the correction (it is monotone in p1 for two classes)
    assert np.array_equal(np.argsort(raw[:, 1], kind="stable"), np.argsort(p, kind="stable"))
    # without balancing the model also predicts near the prior: both agree on the base rate
    plain = hpcdl.deeplearning(y="y", training_frame=frame, hidden=[8], epochs=5, seed=1, threads=1, stopping_rounds=0)
    assert abs(plain.predict(frame).as_data_frame()["pos"].to_numpy().mean() - 0.1) < 0.03


def test_balance_classes_with_factors_and_cap_in_training(imbalanced):
    frame, _ = imbalanced
    m = hpcdl.deeplearning(
        y="y",
        training_frame=frame,
        balance_classes=True,
        class_sampling_factors=[1.0, 4.0],
        hidden=[4],
        epochs=1,
        seed=2,
        threads=1,
    )
    assert m.run_info["n_training_rows"] == 1800 + 800
    np.testing.assert_allclose(m.run_info["class_sampled_prior"], [1800 / 2600, 800 / 2600])
    m = hpcdl.deeplearning(
        y="y",
        training_frame=frame,
        balance_classes=True,
        max_after_balance_size=0.5,
        hidden=[4],
        epochs=1,
        seed=2,
        threads=1,
    )
    assert abs(m.run_info["n_training_rows"] - 1000) < 4 * np.sqrt(1800 * 0.25)  # under-sampled to 0.5 x rows
    assert m.run_info["class_sampled_prior"][1] == pytest.approx(0.5, abs=0.05)


def test_balance_classes_needs_classification(tmp_path):
    reg = frame_from_numpy({"a": np.arange(30.0), "t": np.arange(30.0) * 2}, str(tmp_path / "r.h5"))
    with pytest.raises(hpcdl.ParameterError, match="balance_classes"):
        hpcdl.deeplearning(y="t", training_frame=reg, balance_classes=True, epochs=1)
    with pytest.raises(hpcdl.ParameterError, match="class_sampling_factors"):
        hpcdl.deeplearning(y="t", training_frame=reg, class_sampling_factors=[1.0, 2.0], epochs=1)
