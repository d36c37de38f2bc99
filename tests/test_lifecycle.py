"""Checkpoint restart, periodic checkpoints, signals, resume after kills, divergence (docs/checkpoints.md).

The resume tests compare against an uninterrupted run: with ``reproducible=True``
(one thread per rank) a resumed run must give bit-identical weights.
"""

import errno
import glob
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

import hpcdl
from hpcdl import cli
from hpcdl.frame import frame_from_numpy
from hpcdl.lifecycle import CheckpointError, checkpoint_files, latest_checkpoint
from hpcdl.store import ModelFileError
from hpcdl.train import TrainHook, TrainingError

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")
PROSTATE_CSV = os.path.join(DATA, "prostate.csv")
BIN = os.path.dirname(sys.executable)
X = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
BASE = {
    "x": X,
    "y": "CAPSULE",
    "hidden": [5],
    "seed": 5,
    "threads": 1,
    "reproducible": True,
    "quiet_mode": True,
    "shuffle_training_data": True,
    "train_samples_per_iteration": 150,
    "stopping_rounds": 2,
    "activation": "RectifierWithDropout",
}


@pytest.fixture(scope="module")
def prostate(tmp_path_factory):
    d = tmp_path_factory.mktemp("prostate")
    return hpcdl.import_file(PROSTATE_CSV, destination=str(d / "p.h5"), col_types={"CAPSULE": "enum", "RACE": "enum"})


class StopAt(TrainHook):
    """A hook asking for a stop at an iteration, as SIGTERM does."""

    def __init__(self, iteration):
        self.iteration = iteration

    def after_iteration(self, ctx):
        if ctx.iteration >= self.iteration:
            ctx.stop_requested = 1


def _history(model):
    return [(r["iterations"], r["samples"], r["epochs"], r["training_logloss"]) for r in model.scoring_events]


# -- checkpoint restart (API) ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "stop_at, change",
    [
        (4, {}),  # mid-pass: shuffled rows, dropout, ADADELTA state
        # noisy manual rate: the best model (iteration 4) lies before the stop, early stopping comes after it
        (6, {"adaptive_rate": False, "rate": 0.05, "seed": 11, "activation": "Rectifier"}),
        # Adam in mini-batches: its moments and step count come back from the file
        (4, {"optimizer": "Adam", "rate": 0.01, "weight_decay": 0.01, "mini_batch_size": 4}),
    ],
)
def test_restart_continues_exactly_where_it_stopped(prostate, tmp_path, stop_at, change):
    """Stop, save, restart from the file: the same model and history as without the stop."""
    params = {**BASE, **change, "epochs": 6}
    full = hpcdl.deeplearning(training_frame=prostate, **params)
    part = hpcdl.deeplearning(training_frame=prostate, hooks=[StopAt(stop_at)], **params)
    assert part.run_info["stop_reason"] == "stop requested (signal)" and part.run_info["iterations"] == stop_at
    path = part.save(str(tmp_path / "part.h5"))
    rest = hpcdl.deeplearning(training_frame=prostate, checkpoint=path, **params)
    assert np.array_equal(rest.net.buffer, full.net.buffer)
    assert _history(rest) == _history(full)  # iterations, samples and epochs continue; same losses
    per_iteration = np.diff([0] + [r["samples"] for r in full.scoring_events])
    trained = per_iteration[per_iteration > 0]  # (a final best-model row repeats the last count)
    assert len(set(trained.tolist())) > 2  # random (binomial) rows per iteration, re-drawn alike on resume
    assert rest.run_info["iterations"] == full.run_info["iterations"] > stop_at
    assert rest.run_info["stop_reason"] == full.run_info["stop_reason"]
    assert rest.run_info.get("best_iteration") == full.run_info.get("best_iteration")
    if (
        "adaptive_rate" in change
    ):  # the case is what it claims: best model restored at the end, early stop after the restart
        assert full.run_info["stop_reason"] == "early stopping" and full.run_info["best_iteration"] < stop_at
    assert rest.scoring_events[3]["duration"] <= rest.scoring_events[4]["duration"]  # durations continue


def test_restart_with_more_epochs_and_changed_m_parameters(prostate, tmp_path):
    first = hpcdl.deeplearning(training_frame=prostate, epochs=2, **BASE)
    assert first.run_info["epochs"] == pytest.approx(2.0)
    more = hpcdl.deeplearning(
        training_frame=prostate, checkpoint=first, **{**BASE, "epochs": 5, "l2": 1e-3, "stopping_rounds": 0}
    )
    assert more.run_info["epochs"] == pytest.approx(5.0)  # epochs is the new total
    h_first, h_more = _history(first), _history(more)
    assert h_more[: len(h_first)] == h_first
    iterations = [h[0] for h in h_more]
    assert iterations == sorted(set(iterations)) and iterations[len(h_first)] == h_first[-1][0] + 1
    assert more.effective["l2"] == 1e-3
    assert first.run_info["epochs"] == pytest.approx(2.0)  # the checkpoint model itself is untouched
    with pytest.raises(TrainingError, match=r"epochs=2.0 must be larger than the 5 epochs already trained"):
        hpcdl.deeplearning(training_frame=prostate, checkpoint=more, **{**BASE, "epochs": 2})


@pytest.mark.parametrize(
    "change, message",
    [
        ({"hidden": [7]}, r"cannot change 'hidden' on checkpoint restart: was \[5\], now \[7\]"),
        ({"activation": "Tanh"}, r"cannot change 'activation' on checkpoint restart"),
        ({"adaptive_rate": False}, r"cannot change 'adaptive_rate'"),
        ({"y": "DPROS"}, r"cannot change the response on checkpoint restart: was 'CAPSULE', now 'DPROS'"),
        ({"x": X[:-1]}, r"cannot change the predictors"),
        ({"nfolds": 3}, r"nfolds must be 0"),
    ],
)
def test_restart_refuses_changed_parameters(prostate, tmp_path, change, message):
    path = hpcdl.deeplearning(training_frame=prostate, epochs=1, **BASE).save(str(tmp_path / "m.h5"))
    with pytest.raises((CheckpointError, ValueError), match=message):
        hpcdl.deeplearning(training_frame=prostate, checkpoint=path, **{**BASE, "epochs": 2, **change})


def _frame_variant(prostate, tmp_path, name, edit):
    df = prostate.as_data_frame()  # categoricals as pandas categories: their categories become the domains
    df = edit(df) if edit(df) is not None else df
    return frame_from_numpy(df.reset_index(drop=True), str(tmp_path / f"{name}.h5"))


def test_restart_refuses_incompatible_data(prostate, tmp_path):
    model = hpcdl.deeplearning(training_frame=prostate, epochs=1, **BASE)

    def new_level(df):
        df["RACE"] = df["RACE"].cat.add_categories(["9"])

    def drop_column(df):
        del df["PSA"]

    def gleason_as_enum(df):
        df["GLEASON"] = df["GLEASON"].astype(int).astype(str).astype("category")

    def response_levels(df):
        df["CAPSULE"] = df["CAPSULE"].cat.rename_categories(["no", "yes"])

    cases = [
        (
            new_level,
            (
                r"column 'RACE' has levels \['0', '1', '2', '9'\], the checkpoint model was trained on "
                r"\['0', '1', '2'\]"
            ),
        ),
        (drop_column, r"needs column\(s\) \['PSA'\]"),
        (gleason_as_enum, r"column 'GLEASON' is categorical, the checkpoint model was trained on it as numeric"),
        (response_levels, r"response 'CAPSULE' has levels \['no', 'yes'\]"),
    ]
    for edit, message in cases:
        frame = _frame_variant(prostate, tmp_path, edit.__name__, edit)
        with pytest.raises(CheckpointError, match=message) as info:
            hpcdl.deeplearning(training_frame=frame, checkpoint=model, **{**BASE, "epochs": 2})
        assert frame.path in str(info.value)  # names the file
    # different rows with the same columns and domains are fine; like H2O, epochs = all samples trained so far
    # divided by the rows of the frame trained on now (the 380 samples already count as 2 epochs of 190 rows)
    half = _frame_variant(prostate, tmp_path, "half", lambda df: df.iloc[:190])
    cont = hpcdl.deeplearning(training_frame=half, checkpoint=model, **{**BASE, "epochs": 3})
    assert model.run_info["samples"] == 380
    assert cont.run_info["samples"] == 3 * 190 and cont.run_info["epochs"] == pytest.approx(3.0)


# -- divergence ------------------------------------------------------------------------------------
def test_divergence_stops_cleanly_with_a_finite_model(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 3))
    frame = frame_from_numpy(
        {"a": a[:, 0], "b": a[:, 1], "c": a[:, 2], "y": a @ [1.0, 2.0, 3.0]}, str(tmp_path / "reg.h5")
    )
    kw = {
        "y": "y",
        "training_frame": frame,
        "hidden": [6],
        "seed": 5,
        "threads": 1,
        "epochs": 20,
        "quiet_mode": True,
        "train_samples_per_iteration": 50,
        "adaptive_rate": False,
        "rate": 1e4,
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = hpcdl.deeplearning(**kw)
    assert any(
        "training diverged at iteration" in str(w.message) and "last good model" in str(w.message) for w in caught
    )
    assert model.run_info["stop_reason"] == "diverged"
    assert np.isfinite(model.net.buffer).all()
    pred = model.predict(frame, destination=str(tmp_path / "pred.h5")).column("predict")
    assert np.isfinite(pred).all()
    assert model.run_info["epochs"] < 20
    # the same through the command line: the message and exit code 1
    job = tmp_path / "div.toml"
    job.write_text(
        f'[job]\nname = "div"\noutput_dir = "{tmp_path / "out"}"\n[data]\ntraining_frame = '
        f'"{frame.path}"\ny = "y"\n[parameters]\nhidden = [6]\nseed = 5\nepochs = 20\n'
        "adaptive_rate = false\nrate = 1e4\ntrain_samples_per_iteration = 50\n"
    )
    assert cli.main(["train", str(job), "--quiet", "--threads", "1"]) == 1
    err = capsys.readouterr().err
    assert "hpcdl train: error: training diverged" in err
    assert np.isfinite(hpcdl.load_model(str(tmp_path / "out" / "div.h5")).net.buffer).all()


# -- jobs: checkpoint= in [parameters], SIGTERM, kills --------------------------------------------
JOB = """[job]
name = "lc"
output_dir = "{out}"
checkpoint_interval = {interval}
threads = 1
[data]
training_frame = "{csv}"
y = "CAPSULE"
ignored_columns = ["ID"]
col_types = {{ CAPSULE = "enum" }}
[parameters]
hidden = [5]
epochs = {epochs}
seed = 3
reproducible = true
shuffle_training_data = true
train_samples_per_iteration = 100
stopping_rounds = 0
quiet_mode = true
"""


def _job(tmp_path, name, epochs=60, interval=0.02):
    out = tmp_path / name
    path = tmp_path / f"{name}.toml"
    path.write_text(JOB.format(out=out, csv=PROSTATE_CSV, epochs=epochs, interval=interval))
    return str(path), out


def test_job_parameter_checkpoint_continues_a_model(tmp_path, capsys):
    job, out = _job(tmp_path, "first", epochs=3, interval=0)
    assert cli.main(["train", job, "--quiet"]) == 0
    first = hpcdl.load_model(str(out / "lc.h5"))
    job2, out2 = _job(tmp_path, "second", epochs=6, interval=0)
    assert cli.main(["train", job2, "--quiet", "--set", f'checkpoint="{out / "lc.h5"}"']) == 0
    second = hpcdl.load_model(str(out2 / "lc.h5"))
    assert second.run_info["epochs"] == pytest.approx(6.0)
    assert second.scoring_events[: len(first.scoring_events)] == first.scoring_events
    capsys.readouterr()
    code = cli.main(["train", job2, "--quiet", "--set", f'checkpoint="{out / "lc.h5"}"', "--set", "hidden=[9]"])
    assert code == 1
    assert "cannot change 'hidden' on checkpoint restart" in capsys.readouterr().err


def test_a_run_that_fails_before_writing_leaves_no_empty_output_directory(tmp_path, capsys):
    (tmp_path / "jobs").mkdir()
    job, out = _job(tmp_path / "jobs", "nested", epochs=1)
    missing = tmp_path / "nowhere.csv"
    text = (tmp_path / "jobs" / "nested.toml").read_text().replace(PROSTATE_CSV, str(missing))
    (tmp_path / "jobs" / "nested.toml").write_text(text.replace(str(out), str(out / "deeper")))
    assert cli.main(["train", job, "--quiet"]) == 1
    assert str(missing) in capsys.readouterr().err
    assert not out.exists()  # neither the output directory nor the parent the run created for it
    (out / "deeper").mkdir(parents=True)  # the user's own (empty) directory stays
    (out / "keep.txt").write_text("mine")
    assert cli.main(["train", job, "--quiet"]) == 1
    assert (out / "deeper").is_dir() and (out / "keep.txt").read_text() == "mine"
    capsys.readouterr()


def _start(job, *extra, n_ranks=None):
    cmd = [os.path.join(BIN, "hpcdl"), "train", job, "--resume", "--quiet", *extra]
    if n_ranks:
        cmd = [os.path.join(BIN, "mpiexec"), "-n", str(n_ranks), *cmd]
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_checkpoint(out, proc, newer_than=None, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        files = checkpoint_files(str(out / "checkpoints"))
        if files and files[-1] != newer_than:
            return files[-1]
        if proc.poll() is not None:
            return None
        time.sleep(0.01)
    raise AssertionError("no checkpoint appeared")


class Watcher(threading.Thread):
    """Loads every checkpoint-*.h5 it sees, over and over: none may ever be half-written."""

    def __init__(self, directory):
        super().__init__(daemon=True)
        self.directory = directory
        self.stop = threading.Event()
        self.loaded = set()
        self.bad = []

    def run(self):
        while not self.stop.is_set():
            for path in glob.glob(os.path.join(self.directory, "checkpoint-*.h5")):
                try:
                    model = hpcdl.load_model(path)
                    assert np.isfinite(model.net.buffer).all()
                    self.loaded.add(path)
                except (ModelFileError, FileNotFoundError) as exc:  # pruned between glob and open: fine
                    if os.path.exists(path) and "no such model file" not in str(exc):
                        self.bad.append(str(exc))
            time.sleep(0.02)


def _reference(tmp_path, epochs):
    job, out = _job(tmp_path, "reference", epochs=epochs, interval=0)
    assert cli.main(["train", job, "--quiet"]) == 0
    return hpcdl.load_model(str(out / "lc.h5"))


def test_sigterm_writes_a_checkpoint_and_exits_3_then_resume_matches(tmp_path):
    job, out = _job(tmp_path, "term", epochs=60, interval=1000)  # only the signal's checkpoint
    proc = _start(job)
    head = proc.stdout.readline()  # "hpcdl: job ...": the frame is loaded, the signal handlers are in place
    assert head.startswith("hpcdl: job lc"), head + proc.stderr.read()
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    stdout = head + stdout
    assert proc.returncode == 3, stderr
    assert "stopped by a signal" in stdout + stderr and "--resume" in stdout + stderr
    files = checkpoint_files(str(out / "checkpoints"))
    assert len(files) == 1
    stopped = hpcdl.load_model(files[0])
    assert stopped.run_info["stop_reason"] == "stop requested (signal)"
    assert 0 < stopped.run_info["epochs"] < 60
    assert not os.path.exists(out / "lc.h5")  # no final model from an interrupted run
    assert cli.main(["train", job, "--resume", "--quiet"]) == 0  # in this process: no second start-up
    final = hpcdl.load_model(str(out / "lc.h5"))
    reference = _reference(tmp_path, 60)
    assert np.array_equal(final.net.buffer, reference.net.buffer)
    assert [r["iterations"] for r in final.scoring_events] == [r["iterations"] for r in reference.scoring_events]


def test_sigterm_with_json_prints_where_to_resume(tmp_path):
    job, out = _job(tmp_path, "termjson", epochs=60, interval=1000)
    proc = _start(job, "--json")
    head = proc.stderr.readline()  # with --json the messages go to stderr, the result to stdout
    assert head.startswith("hpcdl: job lc"), head + proc.stderr.read()
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr
    assert stdout.startswith("{"), stdout[:300]
    result = json.loads(stdout)
    files = checkpoint_files(str(out / "checkpoints"))
    assert result["stopped_by_signal"] is True and result["exit_code"] == 3
    assert result["checkpoint"] == files[-1] and "--resume" in result["resume_command"]
    assert result["run_info"]["stop_reason"] == "stop requested (signal)"
    assert 0 < result["run_info"]["epochs"] < 60


def test_killed_again_and_again_resume_finishes_the_same_model(tmp_path, capsys):
    """SIGKILL at random points; every checkpoint file seen always loads; resume gives the uninterrupted model."""
    job, out = _job(tmp_path, "kill", epochs=150, interval=0.02)
    os.makedirs(out / "checkpoints")
    watcher = Watcher(str(out / "checkpoints"))
    watcher.start()
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    last, kills = None, 0
    try:
        for _ in range(3):
            proc = _start(job)
            newest = _wait_for_checkpoint(out, proc, newer_than=last)
            if newest is None:  # finished before we could kill it
                break
            time.sleep(rng.uniform(0.0, 0.2))  # a random point (~10 epochs/0.1 s; 150 epochs in all)
            proc.kill()
            proc.communicate(timeout=30)
            if proc.returncode == -signal.SIGKILL:
                kills += 1
            last = latest_checkpoint(str(out / "checkpoints"))
            assert last is not None
            assert not os.path.exists(out / "lc.h5")
        code = cli.main(["train", job, "--resume", "--quiet"])  # in this process: no start-up time
    finally:
        watcher.stop.set()
        watcher.join()
    assert code == 0
    assert kills >= 3, f"only {kills} kills landed (seed {seed})"
    assert not watcher.bad, watcher.bad
    assert len(watcher.loaded) >= 3
    final = hpcdl.load_model(str(out / "lc.h5"))
    assert final.run_info["stop_reason"] == "epochs reached"
    reference = _reference(tmp_path, 150)
    assert np.array_equal(final.net.buffer, reference.net.buffer), f"seed {seed}"
    # a resume after the job finished has nothing to redo
    capsys.readouterr()
    assert cli.main(["train", job, "--resume", "--quiet"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert np.array_equal(hpcdl.load_model(str(out / "lc.h5")).net.buffer, reference.net.buffer)


# -- MPI: signal forwarding and a killed rank (mpiexec from this serial test) ------------------------
def _descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _rank_pid(mpiexec_pid, rank):
    for pid in _descendants(mpiexec_pid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
        except OSError:
            continue
        if f"PMI_RANK={rank}".encode() in env:
            return pid
    return None


@pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "mpiexec")), reason="no mpiexec beside the interpreter")
def test_mpiexec_sigterm_exit_3_killed_rank_aborts_and_resume_finishes(tmp_path):
    job, out = _job(tmp_path, "mpi", epochs=60, interval=0.05)
    # SIGTERM to mpiexec reaches every rank (Hydra forwards it): clean stop, checkpoint, exit code 3
    proc = _start(job, n_ranks=2)
    first = _wait_for_checkpoint(out, proc)
    assert first is not None
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr
    assert stdout.count("stopped by a signal") == 1  # rank 0 reports it once
    stopped = hpcdl.load_model(latest_checkpoint(str(out / "checkpoints")))
    assert stopped.run_info["stop_reason"] == "stop requested (signal)" and stopped.run_info["ranks"] == 2
    # SIGKILL of rank 1 mid-training: the whole job ends promptly instead of hanging in a collective
    proc = _start(job, n_ranks=2)
    newest = _wait_for_checkpoint(out, proc, newer_than=latest_checkpoint(str(out / "checkpoints")))
    assert newest is not None
    victim = _rank_pid(proc.pid, 1)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    t0 = time.time()
    proc.communicate(timeout=30)
    assert proc.returncode != 0 and time.time() - t0 < 30
    resumed_from = hpcdl.load_model(latest_checkpoint(str(out / "checkpoints")))
    assert resumed_from.run_info["iterations"] > stopped.run_info["iterations"]
    proc = _start(job, n_ranks=2)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    final = hpcdl.load_model(str(out / "lc.h5"))
    assert final.run_info["stop_reason"] == "epochs reached" and final.run_info["epochs"] == pytest.approx(60)
    iterations = [r["iterations"] for r in final.scoring_events]
    if final.run_info.get("best_iteration"):  # the best model restored: H2O's final row repeats the last iteration
        assert iterations[-1] == iterations[-2]
        iterations = iterations[:-1]
    assert iterations == list(range(1, final.run_info["iterations"] + 1))  # one row per iteration, no gaps/repeats
    assert np.isfinite(final.net.buffer).all()


# -- a full disk: periodic checkpoints are warnings, the final model save is the error ------------------
def _no_space_for(monkeypatch, wanted):
    """Make the model writer fail with ENOSPC for the paths ``wanted(path, call_number)`` picks."""
    from hpcdl import store

    real, calls = store.write_model_file, []

    def write(path, content, **kw):
        calls.append(path)
        if wanted(path, len(calls)):
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return real(path, content, **kw)

    monkeypatch.setattr(store, "write_model_file", write)
    return calls


def test_a_periodic_checkpoint_that_does_not_fit_is_a_warning_and_training_goes_on(tmp_path, monkeypatch, capsys):
    job, out = _job(tmp_path, "full", epochs=6, interval=1e-9)  # a checkpoint after every iteration
    calls = _no_space_for(monkeypatch, lambda path, n: "checkpoint-" in path and n in (3, 4))
    assert cli.main(["train", job, "--quiet"]) == 0
    err = capsys.readouterr().err
    warnings_ = [line for line in err.splitlines() if "not written" in line]
    assert len(warnings_) == 2 and all("No space left on device" in w and "training goes on" in w for w in warnings_)
    assert f"the previous one ({out / 'checkpoints' / 'checkpoint-00000002.h5'}) is kept" in warnings_[0]
    assert calls[2].endswith("checkpoint-00000003.h5") and not os.path.exists(calls[2])
    monkeypatch.undo()
    final = hpcdl.load_model(str(out / "lc.h5"))
    assert final.run_info["stop_reason"] == "epochs reached"
    assert np.array_equal(final.net.buffer, _reference(tmp_path, 6).net.buffer)  # training did not notice
    assert [os.path.basename(p) for p in checkpoint_files(str(out / "checkpoints"))] == [
        f"checkpoint-{final.run_info['iterations'] - 1:08d}.h5",
        f"checkpoint-{final.run_info['iterations']:08d}.h5",
    ]
    assert not glob.glob(str(out / "checkpoints" / ".*.part"))


def test_a_final_model_that_does_not_fit_is_an_error_naming_the_checkpoint_to_resume(tmp_path, monkeypatch, capsys):
    job, out = _job(tmp_path, "fullend", epochs=3, interval=0)
    _no_space_for(monkeypatch, lambda path, n: path.endswith("lc.h5"))
    assert cli.main(["train", job, "--quiet"]) == 1
    err = capsys.readouterr().err
    newest = checkpoint_files(str(out / "checkpoints"))[-1]
    assert f"hpcdl train: error: {out / 'lc.h5'}: the trained model could not be saved" in err
    assert "No space left on device" in err and "it is lost unless you free space" in err
    assert f"--resume: it continues from the last checkpoint {newest}" in err
    assert not os.path.exists(out / "lc.h5")
    monkeypatch.undo()
    assert cli.main(["train", job, "--quiet", "--resume"]) == 0  # space freed: the finished model is saved
    assert "already finished" in capsys.readouterr().out
    assert np.array_equal(hpcdl.load_model(str(out / "lc.h5")).net.buffer, _reference(tmp_path, 3).net.buffer)


# -- fresh, resume and re-runs in a used output directory ----------------------------------------------
def _digest(directory):
    import hashlib

    return {
        os.path.basename(p): hashlib.sha256(open(p, "rb").read()).hexdigest()
        for p in glob.glob(os.path.join(directory, "*"))
    }


def _stop_by_signal_at(monkeypatch, iteration, signum=signal.SIGTERM):
    """A real signal to this process at an iteration (the handlers hpcdl installs take it)."""
    from hpcdl.lifecycle import CheckpointHook

    real = CheckpointHook.after_iteration

    def after_iteration(self, ctx):
        if ctx.iteration == iteration:
            os.kill(os.getpid(), signum)
        return real(self, ctx)

    monkeypatch.setattr(CheckpointHook, "after_iteration", after_iteration)


def test_a_fresh_run_refuses_to_lose_a_stopped_run_and_fresh_moves_it_aside(tmp_path, monkeypatch, capsys):
    job, out = _job(tmp_path, "again", epochs=6, interval=1e-9)
    _stop_by_signal_at(monkeypatch, 4)
    assert cli.main(["train", job, "--quiet"]) == 3
    monkeypatch.undo()
    kept = _digest(out / "checkpoints")
    assert len(kept) == 2
    capsys.readouterr()
    assert cli.main(["train", job, "--quiet"]) == 1  # used to delete them and start over
    err = capsys.readouterr().err
    newest = hpcdl.load_model(sorted(glob.glob(str(out / "checkpoints" / "*.h5")))[-1])
    epochs = f"{newest.run_info['epochs']:.3f}"  # the epochs the stopped run reached, from its checkpoint
    assert f"holds the checkpoints of an unfinished run (stopped by a signal after {epochs} of 6 epochs" in err
    assert "Continue it with --resume, or start over with --fresh" in err and err.startswith(
        f"hpcdl train: error: {job}"
    )
    assert _digest(out / "checkpoints") == kept  # not a byte changed
    assert cli.main(["train", job, "--quiet", "--fresh"]) == 0
    moved = glob.glob(str(out / "checkpoints.old-*"))
    assert len(moved) == 1 and _digest(moved[0]) == kept
    assert f"starting over; the previous run's checkpoints are kept in {moved[0]}" in capsys.readouterr().out
    assert np.array_equal(hpcdl.load_model(str(out / "lc.h5")).net.buffer, _reference(tmp_path, 6).net.buffer)
    with pytest.raises(SystemExit):  # argparse: not both
        cli.main(["train", job, "--resume", "--fresh"])


def test_a_killed_run_counts_as_unfinished_and_resume_continues_it(tmp_path, monkeypatch, capsys):
    job, out = _job(tmp_path, "killed", epochs=6, interval=1e-9)
    real = __import__("hpcdl.lifecycle", fromlist=["CheckpointHook"]).CheckpointHook.after_iteration

    def crash(self, ctx):
        real(self, ctx)
        if ctx.iteration == 3:
            raise MemoryError("killed")  # ends the run like a kill: no final checkpoint

    monkeypatch.setattr("hpcdl.lifecycle.CheckpointHook.after_iteration", crash)
    with pytest.raises(MemoryError):
        cli.main(["train", job, "--quiet"])
    monkeypatch.undo()
    assert cli.main(["train", job, "--quiet"]) == 1
    newest = hpcdl.load_model(sorted(glob.glob(str(out / "checkpoints" / "*.h5")))[-1])
    epochs = f"{newest.run_info['epochs']:.3f}"  # the epochs of the newest checkpoint before the crash
    assert f"unfinished run (killed or crashed after {epochs} of 6 epochs" in capsys.readouterr().err
    assert cli.main(["train", job, "--quiet", "--resume"]) == 0
    assert "resuming from" in capsys.readouterr().out
    assert np.array_equal(hpcdl.load_model(str(out / "lc.h5")).net.buffer, _reference(tmp_path, 6).net.buffer)


def test_rerunning_a_finished_job_starts_a_new_run_and_keeps_what_the_model_file_does_not_hold(tmp_path, capsys):
    job, out = _job(tmp_path, "rerun", epochs=2, interval=0)
    assert cli.main(["train", job, "--quiet"]) == 0
    assert cli.main(["train", job, "--quiet", "--set", "seed=4"]) == 0  # what someone editing a job expects
    text = capsys.readouterr().out
    assert f"finished and its model is {out / 'lc.h5'}: its 1 checkpoint file(s) are removed" in text
    second = hpcdl.load_model(str(out / "lc.h5"))
    assert second.effective["seed"] == 4
    assert not glob.glob(str(out / "checkpoints.old-*"))
    # without a saved model the finished run's checkpoint is its only copy: moved aside, not removed
    only = _digest(out / "checkpoints")
    assert cli.main(["train", job, "--quiet", "--set", "job.save_model=false"]) == 0
    assert cli.main(["train", job, "--quiet", "--set", "job.save_model=false"]) == 0
    moved = glob.glob(str(out / "checkpoints.old-*"))
    assert len(moved) == 1 and "its checkpoints are kept in" in capsys.readouterr().out
    assert _digest(moved[0]) != only and len(_digest(moved[0])) == 1


def test_resume_without_a_checkpoint_starts_from_scratch_with_a_note(tmp_path, capsys):
    """What a Slurm script passing --resume on every start needs."""
    job, out = _job(tmp_path, "first", epochs=2, interval=0)
    assert cli.main(["train", job, "--quiet", "--resume"]) == 0
    assert f"--resume: no checkpoint in {out / 'checkpoints'} yet; starting from scratch" in capsys.readouterr().out
    assert np.array_equal(hpcdl.load_model(str(out / "lc.h5")).net.buffer, _reference(tmp_path, 2).net.buffer)


# -- Ctrl-C ---------------------------------------------------------------------------------------------
def test_sigint_stops_after_the_iteration_with_one_resume_line_and_exit_130(tmp_path):
    job, out = _job(tmp_path, "ctrlc", epochs=60, interval=1000)
    proc = _start(job)
    head = proc.stdout.readline()
    assert head.startswith("hpcdl: job lc"), head + proc.stderr.read()
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stderr.count("SIGINT: stopping after this iteration and writing a checkpoint") == 1
    lines = [line for line in stdout.splitlines() if "continue with:" in line]
    assert len(lines) == 1 and "stopped by a signal (SIGINT)" in lines[0] and "(exit code 130)" in lines[0]
    files = checkpoint_files(str(out / "checkpoints"))
    assert len(files) == 1 and f"checkpoint {files[0]};" in lines[0]
    assert hpcdl.load_model(files[0]).run_info["stop_reason"] == "stop requested (signal)"
    command = lines[0].split("continue with: ", 1)[1].rsplit(" (exit code", 1)[0]
    assert command == f"hpcdl train {job} --resume --quiet" or command == f"hpcdl train {job} --quiet --resume"
    assert cli.main(shlex.split(command)[1:]) == 0  # the printed command finishes the run
    assert np.array_equal(hpcdl.load_model(str(out / "lc.h5")).net.buffer, _reference(tmp_path, 60).net.buffer)


def test_a_second_sigint_stops_at_once_without_a_traceback(tmp_path, monkeypatch, capsys):
    from hpcdl.comm import SerialComm
    from hpcdl.jobs import load_job
    from hpcdl.lifecycle import CheckpointHook

    job, out = _job(tmp_path, "twice", epochs=60, interval=0)
    hook = CheckpointHook(load_job(job), SerialComm())
    try:
        os.kill(os.getpid(), signal.SIGINT)  # the first: a flag, training goes on to the iteration's end
        assert hook.signalled == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the second: at once
    finally:
        hook.restore_signals()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # the command turns that KeyboardInterrupt into one line and exit code 130
    _stop_by_signal_at(monkeypatch, 3, signal.SIGINT)
    assert cli.main(["train", job, "--quiet"]) == 130
    capsys.readouterr()
    from hpcdl import runner

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_job", interrupted)
    assert cli.main(["train", job, "--quiet", "--resume"]) == 130
    err = capsys.readouterr().err
    newest = checkpoint_files(str(out / "checkpoints"))[-1]
    assert err.strip() == (
        f"hpcdl train: interrupted: {job} stopped at once; the newest checkpoint is {newest}; "
        f"continue with: hpcdl train {job} --quiet --resume"
    )


@pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "mpiexec")), reason="no mpiexec beside the interpreter")
def test_mpiexec_forwards_sigint_every_rank_stops_exit_130_one_resume_line(tmp_path):
    job, out = _job(tmp_path, "mpiint", epochs=60, interval=0.05)
    proc = _start(job, n_ranks=2)
    assert _wait_for_checkpoint(out, proc) is not None
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stdout.count("continue with:") == 1 and "stopped by a signal (SIGINT)" in stdout  # rank 0 only
    assert "Traceback" not in stderr
    stopped = hpcdl.load_model(latest_checkpoint(str(out / "checkpoints")))
    assert stopped.run_info["stop_reason"] == "stop requested (signal)" and stopped.run_info["ranks"] == 2


# -- one run per output directory ----------------------------------------------------------------------
def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _lock_file(directory, **fields):
    import socket

    os.makedirs(directory, exist_ok=True)
    data = {"pid": os.getppid(), "host": socket.gethostname(), "started": time.time() - 100, "heartbeat": time.time()}
    data.update(fields)
    with open(os.path.join(directory, "running.json"), "w") as fh:
        json.dump(data, fh)
    return data


def test_run_lock_refuses_a_live_holder_and_takes_over_a_gone_one(tmp_path, monkeypatch):
    from hpcdl.lifecycle import LOCK_STALE_SECONDS, OutputDirInUse, RunLock, running_marker

    first = RunLock(str(tmp_path / "a"), 10.0)
    assert first.acquire() is None
    with pytest.raises(OutputDirInUse, match=rf"is in use by another run: pid {os.getpid()} on host "):
        RunLock(str(tmp_path / "a")).acquire()
    assert running_marker(str(tmp_path / "a"))["total_epochs"] == 10.0  # what `hpcdl ui` reads
    first.release()
    assert not os.path.exists(tmp_path / "a" / "running.json")
    cases = {
        "dead": ({"pid": _dead_pid()}, "is not running"),
        "far_silent": ({"host": "elsewhere", "heartbeat": time.time() - LOCK_STALE_SECONDS - 5}, "no heartbeat for"),
        "reused_pid": ({"pid_start": -1}, "is now another process"),  # our parent's pid, another start time
        "garbage": (None, "unreadable lock file"),
    }
    for name, (fields, why) in cases.items():
        if fields is None:
            (tmp_path / name).mkdir()
            (tmp_path / name / "running.json").write_text("{not json")
            os.utime(tmp_path / name / "running.json", (time.time() - 60, time.time() - 60))
        else:
            _lock_file(tmp_path / name, **fields)
        lock = RunLock(str(tmp_path / name))
        note = lock.acquire()
        assert note is not None and why in note and "took over" in note, (name, note)
        assert json.loads((tmp_path / name / "running.json").read_text())["pid"] == os.getpid()
        lock.release()
    _lock_file(tmp_path / "far_alive", host="elsewhere", heartbeat=time.time() - 30)
    with pytest.raises(OutputDirInUse, match="on host elsewhere, started 0:01:40 ago, last heartbeat 30 s ago"):
        RunLock(str(tmp_path / "far_alive")).acquire()
    # a requeued Slurm job (restart count 1) replaces its own earlier incarnation, even one on this host
    _lock_file(tmp_path / "requeued", slurm_job_id="77", slurm_restart_count=0)
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    lock = RunLock(str(tmp_path / "requeued"))
    assert "an earlier incarnation of Slurm job 77" in lock.acquire()
    lock.release()


LOCK_RACE = """
import os, sys, time
from hpcdl.lifecycle import OutputDirInUse, RunLock
lock = RunLock(sys.argv[1])
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.001)
try:
    lock.acquire()
    print("won", flush=True)
    time.sleep(1.0)
    lock.release()
except OutputDirInUse:
    print("refused", flush=True)
"""


def test_run_lock_is_taken_by_exactly_one_of_many_racing_processes(tmp_path):
    _lock_file(tmp_path / "race", pid=_dead_pid())  # all of them also race to take over a stale lock
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LOCK_RACE, str(tmp_path / "race"), str(go)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    assert all(p.stdout.readline() == "ready\n" for p in procs)
    go.touch()
    results = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert results == ["refused"] * 5 + ["won"]
    assert not os.path.exists(tmp_path / "race" / "running.json")


def test_a_second_run_of_the_same_job_is_refused_and_a_killed_ones_lock_is_taken_over(tmp_path, capsys):
    import socket

    job, out = _job(tmp_path, "twice", epochs=100000, interval=0.5)
    first = _start(job)
    assert first.stdout.readline().startswith("hpcdl: job lc")
    try:
        assert cli.main(["train", job, "--quiet", "--resume"]) == 1
        err = capsys.readouterr().err
        assert f"{out} is in use by another run: pid {first.pid} on host {socket.gethostname()}, started " in err
        assert "One run owns an output directory" in err and "--output-dir" in err
        assert first.poll() is None  # the first run goes on
        assert _wait_for_checkpoint(out, first) is not None
    finally:
        first.kill()
        first.communicate(timeout=30)
    assert json.loads((out / "running.json").read_text())["pid"] == first.pid  # left behind by kill -9
    assert cli.main(["train", job, "--quiet", "--fresh", "--set", "epochs=2"]) == 0
    text = capsys.readouterr().out
    assert f"took over {out / 'running.json'} from a run that is gone (pid {first.pid} on" in text
    assert not (out / "running.json").exists()
