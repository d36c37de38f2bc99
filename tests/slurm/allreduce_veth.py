"""Allreduce time across the two-node test cluster's veth link, next to two ranks on one host.

    python tests/slurm/allreduce_veth.py [--repeats 50] [--rounds 3]    # as root; starts and stops its own Slurm

A measurement for docs/scaling.md, not a test: it starts the two-node cluster of the
Slurm suite, runs two ranks through Slurm (mpiexec inside an allocation, as the sbatch
scripts do) in three placements, and times ``comm.allreduce_sum`` (hpcdl's averaging
call) for several message sizes, among them the benchmark network's state buffer:

- one rank per node: every message crosses the veth pair between the namespaces;
- both ranks on this host: MPICH's shared memory;
- both ranks on this host, MPICH's shared memory off (MPIR_CVAR_NOLOCAL=1) and UCX on TCP to
  the host's veth address, delivered locally: the TCP stack without the veth crossing.

It then reads alpha and beta of the alpha-beta model of benchmarks/scaling.py (two ranks:
T = 2 alpha + M / beta) off the veth figures, prints the model's networks beside them, and
the projection of docs/scaling.md run with the veth's alpha and beta. Results: docs/scaling.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import slurm_cluster

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks"))
import scaling  # noqa: E402  (benchmarks/scaling.py: the projection's alpha-beta model)

STATE_BYTES = 2_390_520  # 784-200-200-10 with ADADELTA: weights, biases and two accumulators (docs/scaling.md)
SIZES = (4, 4096, 65536, 524288, 1048576, STATE_BYTES)

PROBE = """
import json, sys, time
import numpy as np
from hpcdl import comm as comm_mod
comm = comm_mod.world()
out = {}
for nbytes in %(sizes)r:
    buf = np.ones(max(1, nbytes // 4), dtype=np.float32)
    for _ in range(5):
        comm.allreduce_sum(buf)
    times = []
    for _ in range(%(repeats)d):
        comm.barrier()
        t0 = time.perf_counter()
        comm.allreduce_sum(buf)
        times.append(time.perf_counter() - t0)
    out[nbytes] = comm.allreduce_scalar(float(np.median(times)), op="max")
import socket
out["hosts"] = comm.allgather(socket.gethostname())
if comm.rank == 0:
    print("RESULT " + json.dumps(out), flush=True)
"""


def measure(cluster, probe: str, placement: list[str], ucx: dict) -> dict[int, float]:
    """Median seconds per message size (slowest rank), two ranks placed by ``placement`` (salloc options)."""
    env = {k: v for k, v in cluster.env.items() if not k.startswith("UCX_")}
    bin_dir = os.path.dirname(sys.executable)
    cmd = ["timeout", "600", "salloc", *placement, os.path.join(bin_dir, "mpiexec"), "-n", "2", "-ppn"]
    cmd += ["1" if "-N" in placement else "2", sys.executable, probe]  # -ppn: ranks per node
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**env, **ucx}, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(lines[-1][7:])
    print(f"salloc {' '.join(placement)}: ranks on {result.pop('hosts')}", file=sys.stderr)
    return {int(k): v for k, v in result.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50, help="Allreduces timed per size (median)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all placements (median, range)")
    args = parser.parse_args()
    slurm_cluster.ensure_installed()
    with slurm_cluster.machine_lock(), tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.py")
        with open(probe, "w") as fh:
            fh.write(PROBE % {"sizes": SIZES, "repeats": args.repeats})
        cluster = slurm_cluster.two_nodes()
        try:
            cluster.env["PATH"] = os.path.dirname(sys.executable) + ":" + cluster.env["PATH"]
            host = slurm_cluster.host_name()
            one_host = ["-w", host, "-n", "2"]
            placements = {
                "veth (one rank per node)": (["-N", "2"], slurm_cluster.NETWORK_ENV),
                "same host, shared memory": (one_host, {}),
                "same host, TCP": (one_host, {**slurm_cluster.NETWORK_ENV, "MPIR_CVAR_NOLOCAL": "1"}),
            }
            rounds = {name: [] for name in placements}
            for _ in range(args.rounds):  # interleaved, so that a busy spell of the machine hits all
                for name, (placement, ucx) in placements.items():
                    rounds[name].append(measure(cluster, probe, placement, ucx))
        finally:
            slurm_cluster.stop_two_nodes(cluster)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}; median of {args.rounds} rounds [min-max]")
    report({name: {n: sorted(r[n] for r in runs) for n in SIZES} for name, runs in rounds.items()})


def report(results: dict[str, dict[int, list[float]]]) -> None:
    print(f"{'bytes':>10} " + " ".join(f"{name:>30}" for name in results))
    for nbytes in SIZES:
        cells = []
        for r in results.values():
            t = [x * 1e3 for x in r[nbytes]]
            cells.append(f"{t[len(t) // 2]:.3f} [{t[0]:.3f}-{t[-1]:.3f}] ms")
        print(f"{nbytes:>10,} " + " ".join(f"{c:>30}" for c in cells))
    veth = {n: times[len(times) // 2] for n, times in results["veth (one rank per node)"].items()}
    # two ranks: T = 2 alpha + M / beta; alpha from the 4-byte message, beta from the state buffer
    alpha = veth[4] / 2
    beta = STATE_BYTES / (veth[STATE_BYTES] - veth[4])
    print(f"\nveth: alpha {alpha * 1e6:.1f} us, beta {beta / 1e9:.2f} GB/s; state buffer {STATE_BYTES:,} bytes:")
    print(f"  measured {veth[STATE_BYTES] * 1e3:.2f} ms")
    for name, (a, b) in scaling.NETWORKS.items():
        print(f"  model {name}: {(2 * a + STATE_BYTES / b) * 1e3:.2f} ms")
    # docs/scaling.md's projection (10 epochs of Fashion-MNIST, 165.5 us per row) with the veth's figures
    scaling.NETWORKS = {"veth (measured)": (alpha, beta), "Ethernet 10 Gb/s": scaling.NETWORKS["Ethernet 10 Gb/s"]}
    print()
    scaling.print_projection(scaling.project(165.5e-6, STATE_BYTES, 60_000, 10.0, 10_000), 10_000)


if __name__ == "__main__":
    main()
