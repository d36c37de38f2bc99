"""The output rules (docs/outputs.md): no existing file replaced without force, never an input, '-' only for tables.

Every writer of the API goes through ``hpcdl.fsutil.check_output``; these tests drive each writer
into the traps and check, byte for byte, that the file in the way is untouched.
"""

import hashlib
import os

import numpy as np
import pytest

import hpcdl
from hpcdl.export import export_model
from hpcdl.frame import frame_from_numpy
from hpcdl.fsutil import OutputError, check_output

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")


def _digest(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def files(tmp_path):
    """An input file, a symlink and a hard link to it, and an unrelated existing file."""
    src = tmp_path / "data.csv"
    src.write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "link.csv").symlink_to(src)
    os.link(src, tmp_path / "hard.csv")
    other = tmp_path / "other.csv"
    other.write_text("keep me\n")
    return tmp_path


# -- the rule itself ---------------------------------------------------------------
def test_an_input_is_refused_under_any_spelling_even_with_force(files, monkeypatch):
    monkeypatch.chdir(files)
    for spelling in ("data.csv", "./data.csv", str(files / "data.csv"), "link.csv", "hard.csv", "sub/../data.csv"):
        (files / "sub").mkdir(exist_ok=True)
        with pytest.raises(OutputError, match="is an input of this command.*--force does not apply"):
            check_output(spelling, inputs=["data.csv"], force=True, what="frame")


def test_an_existing_file_needs_force(files):
    other = str(files / "other.csv")
    with pytest.raises(OutputError, match=r"other\.csv: file exists; use --force \(force=True in Python\)"):
        check_output(other)
    assert check_output(other, force=True) == other
    new = str(files / "new.csv")
    assert check_output(new) == new


def test_dash_is_stdout_for_tables_only(files):
    assert check_output("-", stdout_ok=True) == "-"
    with pytest.raises(OutputError, match="model is not a table and cannot be written to standard output"):
        check_output("-", what="model")


def test_directories_and_devices_are_not_replaced(files):
    with pytest.raises(OutputError, match="is a directory"):
        check_output(str(files), force=True)
    with pytest.raises(OutputError, match="missing/: no such directory"):
        check_output(str(files / "missing") + os.sep)
    assert not (files / "missing").exists()
    with pytest.raises(OutputError, match="not a regular file"):
        check_output(os.devnull, force=True)  # an atomic rename would replace the device node


# -- every writer of the API ---------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("trained")
    rng = np.random.default_rng(3)
    cols = {"a": rng.normal(size=60), "b": rng.normal(size=60)}
    cols["y"] = cols["a"] - cols["b"]
    frame = frame_from_numpy(cols, str(d / "f.h5"))
    model = hpcdl.deeplearning(y="y", training_frame=frame, hidden=[3], epochs=2, seed=1, reproducible=True)
    ae = hpcdl.deeplearning(
        x=["a", "b"], training_frame=frame, autoencoder=True, hidden=[2], epochs=2, seed=1, reproducible=True
    )
    return frame, model, ae, model.save(str(d / "m.h5"))


def _refused(call, path, match):
    before = _digest(path)
    with pytest.raises(OutputError, match=match):
        call()
    assert _digest(path) == before


def test_scoring_results_never_replace_the_frame_they_read(trained):
    frame, model, ae, _ = trained
    for call in (
        lambda: model.predict(frame, destination=frame.path, force=True),
        lambda: ae.anomaly(frame, destination=frame.path, force=True),
        lambda: model.deepfeatures(frame, 0, destination=frame.path, force=True),
        lambda: model.predict(frame.path, destination=frame.path, force=True),
    ):
        _refused(call, frame.path, "is an input")


def test_scoring_results_replace_an_existing_file_only_with_force(trained, tmp_path):
    frame, model, ae, _ = trained
    out = str(tmp_path / "p.h5")
    first = model.predict(frame, destination=out)
    assert first.path == out
    _refused(lambda: model.predict(frame, destination=out), out, "file exists; use --force")
    _refused(lambda: ae.anomaly(frame, destination=out), out, "file exists")
    _refused(lambda: model.deepfeatures(frame, 0, destination=out), out, "file exists")
    again = ae.anomaly(frame, destination=out, force=True)
    assert again.names == ["Reconstruction.MSE"]


def test_model_save_and_export_refusals(trained, tmp_path):
    _, model, _, saved = trained
    _refused(lambda: model.save(saved), saved, "file exists")
    _refused(lambda: model.save(saved, force=True, inputs=[saved]), saved, "is an input")
    with pytest.raises(OutputError, match="missing_dir/: no such directory"):
        model.save(str(tmp_path / "missing_dir") + os.sep)
    _refused(lambda: export_model(saved, saved, "python", force=True), saved, "is an input")
    py = tmp_path / "s.py"
    py.write_text("# mine\n")
    _refused(lambda: export_model(saved, str(py), "python"), str(py), "file exists")
    with pytest.raises(OutputError, match="standard output"):
        export_model(saved, "-", "onnx")
    assert export_model(saved, str(py), "python", force=True) == [str(py)]


def test_import_refuses_its_own_input_and_existing_frames(tmp_path):
    src = tmp_path / "iris.csv"
    src.write_bytes(open(os.path.join(DATA, "iris_wheader.csv"), "rb").read())
    _refused(lambda: hpcdl.import_file(str(src), destination=str(src), force=True), str(src), "is an input")
    frame = hpcdl.import_file(str(src), destination=str(tmp_path / "iris.h5"))
    _refused(lambda: hpcdl.import_file(str(src), destination=frame.path), frame.path, "file exists")
    _refused(lambda: hpcdl.import_file(str(src), destination=str(tmp_path)), frame.path, "file exists")  # dir/iris.h5
    _refused(
        lambda: hpcdl.import_file(frame.path, destination=str(tmp_path / "copy.h5")),
        frame.path,
        "already an hpcdl frame",
    )
    with pytest.raises(OutputError, match="not a table"):
        hpcdl.import_file(str(src), destination="-")
    assert hpcdl.import_file(str(src), destination=frame.path, force=True).nrow == 150


def test_grid_save_refuses_a_saved_grid_without_force(trained, tmp_path):
    frame, _, _, _ = trained
    g = hpcdl.grid(y="y", training_frame=frame, hyper_params={"hidden": [[2]]}, epochs=1, seed=1, reproducible=True)
    out = str(tmp_path / "g")
    g.save(out)
    _refused(lambda: g.save(out), os.path.join(out, "summary.json"), "file exists")
    g.save(out, force=True)
