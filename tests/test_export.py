"""Export: the ONNX graph and the standalone Python scorer reproduce model.predict on every row.

Rows include missing numerics, missing categoricals and levels unseen in training.
The standalone scorer is also run in a fresh interpreter that has numpy and the
standard library only (no site-packages, so no hpcdl), the way a production box
would run it. Only the ONNX tests need onnx and onnxruntime (``hpcdl[export]``); the
Python scorer's run without them.
"""

import csv
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import hpcdl
from hpcdl.export import (
    ExportError,
    export_model,
    export_onnx,
    export_python,
    scorer_spec,
)
from hpcdl.frame import frame_from_numpy
from hpcdl.params import record_from_dict

try:
    import onnx
    import onnxruntime as ort
except ImportError:  # the Python scorer's tests still run
    onnx = ort = None
needs_onnxruntime = pytest.mark.skipif(ort is None, reason="needs onnx and onnxruntime: pip install 'hpcdl[export]'")

TOL = 1e-5
N_TRAIN, N_TEST = 300, 80


def _raw_columns(rng, n, with_specials):
    """Raw user data: numbers with NaN, level strings with None; the response columns too."""
    x1 = rng.normal(size=n) * 8.0 + 20.0
    x2 = rng.uniform(-3.0, 3.0, size=n)
    color = rng.choice(["red", "green", "blue", "teal"], size=n).astype(object)
    size = rng.choice(["S", "M", "L"], size=n, p=[0.5, 0.3, 0.2]).astype(object)
    x1[rng.random(n) < 0.08] = np.nan
    color[rng.random(n) < 0.08] = None
    if with_specials:  # unseen levels, missing values, and both at once
        color[:6] = ["mauve", "mauve", None, "ochre", "red", None]
        size[:6] = ["XL", None, "S", "XL", None, "M"]
        x1[:6] = [np.nan, 25.0, np.nan, 1.0, np.nan, np.nan]
        x2[3] = np.nan
    score = (np.nan_to_num(x1, nan=20.0) - 20.0) / 8.0 + x2 + (color == "red") * 1.5 - (size == "L") * 1.0
    binary = np.where(score + 0.3 * rng.normal(size=n) > 0.8, "yes", "no").astype(object)
    three = np.array(["lo", "mid", "hi"], dtype=object)[np.digitize(score, [-0.5, 0.8])]
    target = 3.0 * score + 10.0 + 0.2 * rng.normal(size=n)
    return {"x1": x1, "color": color, "size": size, "x2": x2, "binary": binary, "three": three, "target": target}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("export_data")
    train = _raw_columns(np.random.default_rng(0), N_TRAIN, with_specials=False)
    test = _raw_columns(np.random.default_rng(1), N_TEST, with_specials=True)
    return {
        "train_raw": train,
        "test_raw": test,
        "train": frame_from_numpy(train, str(d / "train.h5")),
        "test": frame_from_numpy(test, str(d / "test.h5")),
    }


PREDICTORS = ["x1", "color", "size", "x2"]
CASES = {
    "binomial-tanh": {"y": "binomial_target", "activation": "Tanh", "hidden": [6, 4]},
    "binomial-rectdrop-balanced": {
        "y": "binomial_target",
        "activation": "RectifierWithDropout",
        "hidden": [8],
        "hidden_dropout_ratios": [0.3],
        "balance_classes": True,
    },
    "binomial-skip-no-standardize": {
        "y": "binomial_target",
        "activation": "Tanh",
        "hidden": [5],
        "missing_values_handling": "Skip",
        "standardize": False,
    },
    "multinomial-maxout": {"y": "three", "activation": "Maxout", "hidden": [6, 5]},
    "multinomial-maxoutdrop-ref-level": {
        "y": "three",
        "activation": "MaxoutWithDropout",
        "hidden": [6],
        "hidden_dropout_ratios": [0.2],
        "use_all_factor_levels": False,
    },
    "regression-rectifier": {"y": "target", "activation": "Rectifier", "hidden": [8]},
    "regression-tanhdrop-huber": {
        "y": "target",
        "activation": "TanhWithDropout",
        "hidden": [6, 6],
        "hidden_dropout_ratios": [0.1, 0.4],
        "distribution": "huber",
    },
    "regression-maxout-laplace": {"y": "target", "activation": "Maxout", "hidden": [5], "distribution": "laplace"},
    "regression-quantile": {
        "y": "target",
        "activation": "Tanh",
        "hidden": [4],
        "distribution": "quantile",
        "quantile_alpha": 0.8,
    },
    "autoencoder-tanh": {"autoencoder": True, "activation": "Tanh", "hidden": [4]},
    "autoencoder-tanhdrop-deep": {
        "autoencoder": True,
        "activation": "TanhWithDropout",
        "hidden": [5, 3, 5],
        "hidden_dropout_ratios": [0.1, 0.0, 0.2],
    },
    "autoencoder-rectdrop": {
        "autoencoder": True,
        "activation": "RectifierWithDropout",
        "hidden": [4],
        "hidden_dropout_ratios": [0.25],
    },
}


def _train(data, case):
    kw = dict(CASES[case])
    y = kw.pop("y", None)
    if y == "binomial_target":
        y = "binary"
    return hpcdl.deeplearning(x=PREDICTORS, y=y, training_frame=data["train"], epochs=3, seed=7, threads=1, **kw)


@pytest.fixture(scope="module")
def models(data):
    return {case: _train(data, case) for case in CASES}


def _expected(model, frame):
    """model.predict as {column: values}, labels as strings."""
    pred = model.predict(frame)
    cols = pred.read()
    if "predict" in pred.domains:
        cols["predict"] = np.array([pred.domains["predict"][c] for c in cols["predict"]], dtype=object)
    return cols


def _onnx_feed(raw):
    feed = {}
    for name in PREDICTORS:
        v = raw[name]
        if v.dtype == object:  # categorical: strings; missing is any non-level string
            feed[name] = np.array(["" if s is None else s for s in v], dtype=object)
        else:
            feed[name] = v.astype(np.float64)
    return feed


def _assert_labels(kind, got, expected, probs, threshold):
    """Labels equal, except where float32 rounding can flip them (probability within 1e-6 of the
    threshold, or two top classes within 1e-6); such near-ties must be rare."""
    if kind == "binomial":
        margin = np.abs(probs[:, 1] - threshold)
    else:
        top2 = np.sort(probs, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
    decided = margin > 1e-6
    assert decided.mean() > 0.97
    np.testing.assert_array_equal(np.asarray(got, dtype=object)[decided], np.asarray(expected, dtype=object)[decided])


def _compare(model, got: dict, expected: dict):
    spec = scorer_spec(model)
    assert list(got) == spec.output_columns == list(expected)
    if model.kind in ("binomial", "multinomial"):
        probs = np.column_stack([expected[c] for c in spec.output_columns[1:]])
        for c in spec.output_columns[1:]:
            np.testing.assert_allclose(np.asarray(got[c], dtype=float), expected[c], rtol=0, atol=TOL, err_msg=c)
        _assert_labels(model.kind, got["predict"], expected["predict"], probs, spec.threshold)
    else:
        for c in spec.output_columns:
            np.testing.assert_allclose(np.asarray(got[c], dtype=float), expected[c], rtol=0, atol=TOL, err_msg=c)


def _onnx_outputs(session, model, feed):
    spec = scorer_spec(model)
    names = [o.name for o in session.get_outputs()]
    out = dict(zip(names, session.run(None, feed)))
    if model.kind == "regression":
        return {"predict": out["predict"]}
    if model.kind == "autoencoder":
        return {c: out["reconstruction"][:, k] for k, c in enumerate(spec.output_columns)}
    got = {"predict": out["predict"]}
    got.update({c: out["probabilities"][:, k] for k, c in enumerate(spec.response_domain)})
    return got


def _load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------ equality


@needs_onnxruntime
@pytest.mark.parametrize("case", list(CASES))
def test_onnx_matches_model_predict(models, data, tmp_path, case):
    model = models[case]
    path = export_onnx(model, tmp_path / "model.onnx")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == model.dinfo.predictors
    for frame, raw in ((data["test"], data["test_raw"]), (data["train"], data["train_raw"])):
        _compare(model, _onnx_outputs(session, model, _onnx_feed(raw)), _expected(model, frame))


@pytest.mark.parametrize("case", list(CASES))
def test_python_scorer_matches_model_predict(models, data, tmp_path, case):
    model = models[case]
    (path,) = export_python(model, tmp_path / "scorer.py")
    scorer = _load_module(path, f"scorer_{case.replace('-', '_')}")
    raw = data["test_raw"]
    expected = _expected(model, data["test"])
    _compare(model, scorer.predict({k: raw[k] for k in PREDICTORS}), expected)
    # a list of row dicts, with None for missing, gives the same
    rows = [
        {k: (None if isinstance(raw[k][i], float) and np.isnan(raw[k][i]) else raw[k][i]) for k in PREDICTORS}
        for i in range(N_TEST)
    ]
    _compare(model, scorer.predict(rows), expected)
    # the embedded weights are the model's float32 weights, bit for bit
    for l, (_act, w, b, _scale) in enumerate(scorer.LAYERS):
        np.testing.assert_array_equal(w, model.net.weights(l))
        np.testing.assert_array_equal(b, model.net.biases(l))


# ------------------------------------------------------------------------------ fresh environment


@pytest.fixture(scope="module")
def numpy_only_env(tmp_path_factory):
    """An interpreter with the standard library and numpy only: `python -S` (no site-packages,
    so no hpcdl, no editable-install finder) and PYTHONPATH = a directory holding just numpy."""
    libs = tmp_path_factory.mktemp("numpy_only")
    site = os.path.dirname(os.path.dirname(np.__file__))
    for name in ("numpy", "numpy.libs"):
        if os.path.exists(os.path.join(site, name)):
            os.symlink(os.path.join(site, name), libs / name)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(libs),
        "PYTHONNOUSERSITE": "1",
        "HOME": str(libs),
        "LC_ALL": "C.UTF-8",
    }
    cmd = [sys.executable, "-S", "-s"]
    probe = subprocess.run(
        cmd + ["-c", "import numpy; import hpcdl"], env=env, cwd=libs, check=False, capture_output=True, text=True
    )
    assert probe.returncode != 0 and "No module named 'hpcdl'" in probe.stderr, probe.stderr
    return cmd, env


def _write_csv(path, raw, order):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(order)
        for i in range(len(raw[order[0]])):
            row = []
            for name in order:
                v = raw[name][i]
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    row.append("NA" if name in ("x1", "x2") else "")
                else:
                    row.append(repr(float(v)) if isinstance(v, float) else v)
            w.writerow(row)


def _read_predictions(text, model):
    rows = list(csv.reader(text.splitlines()))
    header, body = rows[0], rows[1:]
    out = {}
    for k, name in enumerate(header):
        values = [r[k] for r in body]
        out[name] = (
            np.array(values, dtype=object)
            if name == "predict" and model.dinfo.classification
            else np.array(values, dtype=float)
        )
    return out


@pytest.mark.parametrize(
    "case,weights",
    [
        ("binomial-rectdrop-balanced", "embed"),
        ("multinomial-maxout", "npz"),
        ("regression-tanhdrop-huber", "auto"),
        ("autoencoder-tanhdrop-deep", "npz"),
    ],
)
def test_standalone_file_scores_csv_without_hpcdl(models, data, tmp_path, numpy_only_env, case, weights):
    model = models[case]
    out_dir = tmp_path / "deploy"
    written = export_python(model, out_dir / "model.py", weights=weights)
    assert len(written) == (2 if weights == "npz" else 1)
    csv_path = tmp_path / "input.csv"
    # extra column and a different column order: the scorer picks its predictors by name
    _write_csv(csv_path, {**data["test_raw"], "extra": data["test_raw"]["x2"]}, ["extra", "x2", "size", "color", "x1"])
    cmd, env = numpy_only_env
    run = subprocess.run(
        cmd + [str(out_dir / "model.py"), str(csv_path)],
        env=env,
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    _compare(model, _read_predictions(run.stdout, model), _expected(model, data["test"]))


def test_standalone_file_reports_bad_input(models, data, tmp_path, numpy_only_env):
    export_python(models["regression-rectifier"], tmp_path / "model.py")
    cmd, env = numpy_only_env
    bad = tmp_path / "bad.csv"
    bad.write_text("x1,color,size,x2\n1.5,red,S,0.1\nabc,red,S,0.2\n")
    run = subprocess.run(
        cmd + ["model.py", str(bad)], env=env, cwd=tmp_path, check=False, capture_output=True, text=True
    )
    assert run.returncode == 1 and "column 'x1', row 2: 'abc' is not a number" in run.stderr
    short = tmp_path / "short.csv"
    short.write_text("x1,color,x2\n1.5,red,0.1\n")
    run = subprocess.run(
        cmd + ["model.py", str(short)], env=env, cwd=tmp_path, check=False, capture_output=True, text=True
    )
    assert run.returncode == 1 and "['size']" in run.stderr and run.stdout == ""


# ------------------------------------------------------------------------------ refusals and files


def test_hashing_is_refused_and_nothing_is_written(data, tmp_path):
    model = hpcdl.deeplearning(
        x=PREDICTORS,
        y="binary",
        training_frame=data["train"],
        hidden=[4],
        epochs=1,
        seed=1,
        threads=1,
        max_categorical_features=3,
    )
    assert model.dinfo.hash_buckets == 3
    for fmt, name in (("onnx", "m.onnx"), ("python", "m.py")):
        with pytest.raises(ExportError, match="max_categorical_features"):
            export_model(model, tmp_path / name, fmt)
    model.save(str(tmp_path / "hashed.h5"))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpcdl.cli",
            "export",
            str(tmp_path / "hashed.h5"),
            "--format",
            "onnx",
            "--out",
            str(tmp_path / "cli.onnx"),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode != 0 and "max_categorical_features" in run.stderr
    assert sorted(os.listdir(tmp_path)) == ["hashed.h5"]  # no output, no temporary left behind


def test_non_identity_link_and_unstable_model_are_refused(models, tmp_path):
    model = models["regression-rectifier"]
    model.effective = record_from_dict({**model.effective.to_dict(), "distribution": "poisson"})
    try:
        with pytest.raises(ExportError, match="poisson"):
            export_onnx(model, tmp_path / "m.onnx")
    finally:
        model.effective = record_from_dict({**model.effective.to_dict(), "distribution": "gaussian"})
    broken = hpcdl.model.Model.from_content(models["binomial-tanh"].to_content())
    broken.net.W[3] = np.nan
    with pytest.raises(ExportError, match="unstable"):
        export_python(broken, tmp_path / "m.py")
    assert os.listdir(tmp_path) == []


@needs_onnxruntime
def test_cli_export_writes_both_formats_and_refuses_overwrite(models, data, tmp_path):
    model = models["multinomial-maxout"]
    saved = model.save(str(tmp_path / "m.h5"))
    base = [sys.executable, "-m", "hpcdl.cli", "export", saved]
    run = subprocess.run(base + ["--out", str(tmp_path / "m.onnx")], check=False, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    run = subprocess.run(
        base + ["--format", "python", "--weights", "npz", "--out", str(tmp_path / "m.py")],
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [str(tmp_path / "m.py"), str(tmp_path / "m.npz")]
    again = subprocess.run(base + ["--out", str(tmp_path / "m.onnx")], check=False, capture_output=True, text=True)
    assert again.returncode == 1 and "exists" in again.stderr
    # the files from the saved model score like the in-memory model
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    expected = _expected(model, data["test"])
    _compare(model, _onnx_outputs(session, model, _onnx_feed(data["test_raw"])), expected)
    scorer = _load_module(str(tmp_path / "m.py"), "scorer_cli")
    _compare(model, scorer.predict({k: data["test_raw"][k] for k in PREDICTORS}), expected)


@needs_onnxruntime
def test_onnx_graph_is_self_describing(models, tmp_path):
    model = models["binomial-rectdrop-balanced"]
    proto = onnx.load(export_onnx(model, tmp_path / "m.onnx"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["kind"] == "binomial" and meta["model_id"] == model.model_id
    assert float(meta["threshold"]) == model.label_threshold()  # what the graph compares p1 with
    types = {i.name: i.type.tensor_type.elem_type for i in proto.graph.input}
    assert types == {
        "color": onnx.TensorProto.STRING,
        "size": onnx.TensorProto.STRING,
        "x1": onnx.TensorProto.DOUBLE,
        "x2": onnx.TensorProto.DOUBLE,
    }
    assert [o.name for o in proto.graph.output] == ["predict", "probabilities"]
    assert model.run_info.get("class_prior") is not None  # the prior correction is really exercised


def test_numeric_looking_levels_accept_numbers(tmp_path):
    """prostate with RACE/DPROS as categoricals: the scorer takes 1 or 1.0 for level "1", like hpcdl."""
    data_dir = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")
    frame = hpcdl.import_file(
        os.path.join(data_dir, "prostate.csv"),
        destination=str(tmp_path / "p.h5"),
        col_types={"CAPSULE": "enum", "RACE": "enum", "DPROS": "enum"},
    )
    model = hpcdl.deeplearning(
        x=["AGE", "RACE", "DPROS", "PSA"], y="CAPSULE", training_frame=frame, hidden=[4], epochs=1, seed=3, threads=1
    )
    (path,) = export_python(model, tmp_path / "prostate_scorer.py")
    scorer = _load_module(path, "prostate_scorer")
    cols = frame.read(["AGE", "RACE", "DPROS", "PSA"])
    as_strings = {
        k: (np.array([frame.domains[k][c] for c in v], dtype=object) if k in frame.domains else v)
        for k, v in cols.items()
    }
    as_numbers = {k: (np.array([float(s) for s in v]) if k in frame.domains else v) for k, v in as_strings.items()}
    expected = _expected(model, frame)
    _compare(model, scorer.predict(as_strings), expected)
    _compare(model, scorer.predict(as_numbers), expected)
    _compare(
        model, scorer.predict({k: v.astype(int) if k in frame.domains else v for k, v in as_numbers.items()}), expected
    )


ONE_KIND = pytest.mark.parametrize("x", [["color", "size"], ["x1"]], ids=["categoricals-only", "one-numeric"])


def _one_kind_model(data, x):
    model = hpcdl.deeplearning(x=x, y="three", training_frame=data["train"], hidden=[3], epochs=2, seed=2, threads=1)
    return model, _expected(model, data["test"])


@needs_onnxruntime
@ONE_KIND
def test_onnx_models_with_one_kind_of_input(data, tmp_path, x):
    model, expected = _one_kind_model(data, x)
    feed = {k: v for k, v in _onnx_feed(data["test_raw"]).items() if k in x}
    session = ort.InferenceSession(export_onnx(model, tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    _compare(model, _onnx_outputs(session, model, feed), expected)


@ONE_KIND
def test_python_scorer_models_with_one_kind_of_input(data, tmp_path, x):
    model, expected = _one_kind_model(data, x)
    scorer = _load_module(export_python(model, tmp_path / "m.py")[0], f"one_kind_{len(x)}")
    _compare(model, scorer.predict({k: data["test_raw"][k] for k in x}), expected)


def test_missing_onnx_package_is_a_clear_error(models, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    with pytest.raises(ExportError, match=r"pip install 'hpcdl\[export\]'"):
        export_onnx(models["binomial-tanh"], tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------ labels over many seeds


@needs_onnxruntime
def test_exported_labels_equal_predict_over_many_seeds(tmp_path):
    """Issue 25: with the max-F1 threshold equal to a training row's own probability, a last-bit
    difference in the exported graph flipped that row's label in 7 of 24 prostate models. Labels
    use model.label_threshold() (halfway to the next lower score): every label agrees, on every
    row, for ONNX and the Python scorer, while threshold() stays H2O-3's max-F1 score."""
    import csv as csv_mod

    path = os.path.join(os.path.dirname(hpcdl.__file__), "datasets", "prostate.csv")
    with open(path) as fh:
        rows = list(csv_mod.DictReader(fh))
    names = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
    cols = {n: np.array([float(r[n]) for r in rows]) for n in names}
    label = np.array(["yes" if r["CAPSULE"] == "1" else "no" for r in rows], dtype=object)
    frame = frame_from_numpy({**cols, "CAPSULE": label}, tmp_path / "prostate.h5")
    feed = {n: v.astype(np.float64) for n, v in cols.items()}
    for seed, (activation, hidden) in enumerate([("Tanh", [10]), ("Rectifier", [20, 20])] * 4, start=1):
        model = hpcdl.deeplearning(
            x=names, y="CAPSULE", training_frame=frame, activation=activation, hidden=hidden,
            epochs=5, seed=seed, reproducible=True,
        )  # fmt: skip
        p1 = np.sort(model.predict(frame).column(2))
        assert model.threshold() in p1  # H2O-3's threshold: a row's own score
        assert p1[p1 < model.threshold()].max(initial=0.0) < model.label_threshold() < model.threshold()
        expected = _expected(model, frame)["predict"]
        session = ort.InferenceSession(
            export_onnx(model, tmp_path / f"m{seed}.onnx"), providers=["CPUExecutionProvider"]
        )
        onnx_labels = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))["predict"]
        np.testing.assert_array_equal(onnx_labels.astype(object), expected, err_msg=f"ONNX, seed {seed}")
        scorer = _load_module(export_python(model, tmp_path / f"m{seed}.py")[0], f"prostate_scorer{seed}")
        np.testing.assert_array_equal(scorer.predict(cols)["predict"], expected, err_msg=f"Python, seed {seed}")
