"""Web UI server: every endpoint against the files it serves, path-traversal attempts, the live hook, the CLI."""

import http.client
import json
import os
import re
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import hpcdl
from hpcdl.frame import frame_summary
from hpcdl.train import TrainHook
from hpcdl.ui import LiveJob, Site, bind, serve_directory

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")
SECRET = "top-secret-content-outside-the-served-dir"


# -- fixtures -------------------------------------------------------------------
@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """runs/iris/ laid out as `hpcdl train` leaves it, a loose models/ dir, and a secret file outside runs/."""
    base = tmp_path_factory.mktemp("ui")
    runs = base / "runs"
    job = runs / "iris"
    frame = hpcdl.import_file(os.path.join(DATA, "iris_wheader.csv"), destination=str(job / "frames" / "iris.h5"))
    model = hpcdl.deeplearning(
        y="class",
        training_frame=frame,
        hidden=[8],
        epochs=30,
        seed=1,
        threads=1,
        score_interval=0,
        score_each_iteration=True,
        train_samples_per_iteration=300,
        variable_importances=True,
        model_id="iris_model",
        classification_stop=-1,
    )
    model.save(str(job / "iris.h5"))
    model.save(str(job / "checkpoints" / "checkpoint-00000003.h5"))
    (job / "iris.onnx").write_bytes(b"onnx-bytes")  # an export beside the model
    (job / "frames" / "notes.txt").write_text("not an export of the model")
    (job / "frames" / ".hidden.h5.part").write_text("partial")
    second = runs / "second"  # a second job: frames only, its model not written (yet)
    (second / "frames").mkdir(parents=True)
    (second / "frames" / "iris.h5").write_bytes((job / "frames" / "iris.h5").read_bytes())
    (runs / "models").mkdir()
    model.save(str(runs / "models" / "loose.h5"))
    with h5py.File(runs / "models" / "broken.h5", "w") as f:  # says it is a model, holds nothing
        f.attrs["format"] = "hpcdl-model"
        f.attrs["format_version"] = 1
    (base / "secret.txt").write_text(SECRET)
    os.symlink(base / "secret.txt", runs / "models" / "link.txt")  # must not be served
    os.symlink(base / "secret.txt", runs / "models" / "link.h5")
    return {"base": base, "runs": runs, "model": model, "frame": frame}


@pytest.fixture(scope="module")
def server(tree):
    srv = serve_directory(str(tree["runs"]), "127.0.0.1", 0).start()
    yield srv
    srv.stop()


def request(srv, path, method="GET", headers=None):
    """Raw request (http.client sends the path exactly as given, no normalization)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    conn.putrequest(method, path, skip_host=headers is not None and "Host" in headers)
    for k, v in (headers or {}).items():
        conn.putheader(k, v)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, resp.getheader("Content-Type") or "", body


def get_json(srv, path):
    status, ctype, body = request(srv, path)
    assert ctype.startswith("application/json"), (path, status, ctype)
    return status, json.loads(body)


# -- pages and lists ----------------------------------------------------------------
def test_page_and_static_assets(server):
    status, ctype, body = request(server, "/")
    assert status == 200 and ctype.startswith("text/html")
    assert b"/static/app.js" in body and b"/static/style.css" in body
    assert b"http://" not in body and b"https://" not in body  # nothing from the internet
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css"), ("favicon.svg", "image/svg+xml")):
        status, ctype, body = request(server, f"/static/{name}")
        assert status == 200 and ctype.startswith(kind) and body
        assert b"https://" not in body and b"http://" not in body.replace(b"http://www.w3.org/2000/svg", b"")
    assert request(server, "/static/server.py")[0] == 404
    assert request(server, "/static/nope.js")[0] == 404


def test_info(server):
    status, info = get_json(server, "/api/info")
    assert status == 200 and info == {"live": False, "read_only": True, "default_route": "#/jobs", "root": "runs"}


def test_jobs_list_and_job(server, tree):
    model = tree["model"]
    status, data = get_json(server, "/api/jobs")
    assert status == 200
    # models/ has no frames/ or checkpoints/: not a job
    assert [(j["key"], j["status"]) for j in data["jobs"]] == [("iris", "finished"), ("second", "no model")]
    job = data["jobs"][0]
    assert job["status"] == "finished" and job["model"] == "iris/iris.h5" and job["model_id"] == "iris_model"
    assert job["epochs"] == pytest.approx(model.run_info["epochs"]) and job["total_epochs"] == 30
    assert job["progress"] == pytest.approx(model.run_info["epochs"] / 30)
    assert job["samples"] == model.run_info["samples"] and job["ranks"] == 1 and job["threads"] == 1
    status, detail = get_json(server, "/api/jobs/iris")
    assert status == 200
    assert [f["key"] for f in detail["frames"]] == ["iris/frames/iris.h5"]
    assert detail["frames"][0]["nrow"] == 150 and detail["frames"][0]["ncol"] == 5
    assert [c["key"] for c in detail["checkpoints"]] == ["iris/checkpoints/checkpoint-00000003.h5"]


def test_models_list(server, tree):
    status, data = get_json(server, "/api/models")
    assert status == 200
    keys = sorted(m["key"] for m in data["models"])
    assert keys == ["iris/iris.h5", "models/broken.h5", "models/loose.h5"]  # no checkpoints, no symlink
    m = {m["key"]: m for m in data["models"]}
    assert m["iris/iris.h5"]["model_id"] == "iris_model" and m["iris/iris.h5"]["hidden"] == [8]
    assert m["iris/iris.h5"]["job"] == "iris" and m["models/loose.h5"]["job"] is None
    assert m["models/broken.h5"]["status"] == "unreadable" and "models/broken.h5" in m["models/broken.h5"]["error"]
    assert str(tree["runs"]) not in m["models/broken.h5"]["error"]


def test_unreadable_model_is_reported_not_a_crash(server, tree):
    status, view = get_json(server, "/api/models/models/broken.h5")
    assert status == 200 and view["status"] == "unreadable" and view["error"].startswith("models/broken.h5: ")
    assert str(tree["runs"]) not in view["error"]


def test_model_view_matches_model(server, tree):
    model = tree["model"]
    status, view = get_json(server, "/api/models/iris/iris.h5")
    assert status == 200
    assert view["model_id"] == "iris_model" and view["kind"] == "multinomial" and view["response"] == "class"
    assert view["status"] == "saved" and view["job"] == "iris"
    # scoring history: one column per metric, a value per scoring event
    assert view["history_rows"] == len(model.scoring_events) >= 3
    assert view["history"]["epochs"] == pytest.approx([r["epochs"] for r in model.scoring_events])
    assert view["history"]["training_classification_error"] == pytest.approx(
        [r["training_classification_error"] for r in model.scoring_events]
    )
    assert view["chart_metric"] == "classification_error"
    # metrics and the confusion matrix, against an independent count from the model's predictions
    tm = view["training_metrics"]
    assert tm["scalars"]["logloss"] == pytest.approx(model.training_metrics["logloss"])
    cm = np.array(tm["confusion_matrix"]["matrix"])
    assert tm["confusion_matrix"]["labels"] == ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]
    pred = model.predict(tree["frame"]).as_data_frame()["predict"].astype(str).to_numpy()
    truth = tree["frame"].as_data_frame()["class"].astype(str).to_numpy()
    labels = tm["confusion_matrix"]["labels"]
    expected = np.array([[np.sum((truth == a) & (pred == b)) for b in labels] for a in labels])
    assert (cm == expected).all()
    assert view["validation_metrics"] is None
    # layers, parameters, importances
    assert [r["units"] for r in view["layers"]] == [4, 8, 3]
    assert view["layers"][1]["weight_rms"] == pytest.approx(
        float(np.sqrt(np.mean(model.net.weights(0) ** 2))), rel=1e-5
    )
    params = {p["name"]: p for p in view["parameters"]}
    assert params["hidden"]["value"] == [8] and params["hidden"]["user_given"] is True
    assert params["rho"]["user_given"] is False
    names = [v["variable"] for v in view["variable_importances"]]
    assert sorted(names) == ["petal_len", "petal_wid", "sepal_len", "sepal_wid"]
    assert view["variable_importances"][0]["scaled_importance"] == pytest.approx(1.0)
    # downloads: the model file, its export beside it; not frames, not unrelated files
    assert [d["key"] for d in view["downloads"]] == ["iris/iris.h5", "iris/iris.onnx"]
    assert [d["kind"] for d in view["downloads"]] == ["model", "export"]


def test_frames_and_summary_against_numpy(server, tree):
    status, data = get_json(server, "/api/frames")
    assert status == 200 and [f["key"] for f in data["frames"]] == ["iris/frames/iris.h5", "second/frames/iris.h5"]
    assert [f["job"] for f in data["frames"]] == ["iris", "second"]
    status, summary = get_json(server, "/api/frames/iris/frames/iris.h5")
    assert status == 200 and summary["nrow"] == 150 and summary["ncol"] == 5
    assert summary["path"] == "iris/frames/iris.h5"  # no absolute host paths in the page
    raw = np.genfromtxt(os.path.join(DATA, "iris_wheader.csv"), delimiter=",", skip_header=1, usecols=(0, 1, 2, 3))
    cols = {c["name"]: c for c in summary["columns"]}
    for i, name in enumerate(["sepal_len", "sepal_wid", "petal_len", "petal_wid"]):
        assert cols[name]["mean"] == pytest.approx(raw[:, i].mean())
        assert cols[name]["median"] == pytest.approx(np.median(raw[:, i]))
    assert cols["class"]["cardinality"] == 3 and sorted(n for _, n in cols["class"]["levels"]) == [50, 50, 50]
    assert summary["columns"] == json.loads(json.dumps(frame_summary(tree["frame"])["columns"]))


def test_downloads_are_the_files(server, tree):
    status, _, body = request(server, "/download/iris/iris.h5")
    assert status == 200 and body == (tree["runs"] / "iris" / "iris.h5").read_bytes()
    status, _, body = request(server, "/download/iris/iris.onnx")
    assert status == 200 and body == b"onnx-bytes"
    status, _, body = request(server, "/download/iris/checkpoints/checkpoint-00000003.h5")
    assert status == 200 and body[:8] == b"\x89HDF\r\n\x1a\n"
    status, _, body = request(server, "/download/iris/iris.h5", method="HEAD")
    assert status == 200 and body == b""


# -- errors and attacks ---------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/api/models/nope.h5",
        "/api/models/iris/nope.h5",
        "/api/jobs/nope",
        "/api/frames/iris/iris.h5",
        "/api/nothing",
        "/nothing",
        "/download/nope.h5",
        "/download/iris/frames/iris.h5",  # frames: not downloads
        "/download/iris/frames/notes.txt",
        "/download/models/link.txt",
        "/download/models/link.h5",
    ],
)
def test_missing_things_are_404(server, path):
    status, ctype, body = request(server, path)
    assert status == 404 and ctype.startswith("application/json"), (path, status)
    assert "error" in json.loads(body)
    assert SECRET.encode() not in body


@pytest.mark.parametrize(
    "path",
    [
        "/download/../../etc/passwd",
        "/download/../secret.txt",
        "/download/iris/../../secret.txt",
        "/download/%2e%2e/%2e%2e/etc/passwd",
        "/download/%2E%2E/secret.txt",
        "/download/..%2f..%2fetc%2fpasswd",
        "/download/..%2Fsecret.txt",
        "/download/%252e%252e%252fsecret.txt",
        "/download/%2e%2e%5csecret.txt",
        "/download/..\\secret.txt",
        "/download//etc/passwd",
        "/download/%2fetc%2fpasswd",
        "/download/%00",
        "/download/iris/iris.h5%00.txt",
        "/static/../ui/server.py",
        "/static/%2e%2e/server.py",
        "/api/models/../../secret.txt",
        "/api/frames/%2e%2e%2fsecret.txt",
        "/download/%c0%ae%c0%ae/secret.txt",
        "/download/./iris/iris.h5",
        "/download/iris/.hidden.h5.part",
    ],
)
def test_path_traversal_is_refused(server, path):
    status, _, body = request(server, path)
    assert status in (400, 404), (path, status)
    assert SECRET.encode() not in body and b"root:" not in body


def test_read_only_methods(server):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, _, _ = request(server, "/api/models", method=method)
        assert status == 405


def test_foreign_host_header_is_refused(server):
    """Loopback-bound: a page on another site that rebinds its DNS name to 127.0.0.1 cannot read the API."""
    port = server.server_address[1]
    assert request(server, "/api/jobs", headers={"Host": f"evil.example:{port}"})[0] == 403
    assert request(server, "/api/jobs", headers={"Host": f"localhost:{port}"})[0] == 200
    assert request(server, "/api/jobs", headers={"Host": "127.0.0.1"})[0] == 200


def test_new_files_appear_after_rescan(tree):
    srv = bind(Site(str(tree["runs"]), rescan_seconds=0.0), "127.0.0.1", 0).start()
    try:
        assert get_json(srv, "/api/models/models/later.h5")[0] == 404
        tree["model"].save(str(tree["runs"] / "models" / "later.h5"))
        assert get_json(srv, "/api/models/models/later.h5")[1]["model_id"] == "iris_model"
    finally:
        srv.stop()
        os.remove(tree["runs"] / "models" / "later.h5")


def test_busy_port(server):
    port = server.server_address[1]
    site = Site(str(server.site.catalog.root))
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1 port {port}"):
        bind(site, "127.0.0.1", port)
    other = bind(site, "127.0.0.1", port, tries=5)  # a second live job moves to the next free port
    try:
        assert other.server_address[1] != port
    finally:
        other.server_close()


# -- the live hook ----------------------------------------------------------------------
def test_live_hook_serves_the_running_model(tmp_path):
    """During training the API shows rank 0's state as of the last iteration; after it, the finished model."""
    frame = hpcdl.import_file(os.path.join(DATA, "iris_wheader.csv"), destination=str(tmp_path / "frames" / "i.h5"))
    live = LiveJob("run", "iris.h5", name="iris", ranks=1, threads=1, model_id="live_iris")
    srv = bind(Site(str(tmp_path), live=live, rescan_seconds=0.0), "127.0.0.1", 0).start()
    seen = []

    class Probe(TrainHook):  # runs after the live hook, in the training loop, and asks the server over HTTP
        def after_iteration(self, ctx):
            if ctx.iteration in (4, 8):
                job = get_json(srv, "/api/jobs/run")[1]
                model = get_json(srv, "/api/models/iris.h5")[1]
                seen.append((ctx.iteration, ctx.epochs, len(ctx.model.scoring_events), job, model))

    try:
        assert get_json(srv, "/api/jobs/run")[1]["status"] == "starting"
        model = hpcdl.deeplearning(
            y="class",
            training_frame=frame,
            hidden=[6],
            epochs=10,
            seed=2,
            threads=1,
            score_each_iteration=True,
            train_samples_per_iteration=150,
            classification_stop=-1,
            model_id="live_iris",
            hooks=[live, Probe()],
        )
        assert len(seen) == 2
        for iteration, epochs, rows, job, view in seen:
            assert job["status"] == "running" and job["live"] is True and job["name"] == "iris"
            assert job["iterations"] == iteration and job["epochs"] == pytest.approx(epochs)
            assert job["progress"] == pytest.approx(epochs / 10) and job["total_epochs"] == 10
            assert job["samples"] == iteration * 150 and job["ranks"] == 1 and job["threads"] == 1
            assert view["status"] == "running" and view["history_rows"] == rows >= iteration - 1
        assert (
            seen[1][4]["history"]["epochs"][: len(seen[0][4]["history"]["epochs"])] == seen[0][4]["history"]["epochs"]
        )  # the chart grows: earlier points stay
        job = get_json(srv, "/api/jobs/run")[1]
        assert job["status"] == "finished" and job["stop_reason"] == model.run_info["stop_reason"]
        assert job["eta_seconds"] == 0 and job["progress"] == pytest.approx(1.0)
        view = get_json(srv, "/api/models/iris.h5")[1]
        assert view["history_rows"] == len(model.scoring_events)
        assert view["training_metrics"]["scalars"]["logloss"] == pytest.approx(model.training_metrics["logloss"])
        assert view["downloads"] == []  # not saved yet
        jobs = get_json(srv, "/api/jobs")[1]["jobs"]
        assert [j["key"] for j in jobs] == ["run"]  # the live job replaces the scanned output dir
        model.save(str(tmp_path / "iris.h5"))
        assert [d["key"] for d in get_json(srv, "/api/models/iris.h5")[1]["downloads"]] == ["iris.h5"]
    finally:
        srv.stop()


# -- command line -------------------------------------------------------------------------
def _hpcdl(*args):
    return [sys.executable, "-m", "hpcdl.cli", *args]


def test_cli_ui_serves_a_directory(tree):
    proc = subprocess.Popen(
        _hpcdl("ui", str(tree["runs"]), "--port", "0"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=10)
        conn.request("GET", "/api/models")
        body = json.loads(conn.getresponse().read())
        assert sorted(x["key"] for x in body["models"]) == ["iris/iris.h5", "models/broken.h5", "models/loose.h5"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_ui_missing_directory(tmp_path):
    r = subprocess.run(_hpcdl("ui", str(tmp_path / "nope")), check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "nope: no such directory" in r.stderr


def write_live_job(tmp_path, epochs=1500):
    """A prostate job that scores every 0.3 s for several seconds (training error on a 150-row sample)."""
    csv = os.path.join(DATA, "prostate.csv")
    job = tmp_path / "live.toml"
    job.write_text(f"""
[job]
name = "prostate_live"
output_dir = "{tmp_path / "out"}"
checkpoint_interval = 0
[data]
training_frame = "{csv}"
validation_frame = "{csv}"
y = "CAPSULE"
ignored_columns = ["ID"]
col_types = {{ CAPSULE = "enum" }}
[parameters]
activation = "Tanh"
hidden = [50, 50]
epochs = {epochs}
seed = 1234
score_interval = 0.3
score_training_samples = 150
classification_stop = -1
variable_importances = true
""")
    return job


def start_live_training(job, *extra):
    """`hpcdl train JOB --ui --port 0` in a subprocess; returns (process, base URL) once it serves."""
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        _hpcdl("train", str(job), "--ui", "--port", "0", "--threads", "1", *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"web UI of this job at (http://127\.0\.0\.1:\d+/)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise AssertionError("hpcdl train --ui did not print its URL")


def test_train_with_ui_serves_live_progress(tmp_path):
    proc, url = start_live_training(write_live_job(tmp_path))
    port = int(url.rsplit(":", 1)[1].strip("/"))
    try:
        seen = []
        deadline = time.time() + 60
        while time.time() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/api/models/prostate_live.h5")
            view = json.loads(conn.getresponse().read())
            seen.append(view)
            if view.get("history_rows", 0) >= 3:
                break
            time.sleep(0.2)
        view = seen[-1]
        assert view["history_rows"] >= 3 and view["status"] == "running", view.get("status")
        assert view["job"] == "out" and view["kind"] == "binomial"
        epochs = view["history"]["epochs"]
        assert epochs == sorted(epochs) and len(set(epochs)) == len(epochs)
        assert all(0 <= e <= 0.5 for e in view["history"]["validation_classification_error"])
        p = view["progress"]
        assert 0 < p["progress"] < 1 and p["samples_per_second"] > 0 and p["eta_seconds"] > 0
        assert p["ranks"] == 1 and p["threads"] == 1
    finally:
        proc.kill()
        proc.wait(timeout=10)


EXIT_SCRIPT = r"""
import sys, threading, time
from hpcdl.ui import serve_directory

srv = serve_directory(sys.argv[1], "127.0.0.1", 0)
inside = threading.Event()
jobs = srv.site.jobs
def slow_jobs():  # a request still being answered when the program ends
    inside.set()
    time.sleep(1.0)
    return jobs()
srv.site.jobs = slow_jobs
srv.start()
print(srv.server_address[1], flush=True)
inside.wait(30)
sys.exit(0)
"""


def test_exit_lets_requests_in_flight_finish(tree):
    """The program ends while a request is answered: the answer still arrives (no thread frozen mid-request,
    which inside h5py would hang the interpreter's exit)."""
    proc = subprocess.Popen([sys.executable, "-c", EXIT_SCRIPT, str(tree["runs"])], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.request("GET", "/api/jobs")
        resp = conn.getresponse()
        assert resp.status == 200 and [j["key"] for j in json.loads(resp.read())["jobs"]] == ["iris", "second"]
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()


# -- jobs training in another process (lifecycle.RunLock) ---------------------------------
def _write_marker(job_dir, **fields):
    import socket

    job_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.time(),
        "heartbeat": time.time(),
        "epochs": 2.5,
        "total_epochs": 10.0,
        **fields,
    }
    (job_dir / "running.json").write_text(json.dumps(data))


def test_running_marker_of_a_live_dead_or_stale_process(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_marker(tmp_path / "alive", pid=sleeper.pid)
        _write_marker(tmp_path / "far", host="another-node", heartbeat=time.time() - 5)
        _write_marker(tmp_path / "lost", host="another-node", heartbeat=time.time() - 3600)
        site = Site(str(tmp_path), rescan_seconds=0.0)
        jobs = {j["key"]: j for j in site.jobs()}
        assert jobs["alive"]["status"] == "running" and jobs["far"]["status"] == "running"
        assert jobs["alive"]["epochs"] == 2.5 and jobs["alive"]["total_epochs"] == 10.0
        assert jobs["alive"]["progress"] == pytest.approx(0.25)
        assert jobs["lost"]["status"] == "no model"  # heartbeat an hour old: not running
        sleeper.kill()
        sleeper.wait()
        assert {j["key"]: j["status"] for j in site.jobs()}["alive"] == "no model"  # pid gone
    finally:
        sleeper.kill()


def test_train_keeps_a_running_marker_only_while_training(tmp_path):
    out = tmp_path / "runs" / "iris"
    job = tmp_path / "iris.toml"
    job.write_text(f"""
[job]
name = "iris"
output_dir = "{out}"
[data]
training_frame = "{os.path.join(DATA, "iris_wheader.csv")}"
y = "class"
[parameters]
hidden = [64, 64]
epochs = 4000
seed = 1
""")
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "hpcdl"), "train", str(job), "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    (tmp_path / "runs").mkdir()
    site = Site(str(tmp_path / "runs"), rescan_seconds=0.0)
    seen_running = False
    t0 = time.time()
    while proc.poll() is None and time.time() - t0 < 120:
        jobs = {j["key"]: j for j in site.jobs()}
        if jobs.get("iris", {}).get("status") == "running":
            seen_running = True
            assert json.loads((out / "running.json").read_text())["pid"] == proc.pid
        time.sleep(0.2)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert seen_running
    assert not (out / "running.json").exists()
    assert {j["key"]: j["status"] for j in site.jobs()}["iris"] == "finished"
