"""Kernels that only kernels call are cached as LLVM bitcode and compiled for linking only
(hpcdl/kernels/_linking.py): a later process that compiles a new entry point links them from
the cache, and entry points loaded from the cache run; every result against the NumPy twin."""

import os
import subprocess
import sys
import textwrap

import numpy as np

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from hpcdl.kernels import PROBE_HYPER, Net, predict, row_loss, train
    from hpcdl.kernels import reference as ref

    rng = np.random.default_rng(7)
    net = Net([5, 7, 3], "Tanh", "softmax", adaptive_rate=True, momentum=False)
    net.initialize(seed=3)
    X = rng.normal(size=(9, 5)).astype(np.float32)
    T = rng.integers(0, 3, 9).astype(np.float32)
    hyper = PROBE_HYPER
    for step in sys.argv[1].split(","):
        if step == "train":  # the per-sample engine on one thread
            train(net, hyper, X, T, np.arange(9), seed=1, samples_before=0, n_threads=1)
        want = ref.predict(ref.RefNet.from_net(net), hyper, X)
        if step in ("predict", "train"):
            assert np.allclose(predict(net, hyper, X), want, atol=1e-5), step
        if step == "loss":  # cross-entropy of the twin's probabilities
            got = row_loss(net, hyper, X, T)
            assert np.allclose(got, -np.log(want[np.arange(9), T.astype(int)]), atol=1e-4), step
    print("ok")
    """
)


def _run(steps: str, cache) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, steps], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


def test_a_later_process_links_the_cached_internal_kernels_into_a_new_entry_point(tmp_path):
    _run("predict", tmp_path)  # compiles infer, and forward & co. for linking only
    entries = [name for name in os.listdir(next(tmp_path.iterdir())) if name.startswith("_core.forward-")]
    assert entries, "forward's cache entry is missing"
    _run("loss,predict,train", tmp_path)  # infer_loss links the cached forward; infer loads
    _run("train,loss", tmp_path)  # all from the cache


def test_the_patch_leaves_entry_points_with_their_wrappers():
    import numba
    from numba.core import codegen

    from hpcdl import kernels
    from hpcdl.kernels import _linking

    if numba.__version__.startswith(_linking.TESTED_NUMBA):
        assert codegen.JITCodeLibrary.linked_only is False  # installed: the default of every library
    else:  # an untested Numba compiles as Numba does
        assert not hasattr(codegen.JITCodeLibrary, "linked_only")
    X = np.zeros((2, 3), dtype=np.float32)
    net = kernels.Net([3, 4, 2], "Tanh", "softmax", adaptive_rate=True, momentum=False)
    assert kernels.predict(net, kernels.PROBE_HYPER, X).shape == (2, 2)
