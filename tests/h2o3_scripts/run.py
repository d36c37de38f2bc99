"""Run H2O-3's own Deep Learning pyunit scripts against hpcdl.

    .venv/bin/python tests/h2o3_scripts/run.py [--only NAME ...] [--timeout S]

Each script is read from the H2O-3 mirror at run time (never copied into this
repository), its imports are rewritten (``import h2o`` -> ``import hpcdl as h2o``,
H2O's estimator import -> hpcdl's; ``tests`` is the small package in ``shim/`` beside this
file) and nothing else, then it runs in its own process. The result table (pass,
or the exception line) is printed as Markdown for docs/python-api.md.

This is a script, not a pytest module: the scripts train real models (minutes in
all) and need the mirror, so it stays out of CI. Without the mirror it says so
and exits 0.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

MIRROR = Path(os.environ.get("H2O3_MIRROR", "/work/.mirror/h2oai+h2o-3/repo"))
FOLDER = "h2o-py/tests/testdir_algos/deeplearning"
HERE = Path(__file__).resolve().parent
# The Python code of H2O's Deep Learning booklet (2015 edition; H2O-3 keeps it in its docs).
BOOKLET = "h2o-docs/src/booklets/v2_2015/source/DeepLearning_Vignette_code_examples"
# The booklet's snippets continue each other (one session: x, y, model ...): run as one script, in
# the booklet's order of sections (its own DeepLearning_Vignette.py runs crossval before examplerun
# defines x and y, and is R syntax). Standalone snippets run alone.
BOOKLET_RUNS = {
    "mnist_session": [
        "importfile_example",
        "examplerun",
        "crossval",
        "inspect_model",
        "predict",
        "varimp",
        "checkpoint",
        "savemodel",
        "loadmodel_checkpoint",
        "getmodel",
        "extractmodelparams",
        "gridsearch",
        "gridsearch_result",
        "gridsearch_random",
    ],
    "quantile": ["quantile"],
    "anomaly": ["anomaly"],
}
_S3 = re.compile(r"""(["'])https?://(?:s3\.amazonaws\.com/)?h2o-public-test-data(?:\.s3\.amazonaws\.com)?/([^"']+)\1""")


def all_scripts() -> list[str]:
    """Every pyunit script of the folder, as the mirror has it (the shim's locate() finds the data
    in hpcdl/datasets, /work/shared/data or the H2O-2 mirror; a file it lacks is a "no data" row)."""
    out = subprocess.run(
        ["git", "-C", str(MIRROR), "ls-tree", "--name-only", f"HEAD:{FOLDER}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(n[:-3] for n in out.stdout.split() if n.startswith("pyunit_") and n.endswith(".py"))


_REWRITES = [
    # `import h2o` and `import h2o, tests` (the H2O-3 test package: the shim folder has one)
    (r"^(\s*)import h2o(\s*,|\s*$)", r"\1import hpcdl as h2o\2"),
    # H2O's estimator and grid classes live in hpcdl.estimators (an estimator hpcdl lacks, such as
    # H2ORandomForestEstimator, then fails as an ImportError naming it).
    (r"^(\s*)from h2o\.estimators(?:\.\w+)? import ", r"\1from hpcdl.estimators import "),
    (
        r"^(\s*)from h2o\.grid(?:\.grid_search)? import H2OGridSearch\s*$",
        r"\1from hpcdl.estimators import H2OGridSearch",
    ),
]


def rewrite(source: str) -> str:
    """Change the imports, and only them."""
    for pattern, repl in _REWRITES:
        source = re.sub(pattern, repl, source, flags=re.M)
    return source


def booklet_source(snippets: list[str]) -> str:
    """The snippets as one script: their imports rewritten, H2O's public-data URLs read through the
    shim's locate() (the same files, from this machine), and ``import h2o`` first (the booklet's
    session has it; some snippets do not repeat it)."""
    parts = ["import h2o\nfrom tests import pyunit_utils\n"]
    for name in snippets:
        text = read_script(f"deeplearning_{name}", BOOKLET)
        parts.append(f"# --- {BOOKLET}/deeplearning_{name}.py\n" + _S3.sub(r"pyunit_utils.locate('\2')", text))
    return rewrite("\n".join(parts))


def read_script(name: str, folder: str = FOLDER) -> str:
    out = subprocess.run(
        ["git", "-C", str(MIRROR), "show", f"HEAD:{folder}/{name}.py"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def error_line(stderr: str) -> str:
    """The exception line of the last traceback (what a reader needs first)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b", ln) or ln.startswith("AssertionError"):
            return ln.strip()
    return lines[-1].strip() if lines else "(no output)"


def run_one(name: str, workdir: Path, timeout: float, booklet: bool = False) -> tuple[str, str]:
    path = workdir / f"{name}.py"
    try:
        source = booklet_source(BOOKLET_RUNS[name]) if booklet else rewrite(read_script(name))
    except subprocess.CalledProcessError:
        return "fail", f"no {FOLDER}/{name}.py in the mirror"
    path.write_text(source)
    env = dict(os.environ, PYTHONPATH=str(HERE / "shim"), MPLBACKEND="Agg")
    if booklet:
        env["H2O_MNIST_STANDIN"] = "fashion"
    try:
        res = subprocess.run(
            [sys.executable, str(path)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return "timeout", f"still running after {timeout:.0f} s"
    if res.returncode == 0:
        return "pass", ""
    err = error_line(res.stderr)
    return ("no data" if err.startswith("FileNotFoundError: no local copy") else "fail"), err


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="script names (without .py)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per script")
    ap.add_argument(
        "--booklet",
        action="store_true",
        help="run the DL booklet's (2015) Python snippets instead; MNIST is replaced by Fashion-MNIST",
    )
    args = ap.parse_args(argv)
    if not (MIRROR / "HEAD").exists():
        print(f"skipped: no H2O-3 mirror at {MIRROR} (set H2O3_MIRROR)")
        return 0
    names = args.only or (list(BOOKLET_RUNS) if args.booklet else all_scripts())
    print("| script | result |\n|---|---|")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="h2o3_scripts_") as tmp:
        for name in names:
            status, err = run_one(name, Path(tmp), args.timeout, booklet=args.booklet)
            failed += status != "pass"
            shown = "pass" if status == "pass" else f"{status}: `{err}`"
            print(f"| {name} | {shown} |", flush=True)
    print(f"\n{len(names) - failed} of {len(names)} pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
