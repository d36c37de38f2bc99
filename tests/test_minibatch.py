"""The BLAS mini-batch path (hpcdl/kernels/minibatch.py) against the NumPy reference's
minibatch_step (hpcdl/kernels/reference.py) and against the plain-loop mini-batch path."""

import numpy as np
import pytest

pytest.importorskip("scipy")

from kernel_hyper import make_hyper
from test_kernels import (
    ACTS,
    OPTIMIZERS,
    assert_same_state,
    hyper_for,
    make_data,
    make_net,
)

from hpcdl import threads
from hpcdl.kernels import Net, predict, train
from hpcdl.kernels import reference as ref_mod
from hpcdl.kernels.reference import RefNet

CASES = (
    ("softmax", "CrossEntropy"),
    ("softmax", "Quadratic"),
    ("linear", "Huber"),
    ("linear", "Quantile"),
    ("autoencoder", "Quadratic"),
    ("autoencoder", "Absolute"),
)


def run_reference(ref, hyper, X, T, rows, batch, seed, start):
    for k0 in range(0, len(rows), batch):
        b = rows[k0 : k0 + batch]
        ref_mod.minibatch_step(ref, hyper, X[b], T[b], seed=seed, first_sample=start + k0, n=start + k0)


@pytest.mark.parametrize("output,loss", CASES)
@pytest.mark.parametrize("activation", ACTS)
def test_blas_minibatch_equals_reference(activation, output, loss):
    """Every optimizer, fast_mode on/off, dropout on/off, a partial last batch."""
    X, T = make_data(output, seed=3)
    rows = np.array([5, 0, 9, 13, 2, 30, 7, 8, 21, 11, 4])  # batches of 4, 4, 3
    for optimizer in OPTIMIZERS:
        for fast, dropout in ((True, True), (False, False), (False, True), (True, "independent")):
            hyper = hyper_for(loss, output, optimizer, fast, dropout)
            net = make_net(activation, output, hyper)
            ref = RefNet.from_net(net)
            train(net, hyper, X, T, rows, seed=4, samples_before=25, n_threads=1, mini_batch_size=4, engine="blas")
            run_reference(ref, hyper, X, T, rows, 4, seed=4, start=25)
            assert_same_state(net, ref, what=f"{optimizer} fast={fast} dropout={dropout}")


def test_blas_equals_loop_path_on_a_wider_net():
    """784-wide inputs, three hidden layers, batch 32: the two engines agree (only the
    summation order inside the matrix products differs)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 784)).astype(np.float32)
    T = rng.integers(0, 10, size=256).astype(np.float32)
    hyper = make_hyper(input_dropout_ratio=0.2, hidden_dropout_ratios=(0.5, 0.5, 0.5), l1=1e-5)
    a = Net([784, 64, 48, 32, 10], "Rectifier", "softmax", adaptive_rate=True, momentum=False)
    a.initialize(seed=7)
    b = a.copy()
    rows = rng.permutation(256)
    train(a, hyper, X, T, rows, seed=1, samples_before=0, n_threads=1, mini_batch_size=32, engine="blas")
    train(b, hyper, X, T, rows, seed=1, samples_before=0, n_threads=1, mini_batch_size=32, engine="loop")
    assert not np.array_equal(a.buffer[: len(a.W)], np.zeros(len(a.W)))
    np.testing.assert_allclose(a.W, b.W, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.B, b.B, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.EgW, b.EgW, rtol=1e-3, atol=1e-9)


def test_one_sample_batches_of_blas_path_equal_reference_training_steps():
    """mini_batch_size=B with B rows per call and the per-sample reference step agree when
    every batch holds one row (B > 1 requested, one row given: the batch is that row)."""
    hyper = hyper_for("CrossEntropy", "softmax", "nesterov", True, True)
    X, T = make_data("softmax")
    net = make_net("Tanh", "softmax", hyper)
    ref = RefNet.from_net(net)
    for k, r in enumerate([3, 17, 5]):
        train(net, hyper, X, T, [r], seed=9, samples_before=50 + k, n_threads=1, mini_batch_size=8, engine="blas")
        ref_mod.train_step(ref, hyper, X[r], T[r], seed=9, sample=50 + k, n=50 + k)
    assert_same_state(net, ref, what="one-row batches")


def test_two_thread_blas_hogwild_learns_and_restores_blas_threads():
    rng = np.random.default_rng(1)
    n, d = 4000, 30
    X = rng.normal(size=(n, d)).astype(np.float32)
    teacher = rng.normal(size=(d, 4))
    T = (X @ teacher).argmax(axis=1).astype(np.float32)
    hyper = make_hyper(hidden_dropout_ratios=(0.1,))
    net = Net([d, 64, 4], "Rectifier", "softmax", adaptive_rate=True, momentum=False)
    net.initialize(seed=3)
    before = threads.blas_thread_counts()
    for epoch in range(4):
        train(
            net,
            hyper,
            X[:3000],
            T[:3000],
            rng.permutation(3000),
            seed=epoch,
            samples_before=epoch * 3000,
            n_threads=2,
            mini_batch_size=16,
        )
    assert threads.blas_thread_counts() == before
    accuracy = (predict(net, hyper, X[3000:]).argmax(axis=1) == T[3000:]).mean()
    assert accuracy > 0.85, accuracy  # a linear teacher; chance is 0.25


def test_blas_threads_context_pins_and_restores():
    before = threads.blas_thread_counts()
    if not before:
        pytest.skip("no BLAS with a thread-count API in this process")
    with threads.blas_threads(1):
        assert threads.blas_thread_counts() == [1] * len(before)
    assert threads.blas_thread_counts() == before


def test_engine_is_validated():
    hyper = make_hyper()
    net = Net([6, 3, 3], "Tanh", "softmax", adaptive_rate=True, momentum=False)
    X, T = make_data("softmax")
    with pytest.raises(ValueError, match="engine"):
        train(net, hyper, X, T, [0, 1], seed=0, samples_before=0, n_threads=1, mini_batch_size=2, engine="gpu")


@pytest.mark.parametrize("activation", ACTS)
def test_batched_inference_equals_reference(activation):
    """predict(engine="blas") (the trainer's scoring) against the NumPy twin: hidden layers
    scaled by their keep probability, every output kind, more rows than blocks."""
    for output, loss in (("softmax", "CrossEntropy"), ("linear", "Quadratic"), ("autoencoder", "Quadratic")):
        hyper = make_hyper(loss=loss, hidden_dropout_ratios=(0.5, 0.25))
        X, _ = make_data(output, n=37)
        net = make_net(activation, output, hyper)
        want = ref_mod.predict(RefNet.from_net(net), hyper, X)
        got = predict(net, hyper, X, engine="blas")
        np.testing.assert_allclose(got, want.reshape(got.shape), rtol=1e-5, atol=1e-6, err_msg=f"{output}")
