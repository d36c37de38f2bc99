"""A tiny stand-in for H2O-3's ``tests.pyunit_utils`` used by run.py.

Only what the Deep Learning pyunit scripts need to start: ``locate`` maps an H2O
``smalldata/...`` path to a copy on this machine, ``standalone_test`` and ``run_tests``
run the test functions. Any other helper is absent on purpose, so a script that needs it
fails with an AttributeError naming it (recorded by run.py).

Where the data comes from, in order:

1. ``hpcdl/datasets/`` and ``/work/shared/data/`` (files byte-identical to H2O's smalldata);
2. the H2O-2 repository mirror (``H2O2_MIRROR``, default ``/work/.mirror/h2oai+h2o-2/repo``),
   whose git tree holds ``smalldata/``: a file is extracted with ``git show`` at run time into a
   per-user cache folder (``H2O_SMALLDATA_CACHE``), never into this repository;
3. only when ``H2O_MNIST_STANDIN=fashion`` is set (run.py --booklet sets it): H2O's
   ``bigdata/laptop/mnist/{train,test}.csv.gz`` are replaced by Fashion-MNIST
   (``/usr/share/datasets/fashion-mnist``) written in MNIST's CSV layout (784 pixel columns, then
   the label as C785, no header). This is *not* H2O's data: the API path runs as in the booklet, its
   figures are not the booklet's;
4. two files H2O-3 keeps and H2O-2 does not, derived from H2O-2's ``iris/iris.csv`` by class:
   ``iris/setosa_versicolor.csv`` (its first 100 rows) and ``iris/virginica.csv`` (the last 50).
   H2O-3's own copies could not be compared (not on this machine); the scripts that read them use
   the columns by index and only need the classes split, which the derivation does exactly.
"""

import os
import subprocess
import tempfile
from pathlib import Path

_REPO = Path(__file__).resolve().parents[4]
_LOCAL = (_REPO / "hpcdl" / "datasets", Path("/work/shared/data"))
H2O2 = Path(os.environ.get("H2O2_MIRROR", "/work/.mirror/h2oai+h2o-2/repo"))
CACHE = Path(os.environ.get("H2O_SMALLDATA_CACHE", Path(tempfile.gettempdir()) / f"h2o_smalldata_{os.getuid()}"))

# H2O-3 path -> a local file name (step 1) or a path in H2O-2's tree (step 2, "h2o2:...").
SMALLDATA = {
    "smalldata/logreg/prostate.csv": "prostate.csv",
    "smalldata/prostate/prostate.csv": "prostate.csv",
    "smalldata/iris/iris_wheader.csv": "iris_wheader.csv",
    "smalldata/junit/weather.csv": "weather.csv",
    "smalldata/anomaly/ecg_discord_train.csv": "ecg_discord_train.csv",
    "smalldata/anomaly/ecg_discord_test.csv": "ecg_discord_test.csv",
    "smalldata/gbm_test/BostonHousing.csv": "BostonHousing.csv",
    "smalldata/iris/iris.csv": "h2o2:smalldata/iris/iris.csv",
    "smalldata/gbm_test/ecology_model.csv": "h2o2:smalldata/gbm_test/ecology_model.csv",
    "smalldata/gbm_test/ecology_eval.csv": "h2o2:smalldata/gbm_test/ecology_eval.csv",
    "smalldata/covtype/covtype.20k.data": "h2o2:smalldata/covtype/covtype.20k.data",
}
# Derived from H2O-2's iris.csv: H2O-3 path -> the class labels kept.
DERIVED_IRIS = {
    "smalldata/iris/setosa_versicolor.csv": ("Iris-setosa", "Iris-versicolor"),
    "smalldata/iris/virginica.csv": ("Iris-virginica",),
}


def _from_h2o2(tree_path: str) -> Path:
    dst = CACHE / tree_path
    if dst.is_file():
        return dst
    res = subprocess.run(["git", "-C", str(H2O2), "show", f"HEAD:{tree_path}"], capture_output=True)
    if res.returncode != 0:
        raise FileNotFoundError(f"no local copy of H2O's {tree_path} (H2O-2 mirror at {H2O2})")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(dst.suffix + f".{os.getpid()}.part")
    tmp.write_bytes(res.stdout)
    os.replace(tmp, dst)
    return dst


def _derived_iris(path: str) -> Path:
    dst = CACHE / path
    if not dst.is_file():
        keep = DERIVED_IRIS[path]
        lines = _from_h2o2("smalldata/iris/iris.csv").read_text().splitlines(keepends=True)
        rows = [ln for ln in lines if ln.rstrip("\r\n").rsplit(",", 1)[-1] in keep]
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(f".{os.getpid()}.part")
        tmp.write_text("".join(rows))
        os.replace(tmp, dst)
    return dst


FASHION = Path("/usr/share/datasets/fashion-mnist")


def _mnist_standin(path: str) -> Path:
    part = "train" if path.endswith("train.csv.gz") else "t10k"
    dst = CACHE / "fashion_as_mnist" / f"{part}.csv.gz"
    if dst.is_file():
        return dst
    import gzip

    import numpy as np

    with gzip.open(FASHION / f"{part}-images-idx3-ubyte.gz") as fh:
        images = np.frombuffer(fh.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(FASHION / f"{part}-labels-idx1-ubyte.gz") as fh:
        labels = np.frombuffer(fh.read(), dtype=np.uint8, offset=8)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(f".{os.getpid()}.part")
    with gzip.open(tmp, "wt", compresslevel=1) as out:
        np.savetxt(out, np.column_stack([images, labels]), fmt="%d", delimiter=",")
    os.replace(tmp, dst)
    return dst


def _find(name: str) -> str:
    for folder in _LOCAL:
        if (folder / name).is_file():
            return str(folder / name)
    raise FileNotFoundError(f"no local copy of {name}")


def locate(path: str) -> str:
    if path.startswith("bigdata/laptop/mnist/") and os.environ.get("H2O_MNIST_STANDIN") == "fashion":
        return str(_mnist_standin(path))
    if path in DERIVED_IRIS:
        return str(_derived_iris(path))
    where = SMALLDATA.get(path)
    if where is None:
        raise FileNotFoundError(f"no local copy of H2O's {path}")
    if where.startswith("h2o2:"):
        return str(_from_h2o2(where[5:]))
    return _find(where)


def standalone_test(test, init_options=None):
    test()


def run_tests(tests, run_in_isolation=True):
    # H2O-3 runs a list (or list of lists) of test functions; so do we, in order.
    for test in tests:
        if isinstance(test, (list, tuple)):
            run_tests(test, run_in_isolation)
        else:
            test()
