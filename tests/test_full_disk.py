"""A full disk (or a refused write) is one clear error, never a crash, and leaves nothing behind.

Two ways to fill the disk: an injected ``OSError(ENOSPC)`` once a write budget is spent (runs
everywhere), and a real 3 MB tmpfs (needs root and ``mount``; skipped with the reason otherwise).
Before hpcdl.fsutil.H5Output, the tmpfs import ended in a segmentation fault (HDF5 cannot close a
file after a failed write) and left a 3 MB ``.part`` file behind.
"""

import errno
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import hpcdl
from hpcdl import cli, fsutil, output
from hpcdl.frame import frame_from_numpy
from hpcdl.fsutil import WriteError

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")


class _FullDevice:
    """A file object that accepts ``budget`` bytes (shared by every file of the device), then ENOSPC."""

    def __init__(self, fh, device: dict) -> None:
        self._fh, self._device = fh, device

    def write(self, data):
        left = self._device["budget"]
        n = len(data) if isinstance(data, str) else memoryview(data).nbytes
        if left <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if n > left:  # a short write, as write(2) does when the device fills mid-call
            self._device["budget"] = 0
            return self._fh.write(data[:left])
        self._device["budget"] = left - n
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


@pytest.fixture
def full_device(monkeypatch, tmp_path):
    """Files opened for writing under tmp_path/"disk" by hpcdl's writers hold ``budget`` bytes in all."""
    disk = tmp_path / "disk"
    disk.mkdir()
    device = {"budget": 0}
    real_open = open

    def fake_open(path, mode="r", *args, **kw):
        fh = real_open(path, mode, *args, **kw)
        writing = any(c in mode for c in "wa+")
        return _FullDevice(fh, device) if writing and os.fspath(path).startswith(str(disk)) else fh

    monkeypatch.setattr(fsutil, "open", fake_open, raising=False)  # HDF5 files (H5Output)
    monkeypatch.setattr(output, "open", fake_open, raising=False)  # CSV tables
    return disk, device


def _big_csv(path, rows=8000, cols=60, seed=0):
    x = np.random.default_rng(seed).normal(size=(rows, cols))
    with open(path, "w") as fh:
        fh.write(",".join(f"c{j}" for j in range(cols)) + "\n")
        for r in x:
            fh.write(",".join(repr(float(v)) for v in r) + "\n")
    return str(path)


def _assert_one_line(message: str, path: str) -> None:
    assert "\n" not in message.strip()
    assert f"cannot write {path}: no space left on device" in message
    assert "free space or write it elsewhere" in message


def test_import_into_a_full_device_raises_write_error_and_removes_the_part_file(full_device, tmp_path):
    disk, device = full_device
    device["budget"] = 200_000
    src = _big_csv(tmp_path / "big.csv", rows=3000, cols=20)
    dest = str(disk / "big.h5")
    with pytest.raises(WriteError) as info:
        hpcdl.import_file(src, destination=dest)
    err = info.value
    assert isinstance(err, OSError) and err.errno == errno.ENOSPC and err.no_space and err.path == dest
    _assert_one_line(str(err), dest)
    written = re.search(r"it needs more than the (\d+) KB written before", str(err))
    assert written and int(written.group(1)) >= 200_000 // 1024  # at least what reached the device
    assert os.listdir(disk) == []  # no .part file keeps the disk full


def test_a_failed_model_save_keeps_the_previous_file(full_device, tmp_path):
    disk, device = full_device
    rng = np.random.default_rng(1)
    frame = frame_from_numpy({"a": rng.normal(size=40), "y": rng.normal(size=40)}, str(tmp_path / "f.h5"))
    model = hpcdl.deeplearning(y="y", training_frame=frame, hidden=[50, 50], epochs=1, seed=1, reproducible=True)
    device["budget"] = 10**9
    path = model.save(str(disk / "m.h5"))
    before = open(path, "rb").read()
    device["budget"] = 20_000
    with pytest.raises(WriteError) as info:
        model.save(path, force=True)
    _assert_one_line(str(info.value), path)
    assert "it needs about" in str(info.value)  # the model's size is known before writing
    assert open(path, "rb").read() == before  # the old model is intact
    assert sorted(os.listdir(disk)) == ["m.h5"]
    assert hpcdl.load_model(path).model_id == model.model_id


def test_cli_table_output_into_a_full_device_is_exit_1_and_one_line(full_device, tmp_path, capsys):
    disk, device = full_device
    rng = np.random.default_rng(2)
    frame = frame_from_numpy({"a": rng.normal(size=500), "y": rng.normal(size=500)}, str(tmp_path / "f.h5"))
    model = hpcdl.deeplearning(y="y", training_frame=frame, hidden=[3], epochs=1, seed=1, reproducible=True)
    saved = model.save(str(tmp_path / "m.h5"))
    device["budget"] = 1000
    out = str(disk / "p.csv")
    assert cli.main(["predict", saved, frame.path, "--out", out]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hpcdl predict: error: ")
    _assert_one_line(err, out)
    assert os.listdir(disk) == []


def test_permission_and_read_only_are_write_errors_too(monkeypatch, tmp_path):
    def refuse(*args, **kw):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path))

    monkeypatch.setattr(fsutil.tempfile, "mkstemp", refuse)
    with pytest.raises(WriteError, match=r"cannot write .*x\.csv: permission denied in .*write it to a directory"):
        output.write_columns_csv(str(tmp_path / "x.csv"), {"a": [1.0]})
    assert not (tmp_path / "x.csv").exists()


def test_other_errors_inside_a_write_are_not_disguised(tmp_path):
    with pytest.raises(FileNotFoundError), fsutil.atomic_path(str(tmp_path / "o.csv")):
        open(tmp_path / "no-such-input.csv").read()  # an unreadable input is not a write failure
    assert os.listdir(tmp_path) == []


# -- a real small file system ------------------------------------------------------------
@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if not shutil.which("mount") or os.geteuid() != 0:
        pytest.skip("a real full disk needs root to mount a 3 MB tmpfs (the injected-ENOSPC tests cover the logic)")
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if run.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {run.stderr.strip()}")
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _hpcdl(*args):
    env = {**os.environ, "HPCDL_NO_MPI": "1"}
    return subprocess.run(
        [sys.executable, "-m", "hpcdl.cli", *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_import_into_a_3mb_tmpfs_is_an_error_not_a_segfault(tmpfs, tmp_path):
    src = _big_csv(tmp_path / "big.csv")  # 8,000 rows x 60 columns: a ~3.8 MB frame
    dest = os.path.join(tmpfs, "big.h5")
    run = _hpcdl("import", src, "--out", dest)
    assert run.returncode == 1, (run.returncode, run.stderr[-2000:])  # was -11 (SIGSEGV)
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith(f"hpcdl import: error: cannot write {dest}: no space left on device")
    assert os.listdir(tmpfs) == []
    st = os.statvfs(tmpfs)
    assert st.f_bavail == st.f_blocks  # the space is free again
    subprocess.run(["mount", "-o", "remount,ro", tmpfs], check=True)
    run = _hpcdl("import", os.path.join(DATA, "iris_wheader.csv"), "--out", dest)
    assert run.returncode == 1 and "read-only file system" in run.stderr and "Traceback" not in run.stderr
