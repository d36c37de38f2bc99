"""Distributed training over MPI (docs/mpi.md), run under 2 and 3 ranks.

    timeout 300 mpiexec -n 2 python -m pytest --with-mpi -m mpi tests/mpi/test_train_mpi.py -q

Every assertion is collective (tests/mpi/collective.py): the collectives a test needs run first on
every rank, then each rank's checks, whose verdicts are allgathered. That a failure on one rank ends
the whole job is checked by tests/test_mpi_abort.py (a serial test that launches ``mpiexec``).
"""

import builtins
import io
import os
import re
import tempfile
import time
import warnings

import numpy as np
import pytest
from collective import assert_all, checked, on_rank0

import hpcdl
from hpcdl import comm as comm_mod
from hpcdl.frame import Frame, frame_from_numpy
from hpcdl.frame.cache import PROBE_PREFIX
from hpcdl.planning import compute_tspi
from hpcdl.rows import chunk_bounds, shard
from hpcdl.train import TrainHook

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")
IRIS_CSV = os.path.join(DATA, "iris_wheader.csv")


# -- helpers ---------------------------------------------------------------------------------------
def _on_rank0(comm, make):
    """Rank 0 runs ``make(tmpdir)`` (e.g. writes a frame); every rank gets its result (a path)."""
    return on_rank0(comm, lambda: make(tempfile.mkdtemp(prefix="hpcdl-train-mpi-")))


def _iris_frame(comm):
    """Fisher's iris as shipped: sorted by species, so contiguous shards hold different classes."""
    return Frame(_on_rank0(comm, lambda d: hpcdl.import_file(IRIS_CSV, destination=os.path.join(d, "iris.h5")).path))


def _synthetic_frame(comm, n=101, na_rows=(), seed=0):
    """Two gaussian blobs in 3-D, class column 'y' (some responses missing -> unusable rows)."""

    def make(d):
        rng = np.random.default_rng(seed)
        y = (np.arange(n) % 2).astype(np.int64)
        X = rng.normal(size=(n, 3)) + 2.0 * y[:, None]
        labels = np.array(["a", "b"], dtype=object)[y]
        labels[list(na_rows)] = None
        cols = {"x0": X[:, 0], "x1": X[:, 1], "x2": X[:, 2], "y": labels}
        return frame_from_numpy(cols, os.path.join(d, "syn.h5")).path

    return Frame(_on_rank0(comm, make))


class Recorder(TrainHook):
    """A training hook: rows trained, samples and the state buffer around each averaging."""

    def __init__(self):
        self.rows, self.samples, self.pre, self.post, self.tspi = [], [], [], [], []
        self.averaged = []  # 0-based iterations that averaged (those in which some rank trained rows)

    def before_average(self, ctx):
        self.pre.append(ctx.model.net.buffer.copy())
        self.averaged.append(len(self.post))

    def after_iteration(self, ctx):
        self.rows.append(np.asarray(ctx.rows).copy())
        self.samples.append(ctx.samples)
        self.post.append(ctx.model.net.buffer.copy())


def _train(frame, comm, hooks=(), **params):
    base = {"hidden": [8], "epochs": 2, "seed": 7, "score_each_iteration": True, "quiet_mode": True}
    base.update(params)
    x = [n for n in frame.names if n not in ("y", "class")]
    y = "class" if "class" in frame.names else "y"
    return hpcdl.deeplearning(x=x, y=y, training_frame=frame, comm=comm, threads=1, hooks=list(hooks), **base)


def _shard_rows(nrow, rank, ranks):
    """The frame rows of a rank's shard (hpcdl/rows.py, tested against a row-by-row twin in tests/test_shard_deal.py)."""
    s = shard(nrow, rank, ranks)
    return s.frame_rows(np.arange(s.size))


def _usable_rows(frame):
    y = frame.column("y" if "y" in frame.names else "class")
    return np.flatnonzero(~np.isnan(np.asarray(y, dtype=np.float64)) & (np.asarray(y) >= 0))


# -- sharding and replication ---------------------------------------------------------------------
@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("shuffle", [False, True])
def test_shards_cover_every_usable_row_once(comm, shuffle):
    na = (0, 5, 50, 51, 100)
    frame = _synthetic_frame(comm, n=101, na_rows=na)
    usable = _usable_rows(frame)
    assert_all(comm, len(usable) == 96, len(usable))
    rec = Recorder()
    m = _train(
        frame,
        comm,
        [rec],
        replicate_training_data=False,
        train_samples_per_iteration=-1,
        epochs=1,
        shuffle_training_data=shuffle,
    )
    run = m.run_info
    mine = rec.rows[0]
    everyone = np.concatenate(comm.allgather(mine))

    def check():
        assert run["replicated"] is False and run["n_training_rows"] == 96
        # each rank holds exactly the usable rows of its shard (blocks dealt round-robin)
        shard_rows = [_shard_rows(frame.nrow, r, comm.size) for r in range(comm.size)]
        expected_counts = [int(np.isin(usable, rows).sum()) for rows in shard_rows]
        assert run["rows_per_rank"] == expected_counts and sum(run["rows_per_rank"]) == 96
        # tspi=-1 sharded: one iteration in which every rank passes over all its rows once
        assert run["iterations"] == 1 and run["samples"] == 96 and run["samples_per_rank"] == expected_counts
        assert np.all(np.isin(mine, shard_rows[comm.rank]))
        assert sorted(everyone.tolist()) == usable.tolist()  # every usable row once, no row twice
        if not shuffle:  # no sampling (f = 1): each chunk of the shard in file order, the chunks interleaved
            local_rows = usable[np.isin(usable, shard_rows[comm.rank])]  # this rank's row list
            bounds = chunk_bounds(local_rows.size, run["row_chunks_per_rank"][comm.rank])
            chunk_of = np.searchsorted(bounds, np.searchsorted(local_rows, mine), side="right") - 1
            for c in range(len(bounds) - 1):
                assert mine[chunk_of == c].tolist() == local_rows[bounds[c] : bounds[c + 1]].tolist()

    checked(comm, check)


@pytest.mark.mpi(min_size=2)
def test_replicated_ranks_each_hold_all_rows(comm):
    frame = _synthetic_frame(comm, n=60, na_rows=(3,))
    rec = Recorder()
    m = _train(frame, comm, [rec], train_samples_per_iteration=-1, epochs=2 * comm.size)
    run = m.run_info

    def check():
        assert run["replicated"] is True and run["rows_per_rank"] == [59] * comm.size
        # tspi=-1 replicated: size*N per iteration, each rank a full (forced shuffled) pass of all 59 rows
        assert run["train_samples_per_iteration"] == comm.size * 59
        assert run["iterations"] == 2 and run["samples"] == 2 * comm.size * 59
        usable = _usable_rows(frame).tolist()
        for rows in rec.rows:
            assert sorted(rows.tolist()) == usable
        assert rec.rows[0].tolist() != usable  # shuffled

    checked(comm, check)


# -- averaging ---------------------------------------------------------------------------------------
@pytest.mark.mpi(min_size=2)
def test_average_is_the_mean_of_the_training_ranks_state(comm):
    frame = _synthetic_frame(comm, n=90, seed=1)
    rec = Recorder()
    m = _train(frame, comm, [rec], replicate_training_data=False, train_samples_per_iteration=30, epochs=1)
    pres = comm.allgather(rec.pre)
    posts = comm.allgather(rec.post)
    counts = comm.allgather([len(r) for r in rec.rows])

    def check():
        # each rank keeps each of its rows with probability 30/90: the number of iterations is random
        assert len(rec.pre) == len(rec.post) == m.run_info["iterations"] >= 3
        for it in range(len(rec.post)):
            trained = [r for r in range(comm.size) if counts[r][it] > 0]
            stack = np.stack([pres[r][it] for r in trained]).astype(np.float64)
            if len(trained) > 1:
                assert np.ptp(stack, axis=0).max() > 1e-3  # the ranks really trained different models
            np.testing.assert_allclose(rec.post[it], stack.mean(axis=0), rtol=2e-6, atol=1e-7)
            for other in posts:  # everyone continues from the same average
                np.testing.assert_array_equal(other[it], rec.post[it])

    checked(comm, check)


@pytest.mark.mpi(min_size=2)
def test_a_rank_without_rows_in_an_iteration_is_left_out_of_that_average(comm):
    """tspi 4 of 200 rows: some iterations leave a rank without a row (H2O averages only the others)."""
    frame = _synthetic_frame(comm, n=200, seed=3)
    rec = Recorder()
    _train(frame, comm, [rec], replicate_training_data=False, train_samples_per_iteration=4, epochs=0.5)
    pres = [dict(zip(rec.averaged, pre)) for pre in comm.allgather(rec.pre)]  # iteration -> buffer, per rank
    counts = np.array(comm.allgather([len(r) for r in rec.rows]))  # ranks x iterations

    def check():
        trained_per_iteration = np.count_nonzero(counts, axis=0)
        idle = [it for it, k in enumerate(trained_per_iteration) if 0 < k < comm.size]
        assert idle, counts  # the case happened
        for it in idle:
            mean = np.stack([pres[r][it] for r in np.flatnonzero(counts[:, it])]).astype(np.float64).mean(axis=0)
            np.testing.assert_allclose(rec.post[it], mean, rtol=2e-6, atol=1e-7)
        for it in np.flatnonzero(trained_per_iteration == 0):  # no rank trained: nothing averaged, nothing changes
            assert it not in rec.averaged and np.array_equal(rec.post[it], rec.post[it - 1])

    checked(comm, check)


@pytest.mark.mpi(min_size=2)
def test_ranks_without_rows_are_left_out_of_the_average(comm):
    n = 64 * comm.size  # blocks of 4 rows: the last shard holds both classes (of alternating rows)
    last = _shard_rows(n, comm.size - 1, comm.size)
    frame = _synthetic_frame(comm, n=n, na_rows=last, seed=2)  # the last shard has no usable row
    rec = Recorder()
    m = _train(frame, comm, [rec], replicate_training_data=False, train_samples_per_iteration=-1, epochs=2)
    pres = comm.allgather(rec.pre)

    def check():
        assert m.run_info["training_ranks"] == comm.size - 1
        assert m.run_info["rows_per_rank"][-1] == 0 and m.run_info["samples_per_rank"][-1] == 0
        for it in range(len(rec.post)):
            contributing = np.stack([p[it] for p in pres[:-1]]).astype(np.float64)
            np.testing.assert_allclose(rec.post[it], contributing.mean(axis=0), rtol=2e-6, atol=1e-7)

    checked(comm, check)


@pytest.mark.mpi(min_size=2)
def test_reduce_sum_ordered_adds_in_rank_order_exactly(comm):
    parts = [np.random.default_rng(r).normal(scale=10.0**r, size=1000).astype(np.float32) for r in range(comm.size)]
    mine = parts[comm.rank].copy()
    comm_mod.reduce_sum_ordered(comm, mine)
    expected = parts[0].copy()
    for p in parts[1:]:
        expected += p
    assert_all(comm, np.array_equal(mine, expected), "not the rank-order float32 sum")


# -- tspi modes --------------------------------------------------------------------------------------
def _per_iteration(samples):
    return np.diff([0, *samples]).tolist()


def _in_band(count, expected, draws):
    """A binomial count near its mean: within 5 standard deviations of ``draws`` rows kept with p = expected/draws."""
    keep = min(1.0, expected / draws)
    return abs(count - expected) <= 5 * np.sqrt(draws * keep * (1 - keep)) + 1


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("replicate", [True, False])
@pytest.mark.parametrize("mode", [0, -1, 37])
def test_each_tspi_mode_trains_the_spec_number_of_samples(comm, mode, replicate):
    frame = _synthetic_frame(comm, n=100, na_rows=(7, 8))  # N = 98
    n = 98
    epochs = 2 * comm.size if (mode == -1 and replicate) else 3
    rec = Recorder()
    m = _train(frame, comm, [rec], replicate_training_data=replicate, train_samples_per_iteration=mode, epochs=epochs)
    run = m.run_info
    per_iter = _per_iteration(rec.samples)
    trained_per_rank = comm.allgather(sum(len(r) for r in rec.rows))
    per_rank = np.array(comm.allgather([len(r) for r in rec.rows])).sum(axis=0)

    def check():
        if mode == -1 and replicate:
            assert per_iter == [comm.size * n] * 2  # keep 1: every rank all N rows, shuffled
        elif mode in (0, -1) and not replicate:
            assert per_iter == [n] * 3  # keep 1: every rank all its shard, in order (4 chunks): one epoch
        else:
            # H2O's Bernoulli sampling: keep = tspi/N (/ranks when replicated); the count is random
            tspi = n if mode == 0 else 37
            draws = comm.size * n if replicate else n  # replicated: every rank draws from all N rows
            assert all(_in_band(c, tspi, draws) for c in per_iter[:-1]), per_iter
            assert len(set(per_iter)) > 1
            if replicate:  # each rank samples its share from all rows
                mine = np.concatenate(rec.rows[:-1])
                assert mine.min() < 50 <= mine.max()
                assert all(len(set(r.tolist())) == len(r) for r in rec.rows)  # keep < 1: one pass, no row twice
        # the last iteration stops at exactly epochs*N (hpcdl does not overshoot); epochs count cluster-wide
        assert run["samples"] == sum(per_iter) == epochs * n and run["epochs"] == pytest.approx(epochs)
        assert sum(run["samples_per_rank"]) == run["samples"]
        assert trained_per_rank == run["samples_per_rank"]
        assert per_rank.tolist() == per_iter  # the samples of an iteration are the rows the ranks trained
        hist = m.scoring_events
        assert [h["samples"] for h in hist] == rec.samples and hist[-1]["epochs"] == pytest.approx(epochs)
        assert [h["iterations"] for h in hist] == list(range(1, len(per_iter) + 1))

    checked(comm, check)


@pytest.mark.mpi(min_size=2)
def test_auto_tuning_uses_measured_times_then_corrects_from_iteration_two(comm):
    frame = _synthetic_frame(comm, n=100)
    rec = Recorder()
    m = _train(frame, comm, [rec], train_samples_per_iteration=-2, epochs=5)
    run = m.run_info
    first = compute_tspi(
        -2,
        n_rows=100,
        epochs=5,
        n_ranks=comm.size,
        replicated=True,
        seconds_per_row=run["seconds_per_row_calibrated"],
        allreduce_seconds=run["allreduce_seconds"],
        target_ratio=0.05,
    )

    def check():
        # small data: the "at least 10 iterations" cap wins -> floor(5*100/10) = 50
        assert first == 50 == run["train_samples_per_iteration_initial"]
        assert run["seconds_per_row_calibrated"] > 0 and run["allreduce_seconds"] > 0
        # Iterations take milliseconds, far below t_comm/target (>= 2 s): the correction is clamped at
        # 0.5, so from iteration 2 on tspi doubles each iteration (50, 50, 100, 200); each iteration
        # trains a binomial sample of about that size, and the last stops at exactly epochs*N.
        per_iter = _per_iteration(rec.samples)
        draws = comm.size * 100  # replicated: every rank draws from all 100 rows
        assert all(_in_band(c, t, draws) for c, t in zip(per_iter[:4], [50, 50, 100, 200])), per_iter
        assert sum(per_iter) == 500 and len(per_iter) >= 5

    checked(comm, check)


@pytest.mark.mpi(min_size=2)
def test_single_node_mode_trains_on_rank_0_only(comm):
    frame = _synthetic_frame(comm, n=80)
    rec = Recorder()
    m = _train(frame, comm, [rec], single_node_mode=True, train_samples_per_iteration=-1, epochs=2)
    run = m.run_info
    everyone = comm.allgather(m.net.buffer)

    def check():
        assert run["single_node_mode"] is True and run["training_ranks"] == 1
        assert run["samples_per_rank"] == [160] + [0] * (comm.size - 1)
        assert _per_iteration(rec.samples) == [80, 80]  # -1 with one training node: N per iteration
        assert all(len(r) == (80 if comm.rank == 0 else 0) for r in rec.rows)
        assert rec.pre == []  # nothing to average
        for b in everyone:
            np.testing.assert_array_equal(b, m.net.buffer)  # the final model is rank 0's, on every rank

    checked(comm, check)


# -- stopping, accuracy, reproducibility ------------------------------------------------------------------
@pytest.mark.mpi(min_size=2)
def test_early_stopping_ends_every_rank(comm):
    frame = _iris_frame(comm)
    t0 = time.time()
    m = _train(frame, comm, hidden=[10], epochs=1000, train_samples_per_iteration=30, classification_stop=0.2)
    run = m.run_info
    ends = comm.allgather((run["iterations"], run["stop_reason"], len(m.scoring_events)))

    def check():
        assert run["stop_reason"] == "early stopping"
        assert run["epochs"] < 100
        assert m.training_metrics["classification_error"] <= 0.2
        assert len(set(ends)) == 1, ends
        assert time.time() - t0 < 60

    checked(comm, check)


@pytest.mark.mpi(min_size=2)
def test_more_ranks_reach_the_accuracy_of_one_rank_on_sharded_sorted_iris(comm):
    """Sharded iris (sorted by species): rank 0 alone never sees virginica (or more).

    Without averaging, or with a sum instead of a mean, the model returned by rank 0
    misclassifies at least a third of the flowers or diverges; with a correct mean it
    matches the one-rank model trained for the same epochs.
    """
    frame = _iris_frame(comm)
    params = {
        "hidden": [10],
        "epochs": 60,
        "seed": 11,
        "train_samples_per_iteration": 30,
        "score_each_iteration": False,
        "replicate_training_data": False,
        "shuffle_training_data": True,
    }
    solo_comm = comm.split(comm.rank)
    single = _train(frame, solo_comm, **params) if comm.rank == 0 else None
    multi = _train(frame, comm, **params)

    def check():
        assert not multi.run_info.get("diverged")
        assert multi.run_info["epochs"] == pytest.approx(60)
        err_multi = multi.model_performance(frame)["classification_error"]
        if comm.rank == 0:
            err_single = single.model_performance(frame)["classification_error"]
            assert err_single <= 0.06, err_single
            assert err_multi <= err_single + 0.04, (err_multi, err_single)
        assert err_multi <= 0.10, err_multi

    checked(comm, check)


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("replicate", [True, False])
def test_reproducible_runs_are_bit_identical(comm, replicate):
    frame = _synthetic_frame(comm, n=120, seed=4)
    params = {
        "reproducible": True,
        "replicate_training_data": replicate,
        "shuffle_training_data": True,
        "hidden": [16, 16],
        "epochs": 4,
        "train_samples_per_iteration": 40,
        "hidden_dropout_ratios": [0.2, 0.2],
        "activation": "RectifierWithDropout",
    }
    a = _train(frame, comm, seed=5, **params)
    b = _train(frame, comm, seed=5, **params)
    c = _train(frame, comm, seed=6, **params)
    everyone = comm.allgather(a.net.buffer)

    def check():
        # 4 epochs of 120 rows at tspi 40: about 12 iterations (binomial rows per iteration)
        assert a.run_info["threads"] == 1 and 10 <= a.run_info["iterations"] == b.run_info["iterations"] <= 14
        assert np.array_equal(a.net.buffer, b.net.buffer)
        assert not np.array_equal(a.net.buffer, c.net.buffer)
        assert a.scoring_events[-1]["training_logloss"] == b.scoring_events[-1]["training_logloss"]
        for buf in everyone:
            assert np.array_equal(buf, a.net.buffer)

    checked(comm, check)


# -- only rank 0 writes --------------------------------------------------------------------------------
@pytest.mark.mpi(min_size=2)
def test_only_rank_0_writes_files(comm, monkeypatch):
    import h5py

    from hpcdl.jobs import Job
    from hpcdl.runner import Status, run_job

    base = _on_rank0(comm, lambda d: d)
    out = os.path.join(base, "out")
    writes = []

    def mine(path):
        try:
            path = os.path.abspath(os.fspath(path))
        except TypeError:
            return False
        return path.startswith(base) and not os.path.basename(path).startswith(PROBE_PREFIX)

    def probing(op, path):
        """Every rank leaves a probe in the frame cache, creating that directory if need be, to learn
        which ranks share it (hpcdl/frame/cache.py); nothing else."""
        return op in ("makedirs", "mkdir") and os.path.abspath(path) in (out, os.path.join(out, "frames"))

    if comm.rank != 0:  # record every attempt of this rank to create or change anything under base
        real_os_open, real_open, real_h5 = os.open, builtins.open, h5py.File

        def os_open(path, flags, *a, **k):
            if mine(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND):
                writes.append(("os.open", path))
            return real_os_open(path, flags, *a, **k)

        def py_open(file, mode="r", *a, **k):
            if mine(file) and any(c in mode for c in "wax+"):
                writes.append(("open", file))
            return real_open(file, mode, *a, **k)

        def h5_file(name, mode="r", *a, **k):
            if mine(name) and mode != "r":
                writes.append(("h5py.File", name))
            return real_h5(name, mode, *a, **k)

        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(builtins, "open", py_open)
        monkeypatch.setattr(io, "open", py_open)
        monkeypatch.setattr(h5py, "File", h5_file)
        for name in ("makedirs", "mkdir", "replace", "rename", "remove"):
            real = getattr(os, name)
            monkeypatch.setattr(
                os,
                name,
                lambda p, *a, _r=real, _n=name, **k: (
                    (writes.append((_n, p)) if mine(p) and not probing(_n, p) else None) or _r(p, *a, **k)
                ),
            )
    job = Job(
        path=os.path.join(base, "w.toml"),
        name="w",
        output_dir=out,
        threads=1,
        checkpoint_interval=0.0,
        save_model=True,
        quiet=True,
        data={"training_frame": IRIS_CSV, "y": "class"},
        parameters={"hidden": [5], "epochs": 5, "seed": 1},
    )
    outcome = run_job(job)
    monkeypatch.undo()
    listing = comm.bcast(
        sorted(os.path.relpath(os.path.join(d, f), base) for d, _, fs in os.walk(base) for f in fs)
        if comm.rank == 0
        else None
    )

    def check():
        assert outcome.status is Status.FINISHED
        assert writes == [], f"rank {comm.rank} wrote {writes}"
        frames = [n for n in listing if n.startswith("out/frames/")]
        assert (
            "out/w.h5" in listing
            and len(frames) == 1
            and re.fullmatch(r"out/frames/iris_wheader-[0-9a-f]{16}\.h5", frames[0])
        ), listing
        assert hpcdl.load_model(os.path.join(out, "w.h5")).run_info["ranks"] == comm.size

    checked(comm, check)


def _warnings_of_a_small_job(comm) -> list[str]:
    from hpcdl.jobs import Job
    from hpcdl.runner import run_job

    base = _on_rank0(comm, lambda d: d)
    job = Job(
        path=os.path.join(base, "o.toml"),
        name="o",
        output_dir=os.path.join(base, "out"),
        threads=1,
        checkpoint_interval=0.0,
        save_model=False,
        quiet=True,
        data={"training_frame": IRIS_CSV, "y": "class"},
        parameters={"hidden": [5], "epochs": 1, "seed": 1},
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_job(job)
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


@pytest.mark.mpi(min_size=2)
def test_oversubscription_warning(comm, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)  # every rank on core 0
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    said = _warnings_of_a_small_job(comm)
    warned = any(f"{comm.size} ranks x 1 threads on this node share 1 core(s) of its 64" in text for text in said)
    assert_all(comm, warned == (comm.rank == 0), f"warnings {said}")  # rank 0 warns, once for the node


@pytest.mark.mpi(min_size=2)
def test_no_oversubscription_warning_when_each_rank_is_bound_to_its_own_core(comm, monkeypatch):
    # Open MPI's default binding (<= 2 ranks): one core per rank, each rank sees only its own
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {comm.rank}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: comm.size)
    said = _warnings_of_a_small_job(comm)
    assert_all(comm, not [text for text in said if "core" in text], f"warnings {said}")
