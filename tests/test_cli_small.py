"""Small things a user meets on day one: --version, ``| head``, warnings, a missing directory, --col-type."""

import importlib.abc
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import hpcdl
from hpcdl import cli
from hpcdl.frame import frame_from_numpy

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")
ENV = {**os.environ, "HPCDL_NO_MPI": "1"}


def _hpcdl(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "hpcdl.cli", *args], capture_output=True, text=True, env=ENV, timeout=300, **kw
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("small")
    rng = np.random.default_rng(0)
    frame = frame_from_numpy({"a": rng.normal(size=40), "y": rng.normal(size=40)}, str(d / "f.h5"))
    model = hpcdl.deeplearning(y="y", training_frame=frame, hidden=[2], epochs=1, seed=1, reproducible=True)
    return frame.path, model.save(str(d / "m.h5"))


def test_version():
    run = _hpcdl("--version")
    assert run.returncode == 0 and run.stdout.strip() == f"hpcdl {hpcdl.__version__}"


@pytest.mark.parametrize("command", [["summary", "FRAME"], ["models", "show", "MODEL"], ["show", "MODEL"]])
def test_output_to_a_reader_that_left_stops_quietly(saved, command):
    """``hpcdl summary f.h5 | head``: no 'Broken pipe' message, status 141 like cat or grep."""
    frame, model = saved
    argv = [{"FRAME": frame, "MODEL": model}.get(a, a) for a in command]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before hpcdl writes a byte
    try:
        run = subprocess.run(
            [sys.executable, "-m", "hpcdl.cli", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            timeout=300,
        )
    finally:
        os.close(write_end)
    assert run.returncode == cli.EXIT_BROKEN_PIPE == 141
    assert run.stderr == ""


def test_a_warning_is_one_hpcdl_line(tmp_path):
    cores = len(os.sched_getaffinity(0))
    run = _hpcdl(
        "train",
        "--training-frame",
        os.path.join(DATA, "iris_wheader.csv"),
        "--y",
        "class",
        "--output-dir",
        str(tmp_path / "run"),
        "--threads",
        str(cores + 1),
        "--quiet",
        "--set",
        "epochs=0.1",
    )
    assert run.returncode == 0, run.stderr
    warning = [line for line in run.stderr.splitlines() if "oversubscribed" in line]
    assert warning == [f"hpcdl: warning: 1 ranks x {cores + 1} threads on this node exceed its {cores} cores: "
                       "HOGWILD! threads will be oversubscribed; lower threads or ranks per node"]  # fmt: skip
    assert "UserWarning" not in run.stderr and "warnings.warn" not in run.stderr


@pytest.mark.parametrize("command", [["save"], ["models", "save"]])
def test_saving_into_a_missing_directory_says_so(saved, tmp_path, capsys, command):
    _, model = saved
    dest = str(tmp_path / "missing_dir") + os.sep
    assert cli.main([*command, model, dest]) == 1
    assert capsys.readouterr().err.strip().endswith(f"{dest}: no such directory; create it first or give a file name")
    assert not (tmp_path / "missing_dir").exists()


def test_col_type_without_a_type_says_what_it_expects(tmp_path):
    run = _hpcdl("import", os.path.join(DATA, "prostate.csv"), "--out", str(tmp_path / "p.h5"), "--col-type", "CAPSULE")
    assert run.returncode == 2
    assert "argument --col-type: 'CAPSULE': expected NAME=TYPE, e.g. --col-type CAPSULE=enum" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "p.h5").exists()
    ok = _hpcdl("import", os.path.join(DATA, "prostate.csv"), "--out", str(tmp_path / "p.h5"), "--col-type", "AGE=enum")
    assert ok.returncode == 0 and hpcdl.get_frame(str(tmp_path / "p.h5")).type("AGE") == "enum"


class _NoMPILibrary(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """mpi4py's wheel where no MPI library can be loaded (hpcdl installed without the mpich extra)."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "mpi4py.MPI" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise RuntimeError("cannot load MPI library\nlibmpi.so.12: cannot open shared object file")


@pytest.mark.parametrize("launched", [None, "2"])
def test_an_mpi4py_without_an_mpi_library_trains_one_rank_and_refuses_several(monkeypatch, launched):
    import mpi4py

    from hpcdl import comm as comm_mod

    monkeypatch.setattr(comm_mod, "_world", None)
    monkeypatch.delenv("HPCDL_NO_MPI", raising=False)
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)
    monkeypatch.delattr(mpi4py, "MPI", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoMPILibrary(), *sys.meta_path])
    if launched is None:
        assert comm_mod.world().size == 1  # one process: it trains alone, which is right
        return
    monkeypatch.setenv("PMI_SIZE", launched)  # mpiexec -n 2: each rank would train alone, silently
    with pytest.raises(RuntimeError, match=r"mpi4py cannot load an MPI library \(cannot load MPI library\): .*mpich"):
        comm_mod.world()
