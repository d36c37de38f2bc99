"""The per-sample engine's team of threads (hpcdl/kernels/_core.py, docs/kernels.md
"Threads"): every thread trains every sample, each on its own slice of every layer,
so the result is the one-thread algorithm, checked against the NumPy reference."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from kernel_hyper import make_hyper
from test_kernels import assert_same_state, hyper_for, make_data

from hpcdl import kernels
from hpcdl.kernels import Net, row_loss, train
from hpcdl.kernels import reference as ref_mod
from hpcdl.kernels._core import SOLO_CHECK_EVERY, SOLO_EARLIEST, split_units, unit_range
from hpcdl.kernels.reference import RefNet

NETS = [[784, 200, 200, 200, 10], [784, 1024, 1024, 10], [6, 40, 24, 3], [5, 7, 3], [13, 1000, 63, 1]]


@pytest.mark.parametrize("units", NETS)
@pytest.mark.parametrize("members", [1, 2, 3, 4])
@pytest.mark.parametrize("activation", ["Rectifier", "Maxout"])
def test_split_units_covers_each_layer_once_nearly_evenly(units, members, activation):
    net = Net(units, activation, "linear" if units[-1] == 1 else "softmax", adaptive_rate=True, momentum=False)
    split = split_units(kernels._layout(net), members)
    for h, n in enumerate(units):
        ranges = sorted(unit_range(split, h, t, members) for t in range(members))
        assert ranges[0][0] == 0 and ranges[-1][1] == n
        for (lo, hi), (next_lo, _) in zip(ranges, ranges[1:]):
            assert lo <= hi == next_lo
        for t in range(1, members):  # a boundary moves off the even split by at most max(n // 16, 8) units
            assert abs(split[h, t] - (n * t) // members) <= max(n // 16, 8)


def _lines(arr, lo, hi):
    """The 64-byte cache lines of arr[lo:hi] (float32), by address."""
    base = arr.ctypes.data
    return set(range((base + 4 * lo) // 64, (base + 4 * hi - 1) // 64 + 1)) if hi > lo else set()


@pytest.mark.parametrize("units", [[784, 200, 200, 200, 10], [784, 1024, 1024, 10], [784, 200, 200, 10]])
@pytest.mark.parametrize("adaptive_rate", [True, False])
def test_team_members_write_no_common_cache_line(units, adaptive_rate):
    """Per sample a member writes the weight rows and their optimizer state of its own
    units; on the Fashion-MNIST nets no cache line of them is written by both members
    (by address: the buffer's own alignment counts), and each member has at most 2 units
    more than the other in every layer."""
    net = Net(units, "Rectifier", "softmax", adaptive_rate=adaptive_rate, momentum=not adaptive_rate)
    lay = kernels._layout(net)
    split = split_units(lay, 2)
    for name in ("W", "EgW", "EdW") if adaptive_rate else ("W", "MW"):
        arr = getattr(net, name)
        written = [set(), set()]
        for l in range(len(units) - 1):
            for t in range(2):
                j0, j1 = unit_range(split, l + 1, t, 2)
                written[t] |= _lines(arr, net.w_off[l] + j0 * units[l], net.w_off[l] + j1 * units[l])
        assert not written[0] & written[1], f"{units} {name}: lines written by both members"
    for h in range(1, len(units)):
        sizes = [hi - lo for lo, hi in (unit_range(split, h, t, 2) for t in range(2))]
        assert abs(sizes[0] - sizes[1]) <= 2, f"{units} layer {h}: {sizes}"


def test_state_parts_start_on_128_byte_boundaries_and_copies_keep_them():
    net = Net([13, 7, 5, 3], "Rectifier", "softmax", adaptive_rate=True, momentum=True)
    for n in (net, net.copy()):
        for name in ("W", "B", "EgW", "EdW", "EgB", "EdB", "MW", "MB"):
            assert getattr(n, name).ctypes.data % 128 == 0, name


CASES = [
    ("Rectifier", "softmax", "CrossEntropy", "adadelta", True),
    ("Tanh", "softmax", "Quadratic", "nesterov", True),
    ("Maxout", "softmax", "CrossEntropy", "classic", "independent"),
    ("Rectifier", "linear", "Huber", "manual", True),
    ("Maxout", "autoencoder", "Quadratic", "adadelta", True),  # sparse autoencoder (sparsity_beta)
    ("Tanh", "autoencoder", "Absolute", "adadelta", False),
]


@pytest.mark.parametrize("activation,output,loss,optimizer,dropout", CASES)
def test_two_threads_over_many_rows_equal_the_reference(activation, output, loss, optimizer, dropout):
    """One call, 30 rows: the barriers between layers and samples keep every member's
    reads after the others' writes (a race shows up here as a mismatch)."""
    X, T = make_data(output, n=60, seed=2)
    hyper = hyper_for(loss, output, optimizer, True, dropout)
    n_out = {"softmax": 3, "linear": 1, "autoencoder": 6}[output]
    net = Net([6, 40, 24, n_out], activation, output, adaptive_rate=hyper.adaptive_rate, momentum=hyper.has_momentum)
    net.initialize(seed=3)
    ref = RefNet.from_net(net)
    rows = np.random.default_rng(4).permutation(60)[: SOLO_CHECK_EVERY - 2]
    together = train(net, hyper, X, T, rows, seed=7, samples_before=100, n_threads=2, team=True)
    assert together == len(rows)
    for k, r in enumerate(rows):
        ref_mod.train_step(ref, hyper, X[r], T[r], seed=7, sample=100 + k, n=100 + k)
    assert_same_state(net, ref, rtol=1e-4, atol=1e-5, what=f"{activation} {output} {optimizer}")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_a_team_on_one_core_goes_on_alone():
    """Two threads pinned to one core wait a scheduler time slice at every barrier: the
    team notices at its first two checks and member 0 trains the rest alone; the result is
    still the one-thread algorithm."""
    script = textwrap.dedent(
        """
        import os, sys
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        import numpy as np
        from hpcdl.kernels import Net, train
        from hpcdl.model import hyper_from_params
        from hpcdl.params import record_from_dict
        rng = np.random.default_rng(0)
        X = rng.normal(size=(1500, 12)).astype(np.float32)  # more rows than the earliest fallback
        T = rng.integers(0, 3, size=1500).astype(np.float32)
        eff = {"loss": "CrossEntropy", "hidden": [20, 16], "hidden_dropout_ratios": [0.2, 0.2]}
        hyper = hyper_from_params(record_from_dict(eff))
        one = Net([12, 20, 16, 3], "Rectifier", "softmax", adaptive_rate=True, momentum=False)
        one.initialize(seed=1)
        two = one.copy()
        train(one, hyper, X, T, np.arange(1500), seed=3, samples_before=0, n_threads=1)
        together = train(two, hyper, X, T, np.arange(1500), seed=3, samples_before=0, n_threads=2, team=True)
        np.testing.assert_allclose(two.buffer, one.buffer, rtol=1e-4, atol=1e-6)
        print("TOGETHER", together)
        """
    )
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"TOGETHER {SOLO_EARLIEST}" in proc.stdout, proc.stdout


def test_two_thread_team_learns_a_wide_net():
    """Layers wide enough for cache-line-aligned slices (unit_range), 2 threads, many
    rows (with solo checks on the way): training converges like one thread."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 64)).astype(np.float32)
    T = (X[:, :8].sum(axis=1) > 0).astype(np.float32)
    hyper = make_hyper(hidden_dropout_ratios=(0.1, 0.1))
    losses = []
    for threads in (1, 2):
        net = Net([64, 256, 160, 2], "Rectifier", "softmax", adaptive_rate=True, momentum=False)
        net.initialize(seed=5)
        train(net, hyper, X[:2500], T[:2500], np.arange(2500), seed=1, samples_before=0, n_threads=threads)
        losses.append(row_loss(net, hyper, X[2500:], T[2500:]).mean())
    assert losses[1] < 0.3 and abs(losses[1] - losses[0]) < 0.05, losses


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_the_trainer_says_when_its_team_went_on_alone():
    """The fallback keeps the model right but costs the speed the user asked threads for:
    training on two threads squeezed onto one core warns, once, and says why."""
    script = textwrap.dedent(
        """
        import os
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        import numpy as np, hpcdl
        rng = np.random.default_rng(0)
        X = rng.normal(size=(3000, 12))  # iterations of more rows than the team's earliest fallback
        frame = hpcdl.H2OFrame({**{f"x{i}": X[:, i] for i in range(12)}, "y": (X[:, 0] > 0).astype(int)})
        frame["y"] = frame["y"].asfactor()
        model = hpcdl.deeplearning(y="y", training_frame=frame, hidden=[128, 128], epochs=3, threads=2, seed=1,
                                   train_samples_per_iteration=3000)
        print("THREADS", model.run_info["threads"])
        """
    )
    env = {**os.environ, "NUMBA_NUM_THREADS": "2", "HPCDL_NO_MPI": "1"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "THREADS 2" in proc.stdout
    warned = [line for line in proc.stderr.splitlines() if "went on with 1 thread" in line]
    assert len(warned) == 1 and warned[0].startswith("hpcdl: warning: per-sample training on 2 threads"), proc.stderr


def test_small_nets_train_per_sample_as_hogwild_threads_not_as_a_team():
    """A team's barriers cost more than a few-microsecond sample saves (docs/performance.md,
    "Small nets"): below TEAM_MIN_WEIGHTS weights the threads take different rows."""
    small = Net([14, 32, 2], "Rectifier", "softmax", adaptive_rate=True, momentum=False)
    booklet = Net([784, 200, 200, 200, 10], "Rectifier", "softmax", adaptive_rate=True, momentum=False)
    assert int(small.w_off[-1]) < kernels.TEAM_MIN_WEIGHTS <= int(booklet.w_off[-1])
    assert kernels.team_size(small, 2) == 1 and kernels.team_size(booklet, 2) == 2
    assert kernels.team_size(small, 2, team=True) == 2 and kernels.team_size(booklet, 2, team=False) == 1
    assert kernels.team_size(booklet, 1) == 1


def test_hogwild_per_sample_thread_trains_its_block_as_one_thread_would():
    """One row on two HOGWILD! threads: thread 0's block is empty, thread 1 trains the row
    with its global sample index (dropout masks, schedules) exactly as the reference."""
    X, T = make_data("softmax", n=20, seed=2)
    hyper = hyper_for("CrossEntropy", "softmax", "adadelta", True, True)
    net = Net([6, 40, 24, 3], "Rectifier", "softmax", adaptive_rate=True, momentum=False)
    net.initialize(seed=3)
    ref = RefNet.from_net(net)
    together = train(net, hyper, X, T, np.array([11]), seed=7, samples_before=50, n_threads=2, team=False)
    assert together == 1
    ref_mod.train_step(ref, hyper, X[11], T[11], seed=7, sample=50, n=50)
    assert_same_state(net, ref, rtol=1e-4, atol=1e-5, what="hogwild per sample")
