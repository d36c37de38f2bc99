"""Thread control (hpcdl/threads.py) and the kernels' compiled signatures."""

import numba
import numpy as np
import pytest
from kernel_hyper import make_hyper

from hpcdl import threads
from hpcdl.kernels import Net, _core, predict, train


def test_use_threads_is_capped_by_the_pool_and_at_least_one():
    pool = numba.config.NUMBA_NUM_THREADS
    assert threads.use_threads(10 * pool) == pool
    assert threads.use_threads(0) == 1
    assert threads.use_all_threads() == pool


def test_hyper_values_of_any_python_type_compile_once():
    """Config casts every field, so an int where a float is usual (rate=1, l1=0) or a
    numpy scalar reuses the compiled driver instead of compiling another one."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 5)).astype(np.float32)
    T = rng.integers(0, 2, size=20).astype(np.float32)
    hypers = [
        make_hyper(),
        make_hyper(l1=0, l2=np.float32(1e-3), rate=1, max_w2=3, input_dropout_ratio=np.float64(0.1)),
        make_hyper(adaptive_rate=False, momentum_start=0.5, momentum_ramp=100, fast_mode=np.bool_(False)),
    ]
    counts = []
    for hyper in hypers:
        net = Net([5, 4, 2], "Tanh", "softmax", adaptive_rate=hyper.adaptive_rate, momentum=hyper.has_momentum)
        net.initialize(seed=1)
        train(net, hyper, X, T, np.arange(20), seed=1, samples_before=0, n_threads=1)
        predict(net, hyper, X)
        counts.append(len(_core.train_rows.signatures) + len(_core.infer.signatures))
    assert counts == [counts[0]] * len(counts)


def test_kernel_caches_are_stamped_with_every_kernel_module(tmp_path):
    """A cached kernel holds the machine code of everything it calls, so its cache must
    go stale when any kernel module changes, not only its own file (hpcdl/kernels/_cache.py)."""
    import os
    import shutil

    from hpcdl.kernels import _cache, minibatch

    for dispatcher in (
        _core.train_rows,
        _core.infer,
        minibatch.train_block,
    ):
        locator = dispatcher._cache._impl.locator
        assert type(locator).__name__.startswith("Kernels"), type(locator)
        assert locator.get_source_stamp() == _cache.package_stamp()
    names = {name for name, _, _ in _cache.package_stamp()}
    assert {"_core.py", "hogwild.py", "minibatch.py", "sync.py", "rng.py", "records.py"} <= names
    copy = tmp_path / "kernels"
    shutil.copytree(os.path.dirname(_cache.__file__), copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = _cache.package_stamp(str(copy))
    core = copy / "_core.py"
    os.utime(core, (core.stat().st_atime, core.stat().st_mtime + 10))
    assert _cache.package_stamp(str(copy)) != before


def test_blas_stays_on_one_thread_through_training_and_scoring():
    """OpenBLAS's second thread spins ~0.1 s after each call on two threads, on the core of
    a per-sample team member: the trainer keeps BLAS on one thread for its whole loop
    (scoring included) and gives the process its BLAS threads back at the end."""
    import hpcdl
    from hpcdl.train import TrainHook

    seen = []

    class Watch(TrainHook):
        def after_iteration(self, ctx):  # after the monitor's scoring of this iteration
            seen.append(threads.blas_thread_counts())

    before = threads.blas_thread_counts()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    frame = hpcdl.H2OFrame({**{f"x{i}": X[:, i] for i in range(6)}, "y": X[:, 0] + X[:, 1]})
    hpcdl.deeplearning(
        y="y", training_frame=frame, hidden=[8], epochs=3, train_samples_per_iteration=200, seed=1,
        hooks=[Watch()], quiet_mode=True,
    )  # fmt: skip
    assert len(seen) >= 3 and all(counts and set(counts) == {1} for counts in seen), seen
    assert threads.blas_thread_counts() == before


def test_the_team_clock_off_x86_is_the_monotonic_clock_in_nanoseconds(tmp_path):
    """Off x86 the team's clock (waits, fallback windows) must not be LLVM's cycle counter,
    which on AArch64 reads a register Linux forbids to user code; this machine compiles the
    other platforms' path and checks it against time.perf_counter_ns."""
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import time
        from hpcdl.kernels import sync
        sync._X86 = False
        from numba import njit

        @njit
        def now():
            return sync.cycles()

        a, t0 = now(), time.perf_counter_ns()
        time.sleep(0.2)
        b, t1 = now(), time.perf_counter_ns()
        print(b - a, t1 - t0)
        """
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    clock, wall = (int(v) for v in out.stdout.split())
    assert abs(clock - wall) < 0.01 * wall, (clock, wall)


# -- the oversubscription check: a rank's own cores (its binding) against the node's --------------
def _cores(*sets):
    return [frozenset(s) for s in sets]


def test_open_mpi_default_binding_one_core_per_rank_is_no_shortage():
    # mpiexec -n 2 under Open MPI binds rank 0 to core 0 and rank 1 to core 1: each sees one core
    assert threads.core_shortage(1, _cores({0}, {1}), node_cores=2, launcher="openmpi") is None
    assert threads.core_shortage(4, _cores(range(4), range(4, 8)), node_cores=8, launcher="openmpi") is None
    assert threads.core_shortage(2, _cores(range(4)), node_cores=4, launcher="") is None  # unbound, room to spare


def test_too_many_threads_for_the_node_says_lower_threads_or_ranks():
    message = threads.core_shortage(2, _cores({0, 1}, {0, 1}), node_cores=2, launcher="mpich")
    assert message == (
        "2 ranks x 2 threads on this node exceed its 2 cores: "
        "HOGWILD! threads will be oversubscribed; lower threads or ranks per node"
    )
    # the node's cores count, not one rank's: 3 ranks bound to a core each on a 2-core node
    assert threads.core_shortage(1, _cores({0}, {1}, {0}), 2, "openmpi").startswith("3 ranks x 1 threads")


@pytest.mark.parametrize(
    ("launcher", "option"),
    [
        ("openmpi", "Open MPI: mpiexec --map-by slot:PE=2 (or --bind-to none)"),
        ("mpich", "MPICH: mpiexec -bind-to core:2 (or -bind-to none)"),
        ("slurm", "Slurm: --cpus-per-task=2"),
    ],
)
def test_a_binding_that_starves_threads_names_the_launchers_option(launcher, option):
    # mpiexec -n 1 --threads 2 under Open MPI: the rank is bound to 1 of the node's 2 cores
    message = threads.core_shortage(2, _cores({0}), node_cores=2, launcher=launcher)
    assert message == (
        "1 rank(s) x 2 threads on this node, but a rank is bound to 1 core(s) of the node's 2: "
        f"its threads will share them; give each rank 2 cores ({option})"
    )
    assert "\n" not in message


def test_ranks_bound_to_the_same_cores_share_them():
    message = threads.core_shortage(2, _cores({0, 1}, {0, 1}), node_cores=8, launcher="")
    assert message.startswith("2 ranks x 2 threads on this node share 2 core(s) of its 8: ")
    # an unknown launcher: every launcher's option, so the user finds theirs
    assert all(word in message for word in ("--map-by slot:PE=2", "-bind-to core:2", "--cpus-per-task=2"))


def test_the_launcher_is_told_from_the_variables_it_sets():
    assert threads.launcher_of({"OMPI_COMM_WORLD_SIZE": "2", "SLURM_JOB_ID": "7"}) == "openmpi"
    assert threads.launcher_of({"SLURM_JOB_ID": "7", "PMI_RANK": "0"}) == "slurm"
    assert threads.launcher_of({"PMI_RANK": "0", "MPI_LOCALNRANKS": "2"}) == "mpich"
    assert threads.launcher_of({}) == ""


def test_rank_cores_is_the_binding(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {3}, raising=False)
    assert threads.rank_cores() == frozenset({3})


def test_a_job_compiles_only_the_engine_it_uses(tmp_path):
    """A per-sample job compiles (or loads) the per-sample kernel and the row-loop inference
    only, each for one signature: the mini-batch engines, BLAS inference and the loss kernel
    stay uncompiled (docs/kernels.md, "Compiling"). A fresh process, so that no other test
    has compiled them already."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import numpy as np
        import hpcdl
        from hpcdl.kernels import _core, minibatch
        rng = np.random.default_rng(0)
        X = rng.normal(size=(60, 3))
        frame = hpcdl.H2OFrame({"a": X[:, 0], "b": X[:, 1], "y": X[:, 0] - X[:, 2]})
        hpcdl.deeplearning(y="y", training_frame=frame, hidden=[4], epochs=2, seed=1, quiet_mode=True)
        used = [len(d.signatures) for d in (_core.train_rows, _core.infer)]
        unused = [len(d.signatures) + len(d.stats.cache_hits) for d in
                  (minibatch.train_block, minibatch.train_batch, _core.train_block, minibatch.infer_batches,
                   _core.infer_loss)]
        print(used, unused)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[-2] == "[1, 1] [0, 0, 0, 0, 0]", out


def test_the_compile_notice_says_so_once_then_ticks_and_ends(monkeypatch, capsys):
    """A cache miss prints one line that kernels compile and about how long; while they
    compile a line every TICK seconds; then how long it took. Nothing when loaded from the cache."""
    from numba import njit

    from hpcdl import kernels
    from hpcdl.comm import SerialComm
    from hpcdl.train import CompileNotice

    monkeypatch.setattr(CompileNotice, "TICK", 0.05)
    notice = CompileNotice("per-sample", SerialComm(), quiet=False)
    watch = kernels._CompileWatch(notice.start)

    @njit  # a new function: always a compile, never a cache hit
    def fresh(x):
        return x + 1

    import time

    with watch:
        fresh(1)
        time.sleep(0.2)
    notice.stop()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("hpcdl: compiling the per-sample training and inference kernels")
    assert f"about {kernels.COMPILE_SECONDS['per-sample'] + kernels.COMPILE_SECONDS['inference']} s" in lines[0]
    assert any(line.startswith("hpcdl: still compiling") for line in lines[1:-1])
    assert lines[-1].startswith("hpcdl: kernels compiled in ")
    assert watch.seconds > 0.0
    quiet = CompileNotice("blas", SerialComm(), quiet=True)
    quiet.start()
    quiet.stop()
    cached = CompileNotice("blas", SerialComm(), quiet=False)
    with kernels._CompileWatch(cached.start) as again:
        fresh(2)  # compiled above: no event
    cached.stop()
    assert capsys.readouterr().err == "" and again.seconds == 0.0


def test_a_helper_process_compiles_the_training_kernel_only_into_an_empty_cache(monkeypatch, tmp_path):
    """warm_up hands the training kernel's compile to a helper process (and says so at once)
    only when that kernel has no cache index yet and a second core is there to run it."""
    import subprocess
    from types import SimpleNamespace

    from hpcdl import kernels

    index = tmp_path / "train_rows.nbi"
    fake = SimpleNamespace(_cache=SimpleNamespace(_cache_file=SimpleNamespace(_index_path=str(index))))
    monkeypatch.setattr(kernels, "_training_kernel", lambda engine: fake)
    started = []
    monkeypatch.setattr(subprocess, "Popen", lambda cmd, **kw: started.append(cmd) or "helper")

    def decide(cores):
        monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cores)), raising=False)
        notices = []
        helper = kernels._compile_elsewhere("per-sample", kernels._CompileWatch(lambda: notices.append(1)))
        return helper, len(notices)

    assert decide(2) == ("helper", 1) and started[-1][-1] == "per-sample"
    assert decide(1) == (None, 0)  # one core: nothing to gain
    index.write_bytes(b"")
    assert decide(2) == (None, 0)  # cached (or cached for another CPU type or source: compiled here)
    assert len(started) == 1
    kernels.compile_engine("per-sample")  # what the helper runs (here from the warm cache)
