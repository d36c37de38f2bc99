"""Does the live web UI slow training down? The same small job with and without --ui.

With --ui a client polls the job page's two endpoints once a second, as the
open page in a browser does. Runs alternate (plain, ui, plain, ui, ...) so that
drifting machine load hits both alike. Two figures, medians over the repeats:
samples/s with the UI / without it (what a user sees, but noisy on a shared
machine), and the CPU seconds the whole process used (training, scoring, the
server thread) with the UI / without it (steadier: other programs' load does not
add to it).

    /work/venv/bin/python benchmarks/ui_overhead.py [--repeats 3] [--epochs 1500] [--threads 1]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "hpcdl", "datasets", "prostate.csv")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_job(directory: str, epochs: int) -> str:
    path = os.path.join(directory, "bench.toml")
    with open(path, "w") as fh:
        fh.write(f"""[job]
name = "bench"
output_dir = "{directory}/out"
checkpoint_interval = 0
save_model = false
[data]
training_frame = "{DATA}"
validation_frame = "{DATA}"
y = "CAPSULE"
ignored_columns = ["ID"]
col_types = {{ CAPSULE = "enum" }}
[parameters]
activation = "Tanh"
hidden = [50, 50]
epochs = {epochs}
seed = 1234
score_interval = 1
classification_stop = -1
variable_importances = true
""")
    return path


def poll(port: int, stop: threading.Event, counts: list) -> None:
    """What the open job page does: its job and model endpoints once a second."""
    while not stop.is_set():
        for path in ("/api/jobs/out", "/api/models/bench.h5"):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                counts.append(resp.status)
                conn.close()
            except OSError:
                pass
        stop.wait(1.0)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(job: str, threads: int, ui: bool) -> tuple[float, float, float, int]:
    """(samples/s, wall seconds, CPU seconds, answered polls) of one `hpcdl train` run."""
    cmd = [sys.executable, "-m", "hpcdl.cli", "train", job, "--json", "--threads", str(threads)]
    counts: list = []
    stop = threading.Event()
    if ui:
        port = free_port()
        cmd += ["--ui", "--port", str(port)]
        poller = threading.Thread(target=poll, args=(port, stop, counts), daemon=True)
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
    t0, cpu0 = time.time(), _children_cpu()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if ui:
        poller.start()
    out, err = proc.communicate()
    wall, cpu = time.time() - t0, _children_cpu() - cpu0
    stop.set()
    if proc.returncode != 0:
        raise SystemExit(f"hpcdl train failed ({proc.returncode}):\n{err[-3000:]}")
    info = json.loads(out)["run_info"]
    return float(info["samples"]) / float(info["train_seconds"]), wall, cpu, sum(1 for c in counts if c == 200)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hpcdl-ui-bench-") as d:
        job = write_job(d, args.epochs)
        run(job, args.threads, False)  # warm-up: numba's compile cache, the imported frame
        ratios, cpu_ratios, rows = [], [], []
        for i in range(args.repeats):
            plain, _, cpu_plain, _ = run(job, args.threads, False)
            live, _, cpu_live, polls = run(job, args.threads, True)
            ratios.append(live / plain)
            cpu_ratios.append(cpu_live / cpu_plain)
            rows.append((i + 1, plain, live, live / plain, cpu_plain, cpu_live, cpu_live / cpu_plain, polls))
    print(
        f"prostate, hidden [50,50], {args.epochs} epochs, {args.threads} thread(s), 1 rank; "
        "with --ui the job page's two endpoints are polled once a second"
    )
    print(
        f"{'run':>3} {'plain samples/s':>16} {'--ui samples/s':>15} {'ratio':>6} {'plain CPU':>10} "
        f"{'--ui CPU':>9} {'ratio':>6} {'polls':>6}"
    )
    for i, plain, live, ratio, cp, cl, cratio, polls in rows:
        print(f"{i:>3} {plain:>16,.0f} {live:>15,.0f} {ratio:>6.3f} {cp:>9.2f}s {cl:>8.2f}s {cratio:>6.3f} {polls:>6}")
    print(
        f"median ratio --ui / plain: samples/s {statistics.median(ratios):.3f}, "
        f"CPU seconds {statistics.median(cpu_ratios):.3f}"
    )


if __name__ == "__main__":
    main()
