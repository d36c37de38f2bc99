"""Run H2O-3's own Deep Learning pyunit scripts against hpcdl.

    .venv/bin/python tests/h2o3_scripts/run.py [--only NAME ...] [--timeout S]

Each script is read from the H2O-3 mirror at run time (never copied into this
repository), its imports are rewritten (``import h2o`` -> ``import hpcdl as h2o``,
H2O's estimator import -> hpcdl's, ``tests.pyunit_utils`` -> the shim beside this
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

# Scripts whose data we have here (pyunit_utils.SMALLDATA) or that make their own. The rest
# of the folder needs smalldata/bigdata files this machine lacks (docs/python-api.md lists them).
SCRIPTS = [
    "pyunit_autoencoder_eigen_mojo",
    "pyunit_autoencoder_works",
    "pyunit_categoricalDeepLearning",
    "pyunit_deeplearning_custom_metric",
    "pyunit_generate_synthetic_DL_data",
    "pyunit_iris_basic_deeplearning",
    "pyunit_iris_grid_deeplearning",
    "pyunit_iris_no_hidden",
    "pyunit_metrics_deeplearning",
    "pyunit_missing_deeplearning",
    "pyunit_multiclass_deeplearning",
    "pyunit_weights_var_imp_deeplearning",
]

_REWRITES = [
    (r"^(\s*)import h2o\s*$", r"\1import hpcdl as h2o"),
    # H2O's estimator and grid classes live in hpcdl.estimators.
    (r"^(\s*)from h2o\.estimators(?:\.deeplearning)? import ", r"\1from hpcdl.estimators import "),
    (
        r"^(\s*)from h2o\.grid(?:\.grid_search)? import H2OGridSearch\s*$",
        r"\1from hpcdl.estimators import H2OGridSearch",
    ),
    (r"^(\s*)from tests import pyunit_utils\b", r"\1import pyunit_utils"),
    (r"^(\s*)from tests\.pyunit_utils import ", r"\1from pyunit_utils import "),
]


def rewrite(source: str) -> str:
    """Change the imports, and only them."""
    for pattern, repl in _REWRITES:
        source = re.sub(pattern, repl, source, flags=re.M)
    return source


def read_script(name: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(MIRROR), "show", f"HEAD:{FOLDER}/{name}.py"],
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


def run_one(name: str, workdir: Path, timeout: float) -> tuple[str, str]:
    path = workdir / f"{name}.py"
    try:
        source = read_script(name)
    except subprocess.CalledProcessError:
        return "fail", f"no {FOLDER}/{name}.py in the mirror"
    path.write_text(rewrite(source))
    env = dict(os.environ, PYTHONPATH=str(HERE), MPLBACKEND="Agg")
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
    return "fail", error_line(res.stderr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="script names (without .py)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per script")
    args = ap.parse_args(argv)
    if not (MIRROR / "HEAD").exists():
        print(f"skipped: no H2O-3 mirror at {MIRROR} (set H2O3_MIRROR)")
        return 0
    names = args.only or SCRIPTS
    print("| script | result |\n|---|---|")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="h2o3_scripts_") as tmp:
        for name in names:
            status, err = run_one(name, Path(tmp), args.timeout)
            failed += status != "pass"
            shown = "pass" if status == "pass" else f"{status}: `{err}`"
            print(f"| {name} | {shown} |", flush=True)
    print(f"\n{len(names) - failed} of {len(names)} pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
