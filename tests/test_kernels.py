"""Kernels against the NumPy reference (hpcdl/kernels/reference.py), and the reference
against finite differences of the objective."""

import numpy as np
import pytest
from kernel_hyper import make_hyper

from hpcdl.kernels import Net, hidden_activations, predict, row_loss, train
from hpcdl.kernels import reference as ref_mod
from hpcdl.kernels.reference import RefNet

ACTS = ("Tanh", "Rectifier", "Maxout")
OUTPUT_LOSSES = (
    ("softmax", "CrossEntropy"),
    ("softmax", "Quadratic"),
    ("linear", "Quadratic"),
    ("linear", "Huber"),
    ("linear", "Absolute"),
    ("linear", "Quantile"),
    ("autoencoder", "Quadratic"),
    ("autoencoder", "Huber"),
    ("autoencoder", "Absolute"),
)
N_IN = 6


def make_data(output, n=40, seed=0, zeros=0.3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_IN)).astype(np.float32)
    X[rng.random(X.shape) < zeros] = 0.0  # exact zeros exercise fast_mode's input skip
    if output == "softmax":
        T = rng.integers(0, 3, size=n).astype(np.float32)
    elif output == "linear":
        T = rng.normal(size=n).astype(np.float32)
    else:
        T = np.zeros(n, dtype=np.float32)
    return X, T


def make_net(activation, output, hyper, hidden=(5, 4), seed=1):
    n_out = {"softmax": 3, "linear": 1, "autoencoder": N_IN}[output]
    net = Net(
        [N_IN, *hidden, n_out],
        activation,
        output,
        adaptive_rate=hyper.adaptive_rate,
        momentum=hyper.has_momentum,
        adam=hyper.adam,
    )
    net.initialize(seed=seed)
    return net


def assert_same_state(net, ref, rtol=1e-5, atol=2e-6, what=""):
    for l in range(net.n_layers):
        np.testing.assert_allclose(net.weights(l), ref.W[l], rtol=rtol, atol=atol, err_msg=f"{what} W[{l}]")
        np.testing.assert_allclose(net.biases(l), ref.b[l], rtol=rtol, atol=atol, err_msg=f"{what} b[{l}]")
        for part, refpart in (("EgW", ref.EgW), ("EdW", ref.EdW), ("MW", ref.MW)):
            if refpart:
                got = getattr(net, part)[net.w_off[l] : net.w_off[l + 1]].reshape(ref.W[l].shape)
                np.testing.assert_allclose(got, refpart[l], rtol=rtol, atol=atol, err_msg=f"{what} {part}[{l}]")
        for part, refpart in (("EgB", ref.EgB), ("EdB", ref.EdB), ("MB", ref.MB)):
            if refpart:
                got = getattr(net, part)[net.b_off[l] : net.b_off[l + 1]]
                np.testing.assert_allclose(got, refpart[l], rtol=rtol, atol=atol, err_msg=f"{what} {part}[{l}]")
    if ref.AmW is not None:
        assert net.adam_steps[0] == ref.t, f"{what} Adam's step count"
        for l in range(net.n_layers):
            w, b = slice(net.w_off[l], net.w_off[l + 1]), slice(net.b_off[l], net.b_off[l + 1])
            for got, want, part in ((net.MW[w], ref.AmW, "m"), (net.EgW[w], ref.AvW, "v")):
                np.testing.assert_allclose(got, want[l].ravel(), rtol=rtol, atol=atol, err_msg=f"{what} W {part}[{l}]")
            for got, want, part in ((net.MB[b], ref.AmB, "m"), (net.EgB[b], ref.AvB, "v")):
                np.testing.assert_allclose(got, want[l], rtol=rtol, atol=atol, err_msg=f"{what} B {part}[{l}]")
    if ref.avg is not None:
        np.testing.assert_allclose(
            net.avg_activation,
            np.concatenate(ref.avg),
            rtol=rtol,
            atol=atol,
            err_msg=f"{what} avg",
        )


OPTIMIZERS = {
    "adadelta": {"adaptive_rate": True},
    "manual": {"adaptive_rate": False, "rate": 0.05, "rate_annealing": 0.01, "rate_decay": 0.7},
    "classic": {
        "adaptive_rate": False, "rate": 0.05, "rate_annealing": 0.001, "momentum_start": 0.5,
        "momentum_stable": 0.9, "momentum_ramp": 60, "nesterov_accelerated_gradient": False, "max_w2": 0.6,
    },
    "nesterov": {
        "adaptive_rate": False, "rate": 0.05, "rate_annealing": 0.001, "momentum_start": 0.5,
        "momentum_stable": 0.9, "momentum_ramp": 60, "nesterov_accelerated_gradient": True, "l1": 1e-3, "l2": 1e-2,
    },
    "adam": {
        "adaptive_rate": False, "optimizer": "Adam", "rate": 0.02, "rate_annealing": 0.001, "rate_decay": 0.8,
        "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-6, "weight_decay": 0.05, "l2": 1e-3, "max_w2": 0.6,
    },
}  # fmt: skip


def hyper_for(loss, output, optimizer, fast, dropout):
    kw = dict(OPTIMIZERS[optimizer])
    kw.update(loss=loss, fast_mode=fast, huber_delta=0.3, quantile_alpha=0.3)
    if dropout:
        kw.update(
            input_dropout_ratio=0.2, hidden_dropout_ratios=(0.3, 0.5), shared_dropout_masks=dropout != "independent"
        )
    if output == "autoencoder" and optimizer == "adadelta":
        kw.update(sparsity_beta=0.5, average_activation=0.1)
    if optimizer == "adadelta":
        kw.update(l1=1e-4, l2=1e-3)
    return make_hyper(**kw)


@pytest.mark.parametrize("n_threads", (1, 2))
@pytest.mark.parametrize("output,loss", OUTPUT_LOSSES)
@pytest.mark.parametrize("activation", ACTS)
def test_kernel_equals_reference_step_by_step(activation, output, loss, n_threads):
    """With 2 threads the team splits every layer (5 and 4 hidden units, 3, 1 or 6
    outputs: uneven halves, a member without an output row)."""
    X, T = make_data(output)
    rows = [3, 7, 1, 12]
    for optimizer in OPTIMIZERS:
        for fast in (True, False):
            for dropout in (False, True, "independent"):
                hyper = hyper_for(loss, output, optimizer, fast, dropout)
                net = make_net(activation, output, hyper)
                ref = RefNet.from_net(net)
                start = 40  # mid-way through the momentum ramp; annealing already active
                for k, r in enumerate(rows):
                    train(
                        net,
                        hyper,
                        X,
                        T,
                        [r],
                        seed=11,
                        samples_before=start + k,
                        n_threads=n_threads,
                    )
                    ref_mod.train_step(ref, hyper, X[r], T[r], seed=11, sample=start + k, n=start + k)
                    assert_same_state(
                        net,
                        ref,
                        what=f"{optimizer} fast={fast} dropout={dropout} step {k}",
                    )


@pytest.mark.parametrize("n_threads", (1, 2))
@pytest.mark.parametrize("activation", ACTS)
def test_one_call_equals_sample_by_sample(activation, n_threads):
    """samples_before + position drives the schedules and masks within one call."""
    hyper = hyper_for("CrossEntropy", "softmax", "classic", True, True)
    X, T = make_data("softmax")
    a = make_net(activation, "softmax", hyper)
    b = a.copy()
    rows = np.arange(10)
    # a team (on this small net the default is HOGWILD! threads on different rows, whose order varies)
    train(a, hyper, X, T, rows, seed=5, samples_before=20, n_threads=n_threads, team=True)
    for k, r in enumerate(rows):
        train(b, hyper, X, T, [r], seed=5, samples_before=20 + k, n_threads=n_threads, team=True)
    np.testing.assert_array_equal(a.buffer, b.buffer)


@pytest.mark.parametrize("output,loss", OUTPUT_LOSSES)
@pytest.mark.parametrize("activation", ACTS)
def test_gradient_finite_differences(activation, output, loss):
    """The reference gradient is the derivative of the documented objective, and the
    kernel's first plain-SGD step (fast_mode off) is -rate * that gradient."""
    X, T = make_data(output, zeros=0.0, seed=3)
    hyper = make_hyper(
        loss=loss,
        adaptive_rate=False,
        rate=0.01,
        rate_annealing=0.0,
        fast_mode=False,
        l1=1e-3,
        l2=1e-2,
        huber_delta=0.3,
        quantile_alpha=0.3,
    )
    net = make_net(activation, output, hyper, hidden=(4, 3), seed=2)
    ref = RefNet.from_net(net)
    x, t = X[0].astype(np.float64), float(T[0])
    gW, gb = ref_mod.gradients(ref, hyper, x, t)
    h = 1e-6
    for l in range(ref.n_layers):
        for params, grads in ((ref.W[l], gW[l]), (ref.b[l], gb[l])):
            flat, gflat = params.reshape(-1), grads.reshape(-1)
            for i in range(len(flat)):
                old = flat[i]
                flat[i] = old + h
                up = ref_mod.objective(ref, hyper, x, t)
                flat[i] = old - h
                down = ref_mod.objective(ref, hyper, x, t)
                flat[i] = old
                np.testing.assert_allclose(
                    gflat[i],
                    (up - down) / (2 * h),
                    rtol=1e-4,
                    atol=1e-6,
                    err_msg=f"layer {l} param {i}",
                )
    before = net.copy()
    train(net, hyper, X, T, [0], seed=0, samples_before=0, n_threads=1)
    for l in range(net.n_layers):
        np.testing.assert_allclose(
            net.weights(l) - before.weights(l),
            -hyper.rate * gW[l],
            rtol=1e-3,
            atol=2e-7,
        )
        np.testing.assert_allclose(net.biases(l) - before.biases(l), -hyper.rate * gb[l], rtol=1e-3, atol=2e-7)


# ------------------------------------------------------------------ optimizer formulas


def _first_step(hyper, samples_before, activation="Tanh", momentum_state=None):
    """Kernel weight change of one sample, and the objective gradient at the start."""
    X, T = make_data("linear", zeros=0.0, seed=4)
    net = make_net(activation, "linear", hyper, hidden=(4,), seed=3)
    if momentum_state is not None:
        net.MW[:] = momentum_state
    ref = RefNet.from_net(net)
    gW, _ = ref_mod.gradients(ref, hyper, X[0], float(T[0]))
    before = net.copy()
    train(net, hyper, X, T, [0], seed=0, samples_before=samples_before, n_threads=1)
    deltas = [net.weights(l).astype(np.float64) - before.weights(l) for l in range(net.n_layers)]
    return deltas, gW, before


def test_rate_annealing_and_decay_per_layer():
    hyper = make_hyper(
        loss="Quadratic",
        adaptive_rate=False,
        rate=0.02,
        rate_annealing=1e-3,
        rate_decay=0.5,
        fast_mode=False,
    )
    n = 500
    deltas, gW, _ = _first_step(hyper, n)
    rate_t = 0.02 / (1 + 1e-3 * n)
    for l, (dw, g) in enumerate(zip(deltas, gW)):
        np.testing.assert_allclose(dw, -rate_t * 0.5**l * g, rtol=1e-3, atol=1e-8)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_ramp_and_variants(nesterov):
    hyper = make_hyper(
        loss="Quadratic", adaptive_rate=False, rate=0.02, rate_annealing=0.0, fast_mode=False,
        momentum_start=0.2, momentum_stable=0.8, momentum_ramp=1000, nesterov_accelerated_gradient=nesterov,
    )  # fmt: skip
    n = 250
    mom = 0.2 + (0.8 - 0.2) * n / 1000
    assert hyper.momentum_at(n) == pytest.approx(mom)
    assert hyper.momentum_at(5000) == 0.8
    rng = np.random.default_rng(0)
    velocity = rng.normal(scale=0.1, size=(4 * 6 + 4,)).astype(np.float32)
    deltas, gW, before = _first_step(hyper, n, momentum_state=velocity)
    lr = 0.02 * (1 - mom)
    v = [before.MW[before.w_off[l] : before.w_off[l + 1]].reshape(g.shape) for l, g in enumerate(gW)]
    for l, (dw, g) in enumerate(zip(deltas, gW)):
        if nesterov:
            expected = lr * (mom * v[l] - g)
        else:
            expected = -lr * g + mom * v[l]
        np.testing.assert_allclose(dw, expected, rtol=1e-3, atol=1e-7)


def test_adadelta_first_step_formula():
    hyper = make_hyper(loss="Quadratic", adaptive_rate=True, rho=0.95, epsilon=1e-6, fast_mode=False)
    deltas, gW, _ = _first_step(hyper, 0)
    for dw, g in zip(deltas, gW):
        eg = 0.05 * g * g
        r = np.sqrt(1e-6 / (eg + 1e-6))
        np.testing.assert_allclose(dw, -r * g, rtol=1e-4, atol=1e-9)


def _adam(**kw):
    return make_hyper(
        loss="Quadratic", adaptive_rate=False, optimizer="Adam", rate_annealing=0.0, fast_mode=False, **kw
    )


def test_adam_first_step_is_rate_times_the_gradient_sign():
    """Bias-corrected, Adam's first step is rate * g / (|g| + eps) per weight, g the
    finite-difference-checked gradient; decoupled decay adds rate * weight_decay * w."""
    hyper = _adam(rate=0.01, epsilon=1e-8, weight_decay=0.1)
    deltas, gW, before = _first_step(hyper, 0)
    for l, (dw, g) in enumerate(zip(deltas, gW)):
        w = before.weights(l).astype(np.float64)
        np.testing.assert_allclose(dw, -0.01 * 0.1 * w - 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-3, atol=1e-7)


def test_adam_continues_from_the_step_count_in_the_buffer():
    """A late step (count 10,000 in the buffer) uses the stored moments with the bias
    corrections of step 10,001; the count advances by one per sample."""
    hyper = _adam(rate=0.01, beta1=0.8, beta2=0.9, epsilon=1e-6)
    X, T = make_data("linear", zeros=0.0, seed=4)
    net = make_net("Tanh", "linear", hyper, hidden=(4,), seed=3)
    rng = np.random.default_rng(0)
    net.MW[:] = rng.normal(scale=0.1, size=net.MW.shape)
    net.EgW[:] = rng.uniform(0.01, 0.1, size=net.EgW.shape)
    net.adam_steps[0] = 10_000
    gW, _ = ref_mod.gradients(RefNet.from_net(net), hyper, X[0], float(T[0]))
    before = net.copy()
    train(net, hyper, X, T, [0, 0], seed=0, samples_before=0, n_threads=1, mini_batch_size=2)
    assert net.adam_steps[0] == 10_001
    c1, c2 = 1 - 0.8**10_001, 1 - 0.9**10_001
    for l, g in enumerate(gW):
        w = slice(net.w_off[l], net.w_off[l + 1])
        m = 0.8 * before.MW[w].reshape(g.shape) + 0.2 * g
        v = 0.9 * before.EgW[w].reshape(g.shape) + 0.1 * g * g
        expected = -0.01 / c1 * m / (np.sqrt(v / c2) + 1e-6)
        np.testing.assert_allclose(net.weights(l) - before.weights(l), expected, rtol=1e-3, atol=1e-7)
    train(net, hyper, X, T, np.arange(11), seed=0, samples_before=2, n_threads=2, mini_batch_size=4)
    assert net.adam_steps[0] == 10_001 + 2 + 2  # two threads, blocks of 5 and 6 rows, batches of up to 4


@pytest.mark.parametrize("batch, engine", [(1, "auto"), (4, "blas"), (4, "loop")])
def test_adam_step_count_advances_inside_a_call(batch, engine):
    """The bias corrections follow the updates taken, not the calls: within one call the k-th
    update uses step adam_steps + k (per sample and per mini-batch), so one call over 8 updates
    leaves the same bits as 8 calls of one update each, whose counts come from the buffer."""
    hyper = _adam(rate=0.01, beta1=0.8, beta2=0.9, epsilon=1e-6)
    X, T = make_data("linear", n=32, seed=4)
    one, many = (make_net("Tanh", "linear", hyper, seed=3) for _ in range(2))
    train(
        one,
        hyper,
        X,
        T,
        np.arange(8 * batch),
        seed=0,
        samples_before=0,
        n_threads=1,
        mini_batch_size=batch,
        engine=engine,
    )
    for k in range(8):
        rows = np.arange(k * batch, (k + 1) * batch)
        train(
            many, hyper, X, T, rows, seed=0, samples_before=k * batch, n_threads=1, mini_batch_size=batch, engine=engine
        )
    assert one.adam_steps[0] == many.adam_steps[0] == 8
    np.testing.assert_array_equal(one.buffer, many.buffer)


def test_fast_mode_leaves_zero_inputs_untouched():
    hyper = make_hyper(loss="Quadratic", adaptive_rate=True, fast_mode=True, l2=0.1)
    X, T = make_data("linear", zeros=0.0)
    X[0, :3] = 0.0
    net = make_net("Rectifier", "linear", hyper, hidden=(4,))
    before = net.copy()
    train(net, hyper, X, T, [0], seed=0, samples_before=0, n_threads=1)
    assert np.array_equal(net.weights(0)[:, :3], before.weights(0)[:, :3])
    assert np.all(net.EgW[: net.w_off[1]].reshape(4, N_IN)[:, :3] == 0)
    changed = net.weights(0)[:, 3:] != before.weights(0)[:, 3:]
    assert changed.any()


def test_max_w2_bounds_every_updated_row():
    hyper = make_hyper(
        loss="CrossEntropy",
        adaptive_rate=False,
        rate=0.5,
        rate_annealing=0.0,
        max_w2=0.3,
        fast_mode=False,
    )
    X, T = make_data("softmax")
    for activation in ACTS:
        net = make_net(activation, "softmax", hyper)
        assert max((net.weights(l) ** 2).sum(axis=1).max() for l in range(net.n_layers)) > 0.3
        train(net, hyper, X, T, np.arange(20), seed=0, samples_before=0, n_threads=1)
        for l in range(net.n_layers):
            assert (net.weights(l).astype(np.float64) ** 2).sum(axis=1).max() <= 0.3 * (1 + 1e-5)


# ------------------------------------------------------------------ dropout and reproducibility


def test_dropout_uniforms_are_keyed_and_uniform():
    u = ref_mod.dropout_uniforms(7, 123, 2, 20000)
    assert np.array_equal(u, ref_mod.dropout_uniforms(7, 123, 2, 20000))
    assert not np.array_equal(u, ref_mod.dropout_uniforms(8, 123, 2, 20000))
    assert not np.array_equal(u, ref_mod.dropout_uniforms(7, 124, 2, 20000))
    assert not np.array_equal(u, ref_mod.dropout_uniforms(7, 123, 1, 20000))
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01 and abs((u < 0.3).mean() - 0.3) < 0.01


def test_shared_hidden_masks_drop_the_same_units_in_every_layer():
    """H2O-3 seeds every hidden layer's mask alike: unit j is dropped in all layers or none."""
    ref = RefNet.from_net(Net([N_IN, 64, 64, 64, 3], "Rectifier", "softmax", adaptive_rate=True, momentum=False))
    for shared in (True, False):
        hyper = make_hyper(input_dropout_ratio=0.2, hidden_dropout_ratios=(0.5, 0.5, 0.5), shared_dropout_masks=shared)
        same = []
        for sample in range(50):
            inp, hidden = ref_mod.dropout_keeps(ref, hyper, seed=5, sample=sample, n_inputs=N_IN)
            assert 0.2 < hidden[0].mean() < 0.8
            same.append(np.array_equal(hidden[0], hidden[1]) and np.array_equal(hidden[1], hidden[2]))
        assert all(same) if shared else not any(same)


def test_single_thread_training_is_bit_reproducible():
    hyper = make_hyper(loss="CrossEntropy", input_dropout_ratio=0.1, hidden_dropout_ratios=(0.5, 0.5))
    X, T = make_data("softmax", n=200)
    rows = np.random.default_rng(0).permutation(200)
    nets = []
    for seed in (3, 3, 4):
        net = make_net("Rectifier", "softmax", hyper)
        train(net, hyper, X, T, rows, seed=seed, samples_before=0, n_threads=1)
        nets.append(net)
    assert np.array_equal(nets[0].buffer, nets[1].buffer)
    assert not np.array_equal(nets[0].buffer, nets[2].buffer)


@pytest.mark.parametrize("activation", ACTS)
def test_two_thread_hogwild_learns(activation):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, N_IN)).astype(np.float32)
    T = (X[:, 0] - X[:, 1] + 0.5 * X[:, 2] > 0).astype(np.float32)
    hyper = make_hyper(loss="CrossEntropy")
    net = Net([N_IN, 16, 16, 2], activation, "softmax", adaptive_rate=True, momentum=False)
    net.initialize(seed=0)
    before = row_loss(net, hyper, X, T).mean()
    for epoch in range(3):
        train(
            net,
            hyper,
            X,
            T,
            rng.permutation(2000),
            seed=1,
            samples_before=2000 * epoch,
            n_threads=2,
        )
    after = row_loss(net, hyper, X, T).mean()
    assert after < 0.25 * before and after < 0.2
    assert (predict(net, hyper, X).argmax(axis=1) == T).mean() > 0.95


# ------------------------------------------------------------------ inference


@pytest.mark.parametrize(
    "output,loss",
    [("softmax", "CrossEntropy"), ("linear", "Huber"), ("autoencoder", "Quadratic")],
)
@pytest.mark.parametrize("activation", ACTS)
def test_predict_and_row_loss_match_reference(activation, output, loss):
    hyper = make_hyper(loss=loss, huber_delta=0.3, hidden_dropout_ratios=(0.5, 0.2))
    X, T = make_data(output, n=57)
    net = make_net(activation, output, hyper)
    ref = RefNet.from_net(net)
    np.testing.assert_allclose(predict(net, hyper, X), ref_mod.predict(ref, hyper, X), rtol=1e-5, atol=1e-6)
    scale = [0.5, 0.8]
    expected = []
    for x, t in zip(X, T):
        acts, winners = ref_mod.forward(ref, x, scale)
        expected.append(ref_mod.loss_and_output_delta(ref, hyper, acts, winners, t, x)[0])
    np.testing.assert_allclose(row_loss(net, hyper, X, T), expected, rtol=1e-4, atol=1e-6)


def test_hidden_activations_scaled_by_keep_probability():
    X, _ = make_data("softmax", n=30)
    plain = make_hyper()
    dropped = make_hyper(hidden_dropout_ratios=(0.5, 0.25))
    net = make_net("Tanh", "softmax", plain)
    for layer, keep in ((0, 0.5), (1, 0.75)):
        without = hidden_activations(net, plain, X, layer)
        assert without.shape == (30, net.units[layer + 1])
        if layer == 0:
            np.testing.assert_allclose(hidden_activations(net, dropped, X, 0), keep * without, rtol=1e-6)
    ref = RefNet.from_net(net)
    acts = [ref_mod.forward(ref, x, [0.5, 0.75])[0][2] for x in X]
    np.testing.assert_allclose(hidden_activations(net, dropped, X, 1), acts, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ mini-batch


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_minibatch_equals_averaged_gradient_reference(activation, optimizer):
    for output, loss in (("softmax", "CrossEntropy"), ("autoencoder", "Quadratic")):
        for fast, dropout in ((True, True), (False, False)):
            hyper = hyper_for(loss, output, optimizer, fast, dropout)
            X, T = make_data(output)
            net = make_net(activation, output, hyper)
            ref = RefNet.from_net(net)
            rows = np.arange(11)
            train(
                net,
                hyper,
                X,
                T,
                rows,
                seed=2,
                samples_before=30,
                n_threads=1,
                mini_batch_size=4,
            )
            for k0 in range(0, 11, 4):
                batch = rows[k0 : k0 + 4]
                ref_mod.minibatch_step(
                    ref,
                    hyper,
                    X[batch],
                    T[batch],
                    seed=2,
                    first_sample=30 + k0,
                    n=30 + k0,
                )
            assert_same_state(net, ref, what=f"{output} {optimizer} fast={fast}")


def test_hyper_validation():
    net = Net([3, 2, 2], "Tanh", "softmax", adaptive_rate=False, momentum=False)
    X, T = make_data("softmax")
    with pytest.raises(ValueError):
        train(net, make_hyper(), X[:, :3], T, [0], seed=0, samples_before=0, n_threads=1)  # no ADADELTA state
    with pytest.raises(ValueError):
        train(
            net,
            make_hyper(adaptive_rate=False, loss="Huber"),
            X[:, :3],
            T,
            [0],
            seed=0,
            samples_before=0,
            n_threads=1,
        )
    with pytest.raises(ValueError):  # one hidden layer, two ratios
        predict(net, make_hyper(hidden_dropout_ratios=(0.5, 0.5)), X[:, :3])
    with pytest.raises(ValueError):  # sparsity is for autoencoders
        train(
            net,
            make_hyper(adaptive_rate=False, sparsity_beta=0.1),
            X[:, :3],
            T,
            [0],
            seed=0,
            samples_before=0,
            n_threads=1,
        )


def test_per_sample_tree_compiles_without_reference_counts():
    """train_rows and the kernels under it are compiled with NRT off (_core.NO_RC): reference
    counting on every call was ~30% of a hidden=[32] sample (docs/performance.md, "Small nets",
    item 5). Their arrays are borrowed, so none of them may allocate or return an array."""
    from hpcdl.kernels import _core

    tree = (_core.train_rows, _core.prepare_sample, _core.forward_part, _core.backward_part, _core._rows)
    tree += (_core.update_row, _core._row_adadelta, _core.update_biases, _core.hidden_delta, _core.output_delta)
    for kernel in tree:
        assert kernel.targetoptions.get("_nrt") is False, kernel.py_func.__name__
    # the kernels that hand arrays to counting callers keep their counts
    for kernel in (_core.scratch_of, _core.scratch, _core.scratches, _core.team_buffers):
        assert kernel.targetoptions.get("_nrt", True) is not False, kernel.py_func.__name__
