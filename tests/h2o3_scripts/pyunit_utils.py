"""A tiny stand-in for H2O-3's ``tests.pyunit_utils`` used by run.py.

Only what the Deep Learning pyunit scripts need to start: ``locate`` maps an H2O
``smalldata/...`` path to the copy this machine has, ``standalone_test`` and
``run_tests`` run the test functions. Any other helper is absent on purpose, so a script that needs it
fails with an AttributeError naming it (recorded by run.py).
"""

import os
import tempfile
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]
_SHARED = Path("/work/shared/data")

# H2O smalldata path -> file name under hpcdl/datasets/ or /work/shared/data/.
# (/work/shared/data/cars.csv is not smalldata/junit/cars_20mpg.csv: other columns.)
SMALLDATA = {
    "smalldata/logreg/prostate.csv": "prostate.csv",
    "smalldata/prostate/prostate.csv": "prostate.csv",
    "smalldata/iris/iris_wheader.csv": "iris_wheader.csv",
    "smalldata/junit/weather.csv": "weather.csv",
    "smalldata/anomaly/ecg_discord_train.csv": "ecg_discord_train.csv",
    "smalldata/anomaly/ecg_discord_test.csv": "ecg_discord_test.csv",
    "smalldata/gbm_test/BostonHousing.csv": "BostonHousing.csv",
}


def _iris_headerless() -> str:
    # smalldata/iris/iris.csv is iris_wheader.csv without its header line.
    src = _find("iris_wheader.csv")
    dst = Path(tempfile.gettempdir()) / f"hpcdl_pyunit_iris_{os.getpid()}.csv"
    if not dst.exists():
        lines = Path(src).read_text().splitlines(keepends=True)
        dst.write_text("".join(lines[1:]))
    return str(dst)


def _find(name: str) -> str:
    for folder in (_REPO / "hpcdl" / "datasets", _SHARED):
        if (folder / name).is_file():
            return str(folder / name)
    raise FileNotFoundError(f"no local copy of {name}")


def locate(path: str) -> str:
    if path == "smalldata/iris/iris.csv":
        return _iris_headerless()
    if path not in SMALLDATA:
        raise FileNotFoundError(f"no local copy of H2O's {path}")
    return _find(SMALLDATA[path])


def standalone_test(test, init_options=None):
    test()


def run_tests(tests, run_in_isolation=True):
    # H2O-3 runs a list (or list of lists) of test functions; so do we, in order.
    for test in tests:
        if isinstance(test, (list, tuple)):
            run_tests(test, run_in_isolation)
        else:
            test()
