"""The run state (hpcdl/runstate.py): what a checkpoint stores, and model files of format version 1.

``tests/data/model-format-v1.h5`` was written by hpcdl before the run state existed (format
version 1, a free-form ``/extra/run_info``): prostate, CAPSULE ~ AGE + PSA + VOL + GLEASON,
hidden [4], 2 epochs, balance_classes, stopping_rounds=3, reproducible, seed 3. Its values are
read here with h5py and json alone, as the reference the loaded model must match.
"""

import json
import math
import os

import h5py
import numpy as np
import pytest

import hpcdl
from hpcdl import store
from hpcdl.runstate import MonitorState, RunState, StopReason

HERE = os.path.dirname(os.path.abspath(__file__))
V1 = os.path.join(HERE, "data", "model-format-v1.h5")
PROSTATE = os.path.join(os.path.dirname(hpcdl.__file__), "datasets", "prostate.csv")


def _raw_run_info(path):
    with h5py.File(path, "r") as f:
        assert int(f.attrs["format_version"]) == 1
        return json.loads(f["extra/run_info"][()])


def test_an_iteration_advances_every_counter():
    run = RunState(samples_per_rank=[0, 0, 0])
    run.advance([3, 0, 4], seconds=0.5, averaging_seconds=0.1)
    run.advance([1, 2, 0], seconds=0.25, averaging_seconds=0.05)
    assert (run.iterations, run.samples, run.samples_per_rank) == (2, 10, [4, 2, 4])
    assert run.train_seconds == pytest.approx(0.75) and run.allreduce_seconds_total == pytest.approx(0.15)
    run.n_training_rows = 4
    assert run.epochs == 2.5  # 10 samples over an epoch of 4 rows


def test_the_stored_form_round_trips_through_a_model_file_text_exactly():
    run = RunState(
        iterations=7,
        samples=700,
        samples_per_rank=[350, 350],
        n_training_rows=100,
        rows_per_rank=[100, 100],
        train_samples_per_iteration=100,
        train_samples_per_iteration_initial=50,
        monitor=MonitorState(
            best_loss=0.25, stop_values=[0.5, math.inf], frames=["/a.h5", 100, None, None], best_row=3
        ),
        stop_reason=StopReason.EARLY_STOP,
        samples_per_second=math.nan,
        class_prior=[0.6, 0.4],
    )
    back = RunState.from_dict(store.loads(store.dumps(run.to_dict())))
    assert store.dumps(back.to_dict()) == store.dumps(run.to_dict())  # NaN and inf included
    assert back.stop_reason is StopReason.EARLY_STOP and back.monitor.stop_values[1] == math.inf
    assert run.to_dict()["stop_reason"] == "early stopping"  # stored as its text
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['color'\]"):
        RunState.from_dict({**run.to_dict(), "color": "red"})


def test_stop_reasons_keep_their_stored_texts():
    texts = {r.name: r.value for r in StopReason}
    assert texts == {
        "CONTINUE": "continue",
        "EPOCHS": "epochs reached",
        "EARLY_STOP": "early stopping",
        "TIME_LIMIT": "max_runtime_secs",
        "SIGNAL": "stop requested (signal)",
        "DIVERGED": "diverged",
    }
    finished = [r.name for r in StopReason if RunState(stop_reason=r).finished]
    assert finished == ["EPOCHS", "EARLY_STOP", "TIME_LIMIT", "DIVERGED"] and not RunState().finished


def test_a_model_file_of_format_version_1_loads_with_its_run_state():
    raw = _raw_run_info(V1)
    model = hpcdl.load_model(V1)
    run = model.run
    for key in ("iterations", "samples", "samples_per_rank", "rows_per_rank", "n_training_rows", "ranks", "threads"):
        assert getattr(run, key) == raw[key], key
    assert run.train_samples_per_iteration == raw["train_samples_per_iteration"]
    assert run.stop_reason is StopReason.EPOCHS and raw["stop_reason"] == "epochs reached"
    assert run.epochs == raw["epochs"] == 2.0
    assert run.class_prior == raw["class_prior"] and run.class_sampled_prior == raw["class_sampled_prior"]
    state = raw["scorer_state"]  # version 1's name for the monitor's memory
    assert (run.monitor.best_loss, run.monitor.stop_values) == (state["best_loss"], state["stop_values"])
    assert (run.monitor.frames, run.monitor.best_row) == (state["frames"], state["best_row"])
    report = model.run_info
    assert {k: v for k, v in report.items() if k != "monitor"} == {k: v for k, v in raw.items() if k != "scorer_state"}
    # its packed state lands in the aligned in-memory buffer: the first layer by model-format.md's recipe
    with h5py.File(V1, "r") as f:
        units, buffer = json.loads(f["net"].attrs["units"]), f["net/buffer"][...]
    assert np.array_equal(model.net.weights(0), buffer[: units[1] * units[0]].reshape(units[1], units[0]))
    assert np.array_equal(model.net.packed(), buffer) and model.net.buffer.size > buffer.size  # padding in memory only


def test_a_version_1_model_is_trained_further_and_saved_as_version_2(tmp_path):
    old = hpcdl.load_model(V1)
    frame = hpcdl.import_file(PROSTATE, destination=str(tmp_path / "p.h5"), col_types={"CAPSULE": "enum"})
    more = hpcdl.deeplearning(
        x=["AGE", "PSA", "VOL", "GLEASON"],
        y="CAPSULE",
        training_frame=frame,
        checkpoint=V1,
        epochs=4,
        hidden=[4],
        balance_classes=True,
        reproducible=True,
        seed=3,
        threads=1,
        quiet_mode=True,
    )
    # the counters go on from the old file's: 2 more epochs of the same 455 balanced rows
    assert more.run.iterations > old.run.iterations and more.run.samples == 4 * 455
    assert [r["iterations"] for r in more.scoring_events[: len(old.scoring_events)]] == [
        r["iterations"] for r in old.scoring_events
    ]
    assert more.run.stop_reason is StopReason.EPOCHS and more.epochs_trained == pytest.approx(4.0)
    path = more.save(str(tmp_path / "v2.h5"))
    with h5py.File(path, "r") as f:
        assert int(f.attrs["format_version"]) == store.FORMAT_VERSION == 2
        assert set(f["extra"]) == {"run_state", "variable_importances"}
        stored = json.loads(f["extra/run_state"][()])
    assert stored["iterations"] == more.run.iterations and stored["stop_reason"] == "epochs reached"
    again = hpcdl.load_model(path)
    assert again.run == more.run and np.array_equal(again.net.buffer, more.net.buffer)


def test_an_older_model_files_effective_parameters_become_the_record_with_the_tables_defaults():
    """The v1 file predates ten parameters (Adam's, weights/offsets, auc_type, ...): at load they get
    PARAMETERS' defaults, in params.record_from_dict, and every value the file has is kept."""
    from hpcdl.params import PARAMETERS, record_from_dict

    with h5py.File(V1, "r") as f:
        stored = json.loads(f["params/effective"][()])
    model = hpcdl.load_model(V1)
    missing = [p for p in PARAMETERS if p.name not in stored]
    assert {p.name for p in missing} >= {"optimizer", "beta1", "weights_column", "auc_type"}
    for p in missing:
        assert getattr(model.effective, p.name) == p.default, p.name
    for name, value in stored.items():
        assert model.effective[name] == value, name
    assert model.effective.seed == 3 and model.hyper.optimizer == "AUTO"
    record = record_from_dict({"l2": 0.5, "no_such_parameter": 1})
    assert record.l2 == 0.5 and "no_such_parameter" not in record.to_dict()
