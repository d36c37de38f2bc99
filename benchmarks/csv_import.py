"""CSV import side by side: `hpcdl import` (the CLI and the API), pyarrow.csv.read_csv and H2O-3.

The file (issue 24): 8 numeric columns, a 5-level categorical, a yes/no response, generated
with a fixed seed if absent (2M rows = 144 MB). Every system runs in its own fresh process,
one after the other, on the same file (read once before, so all find it in the page cache);
wall times exclude interpreter start except for the CLI row, which is what a user waits for.
Peak RSS of each process comes from wait4. Ratios are hpcdl's time over pyarrow's.

    python benchmarks/csv_import.py --rows 2000000 --rows 5000000 --rss-rows 1000000 --rss-rows 5000000
    python benchmarks/csv_import.py --rows 2000000 --json          # for benchmarks/front_door.py

Run it under /work/bin/quiet (timing on a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SEED = 24
H2O_PYTHON = "/work/h2ovenv/bin/python"
LEVELS = ["cat_a", "cat_b", "cat_c", "cat_d", "cat_e"]


def generate(path: str, rows: int, seed: int = SEED) -> str:
    """The benchmark file (written once; kept if it exists): x1..x8 normal with scales 1/10/100 rounded
    to 4 decimals, cat (5 levels), y (no/yes)."""
    if os.path.exists(path):
        return path
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    dict_t = pa.dictionary(pa.int32(), pa.string())
    schema = pa.schema([(f"x{j + 1}", pa.float64()) for j in range(8)] + [("cat", dict_t), ("y", dict_t)])
    tmp = path + ".part"
    with pacsv.CSVWriter(tmp, schema, write_options=pacsv.WriteOptions(quoting_style="none")) as w:
        for start in range(0, rows, 500_000):
            m = min(500_000, rows - start)
            cols = {f"x{j + 1}": np.round(rng.normal(0, 1, m) * 10 ** (j % 3), 4) for j in range(8)}
            cols["cat"] = pa.DictionaryArray.from_arrays(rng.integers(0, 5, m).astype(np.int32), pa.array(LEVELS))
            cols["y"] = pa.DictionaryArray.from_arrays(rng.integers(0, 2, m).astype(np.int32), pa.array(["no", "yes"]))
            w.write_table(pa.table(cols, schema=schema))
    os.replace(tmp, path)
    return path


def run(cmd: list[str]) -> tuple[float, str]:
    """(wall seconds, stdout) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return wall, proc.stdout


TIMED = r"""
import json, resource, sys, time
t0 = time.perf_counter()
{body}
t = time.perf_counter() - t0
print(json.dumps({{"seconds": t, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def timed(python: str, body: str) -> dict:
    """Run ``body`` in a fresh ``python``; the seconds it took and the process's peak RSS."""
    _, out = run([python, "-c", TIMED.format(body=body)])
    return json.loads(out.strip().splitlines()[-1])


def time_cli(hpcdl: str, path: str, out: str) -> dict:
    """`hpcdl import FILE --out OUT --force` as a user runs it (interpreter start included), with its
    peak RSS (GNU time's %M)."""
    wall, _ = run(
        ["/usr/bin/time", "-f", "RSS_KB=%M", "-o", out + ".time", hpcdl, "import", path, "--out", out, "--force"]
    )
    with open(out + ".time") as fh:
        rss = int(fh.read().split("RSS_KB=")[1].split()[0]) / 1024
    os.remove(out + ".time")
    return {"seconds": wall, "rss_mb": rss}


def h2o_import(path: str) -> dict | None:
    if not os.path.exists(H2O_PYTHON):
        return None
    body = (
        "import h2o, io, contextlib\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    h2o.init(ip='127.0.0.1', nthreads=2, verbose=False)\n"
        "    t1 = time.perf_counter()\n"
        f"    fr = h2o.import_file({path!r})\n"
        "    secs = time.perf_counter() - t1\n"
        "    h2o.cluster().shutdown()\n"
        "t0 = time.perf_counter() - secs\n"
    )
    return timed(H2O_PYTHON, body)


def measure(rows: int, data_dir: str, python: str, hpcdl: str, with_h2o: bool) -> dict:
    path = generate(os.path.join(data_dir, f"csv_import_{rows}.csv"), rows)
    with open(path, "rb") as fh:  # into the page cache for everyone
        while fh.read(1 << 24):
            pass
    res: dict = {"rows": rows, "file_mb": os.path.getsize(path) / 1e6}
    with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
        out = os.path.join(tmp, "frame.h5")
        res["pyarrow"] = timed(python, f"import pyarrow.csv as c\nt0 = time.perf_counter()\nc.read_csv({path!r})")
        res["hpcdl_api"] = timed(
            python,
            f"from hpcdl.frame import import_csv\nt0 = time.perf_counter()\nimport_csv({path!r}, {out!r})",
        )
        os.remove(out)
        res["hpcdl_cli"] = time_cli(hpcdl, path, out)
        res["h2o"] = h2o_import(path) if with_h2o else None
    pa_s = res["pyarrow"]["seconds"]
    res["ratio_api"] = res["hpcdl_api"]["seconds"] / pa_s
    res["ratio_cli"] = res["hpcdl_cli"]["seconds"] / pa_s
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, action="append", help="rows of a timed file (repeatable; default 2M and 5M)")
    ap.add_argument("--rss-rows", type=int, action="append", default=None, help="rows for the RSS bound (1M, 5M)")
    ap.add_argument("--data-dir", default=os.path.join(ROOT, "runs", "csv_import"), help="where the files go")
    ap.add_argument("--no-h2o", action="store_true", help="leave H2O-3 out")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args(argv)
    rows = args.rows or [2_000_000, 5_000_000]
    rss_rows = args.rss_rows if args.rss_rows is not None else [1_000_000, 5_000_000]
    os.makedirs(args.data_dir, exist_ok=True)
    bindir = os.path.dirname(sys.executable)
    hpcdl = os.path.join(bindir, "hpcdl")
    results = {"timed": [measure(n, args.data_dir, sys.executable, hpcdl, not args.no_h2o) for n in rows]}
    rss = {}
    for n in rss_rows:
        path = generate(os.path.join(args.data_dir, f"csv_import_{n}.csv"), n)
        with tempfile.TemporaryDirectory(dir=args.data_dir) as tmp:
            rss[n] = time_cli(hpcdl, path, os.path.join(tmp, "frame.h5"))["rss_mb"]
    results["rss_mb"] = rss
    if len(rss_rows) == 2:
        results["rss_ratio"] = rss[rss_rows[1]] / rss[rss_rows[0]]
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(
        "| rows | file MB | pyarrow s | hpcdl API s | hpcdl CLI s | H2O-3 s | API/pyarrow | CLI/pyarrow | CLI RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results["timed"]:
        h2o = f"{r['h2o']['seconds']:.2f}" if r["h2o"] else "-"
        print(
            f"| {r['rows']:,} | {r['file_mb']:.0f} | {r['pyarrow']['seconds']:.2f} | {r['hpcdl_api']['seconds']:.2f} | "
            f"{r['hpcdl_cli']['seconds']:.2f} | {h2o} | {r['ratio_api']:.2f} | {r['ratio_cli']:.2f} | "
            f"{r['hpcdl_cli']['rss_mb']:.0f} |"
        )
    print("peak RSS of `hpcdl import`: " + ", ".join(f"{n:,} rows {v:.0f} MB" for n, v in rss.items()), end="")
    print(f"; ratio {results['rss_ratio']:.2f}" if "rss_ratio" in results else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
