"""The frame cache: one file per source identity, reused only while the source is unchanged;
frame ids catch a file replaced under an open frame; messages name the user's file."""

import json
import os
import re
import shutil
import time

import h5py
import numpy as np
import pytest

import hpcdl
from hpcdl.frame import Frame, FrameError, FrameWriter, frame_from_numpy, import_csv, import_file, import_idx
from hpcdl.frame.source import cached_import, source_identity

HEX = re.compile(r"^data-[0-9a-f]{16}\.h5$")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("HPCDL_FRAME_DIR", str(d))
    return d


def write_csv(path, rows, header="id,x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return str(path)


def ids(frame):
    return frame.column("id").tolist()


def frame_files(d):
    return sorted(p for p in os.listdir(d) if not p.startswith("."))


def test_same_name_in_two_folders_gives_two_frames(tmp_path, cache):
    a = write_csv(tmp_path / "a" / "data.csv", [(1, 10), (2, 20)])
    b = write_csv(tmp_path / "b" / "data.csv", [(7, 70), (8, 80), (9, 90)])
    fa = hpcdl.import_file(a)
    fb = hpcdl.import_file(b)
    assert fa.path != fb.path and all(HEX.match(n) for n in frame_files(cache)) and len(frame_files(cache)) == 2
    # each object keeps reading its own rows (the old cache wrote both into data.h5)
    assert ids(fa) == [1, 2] and ids(fb) == [7, 8, 9]
    assert fa.source == os.path.realpath(a) and fa.display_name == a and fb.display_name == b


def test_unchanged_source_is_reused_changed_source_reimported(tmp_path, cache, frame_writes, monkeypatch):
    src = tmp_path / "data.csv"
    write_csv(src, [(1, 10), (2, 20)])
    first = import_file(str(src))
    again = import_file(str(src))
    assert again.path == first.path and again.frame_id == first.frame_id and len(frame_writes) == 1
    # a relative spelling of the same file is the same source
    monkeypatch.chdir(tmp_path)
    assert import_file("data.csv").frame_id == first.frame_id and len(frame_writes) == 1
    # same size, new content and mtime: a new import into a new file; the old frame keeps its rows
    write_csv(src, [(3, 30), (4, 40)])
    os.utime(src, ns=(time.time_ns(), time.time_ns() + 10**9))
    changed = import_file(str(src))
    assert len(frame_writes) == 2 and changed.path != first.path
    assert ids(changed) == [3, 4] and ids(first) == [1, 2]
    # options that change the result are part of the identity
    enum_x = import_file(str(src), col_types={"x": "enum"})
    assert enum_x.path != changed.path and list(enum_x.types.values()) == ["int", "enum"] and len(frame_writes) == 3
    # chunk_bytes does not change the result: reused
    assert import_file(str(src), chunk_bytes=4096).frame_id == changed.frame_id and len(frame_writes) == 3


def test_stored_identity_is_checked_not_just_the_name(tmp_path, cache, frame_writes):
    a = write_csv(tmp_path / "a.csv", [(1, 10)])
    b = write_csv(tmp_path / "b.csv", [(2, 20), (3, 30)])
    fa, fb = import_file(a), import_file(b)
    shutil.copyfile(fb.path, fa.path)  # a foreign frame under a's cache name
    again = import_file(a)
    assert len(frame_writes) == 3 and again.path == fa.path and ids(again) == [1]
    # a broken file under the name is replaced too
    with open(fa.path, "wb") as fh:
        fh.write(b"not hdf5")
    assert ids(import_file(a)) == [1] and len(frame_writes) == 4


def test_frame_replaced_under_an_open_object_is_an_error(tmp_path):
    a = write_csv(tmp_path / "a.csv", [(1, 10)])
    b = write_csv(tmp_path / "b.csv", [(2, 20)])
    dest = tmp_path / "f.h5"
    fa = import_csv(a, dest)
    assert ids(fa) == [1]
    import_csv(b, dest)  # an explicit destination is replaced
    for read in (lambda: fa.column("id"), lambda: fa.read(), fa.head, fa.as_numpy):
        with pytest.raises(FrameError, match=r"frame file .*f\.h5 \(imported from .*a\.csv\) was replaced since it"):
            read()
    with pytest.raises(FrameError, match="was replaced since it was opened"):
        Frame(str(dest), frame_id=fa.frame_id)
    os.remove(dest)
    with pytest.raises(FrameError, match=r"f\.h5 was removed since it was opened"):
        fa.column("id")


def test_frame_without_id_is_checked_by_inode(tmp_path):
    """Frames written by other tools (no frame_id attribute): a replaced file is still caught."""
    path = tmp_path / "plain.h5"
    frame_from_numpy({"id": np.arange(3.0)}, path)
    with h5py.File(path, "r+") as f:
        del f.attrs["frame_id"]
    old = Frame(str(path))
    assert old.frame_id is None and ids(old) == [0, 1, 2]
    tmp = tmp_path / "other.h5"
    frame_from_numpy({"id": np.arange(5.0)}, tmp)
    with h5py.File(tmp, "r+") as f:
        del f.attrs["frame_id"]
    os.replace(tmp, path)
    with pytest.raises(FrameError, match="was replaced since it was opened"):
        old.column("id")


def test_every_written_frame_has_a_new_id(tmp_path):
    p = write_csv(tmp_path / "d.csv", [(1, 2)])
    f1 = import_csv(p, tmp_path / "one.h5")
    f2 = import_csv(p, tmp_path / "two.h5")
    f3 = frame_from_numpy({"id": [1.0]}, tmp_path / "three.h5")
    found = [f1.frame_id, f2.frame_id, f3.frame_id]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in found) and len(set(found)) == 3
    with h5py.File(f1.path, "r") as f:
        assert f.attrs["frame_id"] == f1.frame_id and f.attrs["source"] == os.path.realpath(p)
        ident = json.loads(f.attrs["source_identity"])
    st = os.stat(p)
    assert ident["file"] == [os.path.realpath(p), st.st_size, st.st_mtime_ns]


def test_concurrent_import_of_one_source_keeps_the_first_file(tmp_path, cache):
    """Another process publishes the same source while we import: its file stays, ours is dropped."""
    p = write_csv(tmp_path / "d.csv", [(1, 2), (3, 4)])
    ident = source_identity(p, {"kind": "csv", "header": None, "sep": None, "col_types": None, "na_strings": None})
    others = []

    def write(tmp):
        others.append(import_csv(p))  # the other process, finishing first
        return import_csv(p, tmp)

    got = cached_import(p, ident, None, write)
    assert got.frame_id == others[0].frame_id and got.path == others[0].path
    assert os.listdir(cache) == [os.path.basename(got.path)]  # our temporary file is gone


def test_source_changed_while_importing_is_an_error(tmp_path, cache, monkeypatch):
    p = write_csv(tmp_path / "d.csv", [(k, k) for k in range(2000)])
    real_append = FrameWriter.append

    def append_and_touch(self, columns, *args):
        real_append(self, columns, *args)
        with open(p, "a") as fh:
            fh.write("1,1\n")

    monkeypatch.setattr(FrameWriter, "append", append_and_touch)
    with pytest.raises(FrameError, match=r"d\.csv: the file changed while it was being imported; import it again$"):
        import_file(p)
    assert not cache.exists() or os.listdir(cache) == []


def test_idx_files_of_the_same_name_and_their_labels(tmp_path, cache):
    def idx(path, values, dims):
        arr = np.asarray(values, dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            bytes([0, 0, 8, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims) + arr.tobytes()
        )
        return str(path)

    a = idx(tmp_path / "a" / "images", [1, 2, 3, 4], (2, 2))
    b = idx(tmp_path / "b" / "images", [5, 6, 7, 8], (2, 2))
    la = idx(tmp_path / "a" / "labels", [0, 1], (2,))
    fa, fb = import_idx(a, la), import_idx(b)
    assert fa.path != fb.path and fa.column("C1").tolist() == [1, 3] and fb.column("C1").tolist() == [5, 7]
    assert fa.head()["label"].tolist() == ["0", "1"]
    # a changed label file (a companion of the images) means a new import
    idx(tmp_path / "a" / "labels", [1, 0], (2,))
    os.utime(la, ns=(time.time_ns(), time.time_ns() + 10**9))
    again = import_idx(a, la)
    assert again.path != fa.path and again.head()["label"].tolist() == ["1", "0"]


def test_missing_frame_file_hint_and_errors(tmp_path, cache):
    with pytest.raises(FrameError, match=r"nope\.h5: no such file; create it with `hpcdl import FILE --out"):
        import_file(str(tmp_path / "nope.h5"))
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        import_file(str(tmp_path / "x.csv"), coltypes={})


def test_errors_about_the_data_name_the_users_csv(tmp_path, cache):
    """Not the cache path: '<cache>/allna-<hash>.h5: response column ...' said nothing to the user."""
    p = tmp_path / "allna.csv"
    p.write_text("x,y\n1,NA\n2,NA\n3,NA\n")
    with pytest.raises(ValueError) as e:
        hpcdl.deeplearning(x=["x"], y="y", training_frame=str(p), hidden=[2], epochs=1, comm=None, threads=1)
    assert str(e.value).startswith(f"{p}: ") and "all NA" in str(e.value) and str(cache) not in str(e.value)
    f = import_file(str(p))
    with pytest.raises(FrameError, match=f"^{re.escape(str(p))}: no column 'z'"):
        f.column("z")
