"""Model files: exact round trip, refusal to overwrite, clear errors for foreign/newer/damaged files; hpcdl models."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import hpcdl
from hpcdl import cli, store
from hpcdl.frame import frame_from_numpy
from hpcdl.fsutil import OutputError
from hpcdl.store import ModelFileError

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")


@pytest.fixture(scope="module")
def prostate(tmp_path_factory):
    d = tmp_path_factory.mktemp("prostate")
    return hpcdl.import_file(
        os.path.join(DATA, "prostate.csv"), destination=str(d / "p.h5"), col_types={"CAPSULE": "enum", "RACE": "enum"}
    )


@pytest.fixture(scope="module")
def model(prostate):
    x = [c for c in prostate.names if c not in ("ID", "CAPSULE")]
    return hpcdl.deeplearning(
        x=x,
        y="CAPSULE",
        training_frame=prostate,
        validation_frame=prostate,
        hidden=[6, 4],
        epochs=4,
        seed=11,
        threads=1,
        reproducible=True,
        l2=1e-4,
        quiet_mode=True,
        train_samples_per_iteration=100,
        stopping_rounds=0,
    )


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


@pytest.fixture
def saved(model, tmp_path):
    return model.save(str(tmp_path / "m.h5"))


def test_round_trip_is_exact(model, saved, prostate, tmp_path):
    m2 = hpcdl.load_model(saved)
    assert m2.model_id == model.model_id
    assert np.array_equal(m2.net.buffer, model.net.buffer)  # weights, biases and ADADELTA state, bit for bit
    assert model.best_buffer is not None and np.array_equal(m2.best_buffer, model.best_buffer)
    assert m2.params.to_dict() == model.params.to_dict()
    assert m2.params.user_given == model.params.user_given
    assert m2.effective == model.effective
    assert m2.scoring_events == model.scoring_events
    # metrics hold numpy arrays in memory and lists after loading: compare values via their JSON
    for part in ("training_metrics", "validation_metrics", "variable_importances", "run_info"):
        assert store.dumps(getattr(m2, part)) == store.dumps(getattr(model, part)), part
    assert m2.training_metrics["AUC"] == model.training_metrics["AUC"]
    assert m2.dinfo.to_dict() == model.dinfo.to_dict()
    p1 = model.predict(prostate, destination=str(tmp_path / "p1.h5")).as_data_frame()
    p2 = m2.predict(prostate, destination=str(tmp_path / "p2.h5")).as_data_frame()
    assert p1.equals(p2)
    # the file is plain HDF5: the weights read with h5py alone are the model's
    with h5py.File(saved, "r") as f:
        assert f.attrs["format"] == "hpcdl-model" and int(f.attrs["format_version"]) == store.FORMAT_VERSION
        # the parts back to back, in the documented order (the in-memory padding is not in the file)
        parts = [getattr(model.net, name) for name in ("W", "B", "EgW", "EdW", "EgB", "EdB", "MW", "MB")]
        assert np.array_equal(f["net/buffer"][...], np.concatenate(parts + [model.net.avg_activation]))
        assert json.loads(f["params/effective"][()])["hidden"] == [6, 4]
        units = json.loads(f["net"].attrs["units"])  # the docs/model-format.md recipe
        w0 = f["net/buffer"][: units[1] * units[0]].reshape(units[1], units[0])
    assert np.array_equal(w0, model.net.weights(0))


def test_history_longer_than_an_hdf5_attribute(model, tmp_path):
    """HDF5 attributes stop at 64 KiB; a long scoring history must still round-trip."""
    copy = hpcdl.load_model(model.save(str(tmp_path / "a.h5")))
    row = dict(copy.scoring_events[-1])
    copy.scoring_events = [dict(row, iterations=i, note="x" * 50) for i in range(3000)]
    copy.run.samples_per_second = float("nan")  # a NaN in the run state survives the file too
    back = hpcdl.load_model(copy.save(str(tmp_path / "long.h5")))
    assert len(json.dumps(back.scoring_events)) > 65536
    assert back.scoring_events == copy.scoring_events
    assert np.isnan(back.run_info["samples_per_second"])


def test_refuses_to_overwrite_without_force(model, saved):
    before = _read(saved)
    with pytest.raises(OutputError, match=r"m\.h5: file exists; use --force \(force=True in Python\)"):
        model.save(saved)
    assert _read(saved) == before  # untouched
    assert model.save(saved, force=True) == saved
    assert np.array_equal(hpcdl.load_model(saved).net.buffer, model.net.buffer)


def test_save_into_a_directory_uses_the_model_id(model, tmp_path):
    path = model.save(str(tmp_path))
    assert path == os.path.join(str(tmp_path), model.model_id + ".h5")
    with pytest.raises(OutputError, match="file exists"):
        model.save(str(tmp_path))


def _set_version(path, version):
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = version


def test_newer_format_version_is_refused(saved):
    _set_version(saved, store.FORMAT_VERSION + 1)
    newer, known = store.FORMAT_VERSION + 1, store.FORMAT_VERSION
    with pytest.raises(
        ModelFileError, match=rf"format version {newer} is newer than this hpcdl reads \({known}\); upgrade"
    ):
        hpcdl.load_model(saved)
    _set_version(saved, 0)
    with pytest.raises(ModelFileError, match="unknown model format version 0"):
        hpcdl.load_model(saved)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_truncated_file_is_refused(saved, keep):
    data = _read(saved)
    with open(saved, "wb") as fh:
        fh.write(data[: int(len(data) * keep)])
    with pytest.raises(ModelFileError, match=r"m\.h5: corrupted or truncated"):
        hpcdl.load_model(saved)


def test_flipped_weight_bytes_fail_the_checksum(saved):
    with h5py.File(saved, "r") as f:
        offset = f["net/buffer"].id.get_offset()
    with open(saved, "r+b") as fh:
        fh.seek(offset + 8)
        b = fh.read(1)
        fh.seek(offset + 8)
        fh.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        hpcdl.load_model(saved)


def test_not_a_model(tmp_path, prostate):
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not an hpcdl model file"):
        hpcdl.load_model(str(text))
    with pytest.raises(ModelFileError, match="not an hpcdl model file.*frame"):
        hpcdl.load_model(prostate.path)  # an HDF5 frame is not a model
    (tmp_path / "empty.h5").write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty file"):
        hpcdl.load_model(str(tmp_path / "empty.h5"))
    with pytest.raises(ModelFileError, match="no such model file"):
        hpcdl.load_model(str(tmp_path / "missing.h5"))


def test_cli_errors_are_one_line_and_nonzero(saved, tmp_path):
    """A damaged model through the real command line: message naming the file, exit 1, no traceback."""
    data = _read(saved)
    with open(saved, "wb") as fh:
        fh.write(data[: len(data) // 2])
    for args in (["models", "load", saved], ["models", "show", saved], ["show", saved]):
        proc = subprocess.run(
            [sys.executable, "-m", "hpcdl.cli", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "HPCDL_NO_MPI": "1"},
        )
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        assert f"{saved}: corrupted or truncated model file" in proc.stderr


def test_cli_newer_version_and_overwrite(model, saved, tmp_path, capsys):
    assert cli.main(["models", "save", saved, str(tmp_path / "copy.h5")]) == 0
    assert np.array_equal(hpcdl.load_model(str(tmp_path / "copy.h5")).net.buffer, model.net.buffer)
    assert cli.main(["models", "save", saved, str(tmp_path / "copy.h5")]) == 1
    assert "file exists" in capsys.readouterr().err
    assert cli.main(["models", "save", saved, str(tmp_path / "copy.h5"), "--force"]) == 0
    _set_version(saved, 7)
    assert cli.main(["models", "load", saved]) == 1
    assert "format version 7 is newer" in capsys.readouterr().err


def test_models_list_and_show(model, prostate, tmp_path, capsys):
    d = tmp_path / "models"
    d.mkdir()
    model.save(str(d))
    other = hpcdl.load_model(model.save(str(tmp_path / "o.h5")))
    other.model_id = "second"
    other.save(str(d / "second.h5"))
    frame_from_numpy({"a": np.arange(3.0)}, str(d / "a_frame.h5"))  # frames may share the directory
    (d / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)
    assert cli.main(["models", "list", str(d), "--json"]) == 0
    out = capsys.readouterr()
    listing = json.loads(out.out)
    assert sorted(r["key"] for r in listing["models"]) == sorted([model.model_id, "second"])
    row = next(r for r in listing["models"] if r["key"] == "second")
    assert row["kind"] == "binomial" and row["response"] == "CAPSULE"
    assert row["epochs"] == pytest.approx(model.run_info["epochs"])
    assert row["value"] == pytest.approx(model.validation_metrics["logloss"])
    assert len(listing["unreadable"]) == 1 and "broken.h5" in listing["unreadable"][0]
    assert "broken.h5" in out.err

    # show by model id, by file name, by path
    for key in (model.model_id, "second.h5", str(d / "second.h5")):
        assert cli.main(["models", "show", key, "--dir", str(d), "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["effective_parameters"]["hidden"] == [6, 4]
        assert shown["scoring_history"] == model.scoring_events
        assert shown["validation_metrics"]["logloss"] == pytest.approx(model.validation_metrics["logloss"])
    assert cli.main(["models", "show", model.model_id, "--dir", str(d)]) == 0
    text = capsys.readouterr().out
    assert "Scoring History" in text and "hidden" in text
    assert cli.main(["models", "show", "nope", "--dir", str(d)]) == 1
    assert "not found in" in capsys.readouterr().err
    assert cli.main(["models", "list", str(tmp_path / "absent")]) == 1
    assert "no such model directory" in capsys.readouterr().err
