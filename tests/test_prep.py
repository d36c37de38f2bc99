"""DataInfo against independent numpy/loop references: layout, transforms, NA and unseen levels,
Skip, constant columns, hashing, persistence, class balancing, and the bundled CSV data sets."""

import json
import os

import numpy as np
import pytest

import hpcdl
from hpcdl import prep
from hpcdl.frame import frame_from_numpy
from hpcdl.prep import DataInfo, PrepError, balance_classes, correct_probabilities

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")
N = 40


def _columns(seed=0, n=N):
    rng = np.random.default_rng(seed)
    num1 = rng.normal(10.0, 3.0, n)
    num1[[1, 7, 20]] = np.nan
    num2 = rng.integers(0, 100, n).astype(np.int64)
    const = np.full(n, 5.0)
    allna = np.full(n, np.nan)
    cat_a = rng.choice(np.array(["red", "green", "blue"], dtype=object), n)
    cat_a[[3, 4, 30]] = None
    cat_b = rng.choice(np.array(["w", "x", "y", "z"], dtype=object), n)
    cat_c = rng.choice(np.array(["lo", "mid", "hi"], dtype=object), n)
    cat_c[:3] = ["lo", "mid", "hi"]
    resp = rng.choice(np.array(["no", "yes"], dtype=object), n)
    resp[:2] = ["no", "yes"]
    rnum = 2.0 * np.nan_to_num(num1) + rng.normal(0, 1, n) + 100.0
    rnum[[5, 6]] = np.nan
    return {
        "num1": num1,
        "cat_a": cat_a,
        "const": const,
        "num2": num2,
        "allna": allna,
        "cat_b": cat_b,
        "cat_c": cat_c,
        "resp": resp,
        "rnum": rnum,
    }


@pytest.fixture()
def cols():
    return _columns()


@pytest.fixture()
def frame(tmp_path, cols):
    return frame_from_numpy(cols, str(tmp_path / "small.h5"))


def _reference(cols, cats, nums, *, use_all=True, normalize=False, standardize=True, train=None):
    """One-hot by loops and numerics by np.nanmean/np.nanstd, straight from the raw columns.

    ``train`` holds the columns the statistics and domains come from (default: ``cols``)."""
    train = cols if train is None else train
    n = len(next(iter(cols.values())))
    blocks = []
    for c in cats:
        levels = sorted({v for v in train[c] if v is not None})
        used = levels if use_all else levels[1:]
        block = np.zeros((n, len(used) + 1))
        for i, v in enumerate(cols[c]):
            if v is None or v not in levels:
                block[i, len(used)] = 1.0
            elif v in used:
                block[i, used.index(v)] = 1.0
        blocks.append(block)
    for c in nums:
        t = np.asarray(train[c], dtype=np.float64)
        v = np.asarray(cols[c], dtype=np.float64)
        mean = np.nanmean(t)
        v = np.where(np.isnan(v), mean, v)
        if not standardize:
            blocks.append(v[:, None])
            continue
        scale = (np.nanmax(t) - np.nanmin(t)) if normalize else np.nanstd(t, ddof=1)
        blocks.append(((v - mean) / (scale if scale > 0 else 1.0))[:, None])
    return np.hstack(blocks)


X_COLS = ["num1", "cat_a", "const", "num2", "allna", "cat_b", "cat_c"]


# -- layout -----------------------------------------------------------------------
def test_layout_order_names_and_dropped(frame):
    d = DataInfo.fit(frame, X_COLS, "resp")
    # categoricals by decreasing cardinality (cat_a and cat_c tie at 3: frame order), then numerics
    assert d.predictors == ["cat_b", "cat_a", "cat_c", "num1", "num2"]
    assert d.dropped == {"const": "constant", "allna": "all NA"}
    assert d.input_names == [
        "cat_b.w",
        "cat_b.x",
        "cat_b.y",
        "cat_b.z",
        "cat_b.missing(NA)",
        "cat_a.blue",
        "cat_a.green",
        "cat_a.red",
        "cat_a.missing(NA)",
        "cat_c.hi",
        "cat_c.lo",
        "cat_c.mid",
        "cat_c.missing(NA)",
        "num1",
        "num2",
    ]
    assert d.n_inputs == len(d.input_names) == 15
    assert d.classification and d.response_domain == ["no", "yes"] and d.n_classes == d.n_outputs == 2
    assert d.untrained_inputs() == [4, 12]  # cat_b, cat_c had no NA: their NA slots never train


def test_x_none_means_all_but_response(frame):
    d = DataInfo.fit(frame, None, "resp")
    assert "resp" not in d.predictors and set(d.predictors) | set(d.dropped) == set(frame.names) - {"resp"}


def test_transform_matches_reference(frame, cols):
    d = DataInfo.fit(frame, X_COLS, "resp")
    X, y, valid = d.transform(frame)
    ref = _reference(cols, ["cat_b", "cat_a", "cat_c"], ["num1", "num2"])
    assert X.dtype == np.float32 and X.flags.c_contiguous and X.shape == (N, 15)
    np.testing.assert_allclose(X, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(y, np.array([["no", "yes"].index(v) for v in cols["resp"]], np.float32))
    assert valid.all()
    # numeric NA -> mean -> 0 after standardizing; categorical NA -> its NA slot
    assert np.all(X[[1, 7, 20], 13] == 0.0)
    assert np.all(X[[3, 4, 30], 8] == 1.0) and np.all(X[[3, 4, 30], 5:8] == 0.0)


def test_use_all_factor_levels_false_drops_first_level(frame, cols):
    d = DataInfo.fit(frame, X_COLS, "resp", use_all_factor_levels=False)
    assert d.input_names[:4] == ["cat_b.x", "cat_b.y", "cat_b.z", "cat_b.missing(NA)"]
    X, _, _ = d.transform(frame)
    ref = _reference(cols, ["cat_b", "cat_a", "cat_c"], ["num1", "num2"], use_all=False)
    np.testing.assert_allclose(X, ref, rtol=1e-6, atol=1e-6)
    # NA lights the NA slot (not H2O's off-by-one "last level" slot)
    assert np.all(X[[3, 4, 30], d.input_names.index("cat_a.missing(NA)")] == 1.0)
    assert np.all(X[[3, 4, 30], d.input_names.index("cat_a.red")] == 0.0)
    # the reference level is all zeros in its block
    blue = np.array([v == "blue" for v in cols["cat_a"]])
    a0, a1 = d.input_names.index("cat_a.green"), d.input_names.index("cat_a.missing(NA)") + 1
    assert np.all(X[blue, a0:a1] == 0.0)


def test_standardize_false_keeps_raw_values_and_imputes_mean(frame, cols):
    d = DataInfo.fit(frame, ["num1", "num2"], "resp", standardize=False)
    X, _, _ = d.transform(frame)
    np.testing.assert_allclose(X, _reference(cols, [], ["num1", "num2"], standardize=False), rtol=1e-6)


def test_sparse_scales_by_the_sd_without_centering(frame, cols):
    # H2O-3's Deep Learning with sparse=True uses DataInfo's DESCALE: normSub 0, normMul 1/sigma
    # (DeepLearning.java line 107; DataInfo.java, "case DESCALE"); NA still imputes the mean.
    d = DataInfo.fit(frame, ["num1", "num2"], "resp", sparse=True)
    X, _, _ = d.transform(frame)
    want = []
    for c in ("num1", "num2"):
        v = np.asarray(cols[c], dtype=np.float64)
        mean, sd = np.nanmean(v), np.nanstd(v, ddof=1)
        want.append(np.where(np.isnan(v), mean, v) / sd)
    np.testing.assert_allclose(X, np.stack(want, axis=1), rtol=1e-6)
    assert d.sparse and list(d.norm_sub) == [0.0, 0.0]
    assert DataInfo.from_dict(d.to_dict()).sparse  # kept in the model file
    assert not DataInfo.from_dict({**d.to_dict(), "sparse": None}).sparse  # files from before: dense
    auto = DataInfo.fit(frame, ["num1", "num2"], None, autoencoder=True, sparse=True)
    assert list(auto.norm_sub) != [0.0, 0.0]  # autoencoders NORMALIZE whatever sparse says (as H2O-3)


# -- NA, unseen levels, other frames ------------------------------------------------------
def test_unseen_level_and_other_domain_go_by_string(tmp_path, frame, cols):
    d = DataInfo.fit(frame, ["cat_a", "num1"], "resp")
    other = {
        "cat_a": np.array(["purple", "red", None, "blue", "green"], dtype=object),
        "num1": np.array([1.0, np.nan, 3.0, 4.0, 5.0]),
        "resp": np.array(["yes", "no", "maybe", None, "no"], dtype=object),
    }
    test_frame = frame_from_numpy(other, str(tmp_path / "other.h5"))
    assert test_frame.domains["cat_a"] != frame.domains["cat_a"]  # purple shifts the codes
    X, y, valid = d.transform(test_frame)
    ref = _reference(other, ["cat_a"], ["num1"], train=cols)
    np.testing.assert_allclose(X, ref, rtol=1e-6, atol=1e-6)
    assert X[0, 3] == 1.0  # unseen "purple" -> NA slot (unseen_level_policy="NA")
    np.testing.assert_array_equal(y, [1, 0, -1, -1, 0])  # unseen class / NA response: not usable
    np.testing.assert_array_equal(valid, [True, True, False, False, True])
    # the same from in-memory arrays: strings, or codes plus their domain
    X2, y2, _ = d.transform_arrays(other)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    data = test_frame.read()
    X3, y3, _ = d.transform_arrays(data, test_frame.domains)
    np.testing.assert_array_equal(X3, X)
    np.testing.assert_array_equal(y3, y)


def test_numeric_column_scored_against_categorical_matches_by_string(tmp_path):
    f = frame_from_numpy(
        {"g": np.array(["1", "2", "3", "2"], dtype=object), "v": np.arange(4.0)}, str(tmp_path / "g.h5")
    )
    d = DataInfo.fit(f, ["g"], "v")
    X, _, _ = d.transform_arrays({"g": np.array([2.0, 7.0, np.nan, 1.0])})
    np.testing.assert_array_equal(X.argmax(axis=1), [1, 3, 3, 0])


def test_missing_column_is_an_error_naming_it(tmp_path, frame):
    d = DataInfo.fit(frame, X_COLS, "resp")
    f2 = frame_from_numpy(
        {"num1": np.arange(3.0), "cat_b": np.array(["w", "x", "y"], dtype=object)}, str(tmp_path / "f2.h5")
    )
    with pytest.raises(PrepError, match=r"cat_a.*cat_c.*num2|missing"):
        d.transform(f2)
    with pytest.raises(PrepError, match="num2"):
        d.transform_arrays({"cat_b": ["w"], "cat_a": ["blue"], "cat_c": ["lo"], "num1": [1.0]})


def test_frame_without_response_scores_but_does_not_train(tmp_path, frame, cols):
    d = DataInfo.fit(frame, ["num1", "cat_a"], "resp")
    f2 = frame_from_numpy({k: cols[k] for k in ("num1", "cat_a")}, str(tmp_path / "noresp.h5"))
    X, y, valid = d.transform(f2)
    assert y is None and not valid.any() and X.shape == (N, d.n_inputs)


def test_type_mismatch_is_an_error(tmp_path, frame):
    d = DataInfo.fit(frame, ["num1"], "rnum")
    with pytest.raises(PrepError, match="num1"):
        d.transform_arrays({"num1": np.array(["a", "b"], dtype=object)})
    with pytest.raises(PrepError, match="rnum"):
        d.transform_arrays({"num1": np.array([1.0]), "rnum": np.array([0], np.int32)}, {"rnum": ["a"]})


def test_skip_mode_valid_mask(frame, cols):
    d = DataInfo.fit(frame, X_COLS, "rnum", missing_values_handling="Skip")
    X, _, valid = d.transform(frame)
    expected = np.ones(N, bool)
    for i in range(N):
        if np.isnan(cols["num1"][i]) or cols["cat_a"][i] is None or np.isnan(cols["rnum"][i]):
            expected[i] = False
    np.testing.assert_array_equal(valid, expected)
    # Skip does not change the values: NA rows are still imputed for scoring
    X_mean, _, _ = DataInfo.fit(frame, X_COLS, "rnum").transform(frame)
    np.testing.assert_array_equal(X, X_mean)


def test_skip_mode_with_no_complete_row_fails_at_fit(tmp_path):
    f = frame_from_numpy(
        {
            "a": np.array([1.0, np.nan, 3.0, np.nan]),
            "b": np.array([np.nan, 2.0, np.nan, 5.0]),
            "y": np.array([1.0, 2.0, 3.0, 4.0]),
        },
        str(tmp_path / "skip.h5"),
    )
    with pytest.raises(PrepError, match="Skip"):
        DataInfo.fit(f, ["a", "b"], "y", missing_values_handling="Skip")
    DataInfo.fit(f, ["a", "b"], "y")  # MeanImputation is fine


def test_ignore_const_cols_false_keeps_constant(frame, cols):
    with pytest.raises(PrepError, match="allna"):
        DataInfo.fit(frame, X_COLS, "resp", ignore_const_cols=False)
    d = DataInfo.fit(frame, ["const", "num1"], "resp", ignore_const_cols=False)
    assert d.dropped == {} and d.predictors == ["const", "num1"]
    X, _, _ = d.transform(frame)
    assert np.all(X[:, 0] == 0.0)  # sd 0 -> multiplier 1, centered value 0


def test_constant_enum_and_constant_with_na_are_dropped(tmp_path):
    f = frame_from_numpy(
        {
            "e": np.array(["a", "a", None, "a"], dtype=object),
            "n": np.array([2.0, np.nan, 2.0, 2.0]),
            "v": np.array([1.0, 2.0, 3.0, 4.0]),
            "y": np.array([0.0, 1.0, 0.0, 1.0]),
        },
        str(tmp_path / "c.h5"),
    )
    d = DataInfo.fit(f, None, "y")
    assert d.dropped == {"e": "constant", "n": "constant"} and d.predictors == ["v"]


# -- autoencoder and regression ---------------------------------------------------------------
def test_autoencoder_normalize_and_reconstruction(frame, cols):
    d = DataInfo.fit(frame, X_COLS, None, autoencoder=True, use_all_factor_levels=False)
    assert d.use_all_factor_levels and d.response is None and d.n_outputs == d.n_inputs == 15
    X, y, valid = d.transform(frame)
    assert y is None and valid.all()
    ref = _reference(cols, ["cat_b", "cat_a", "cat_c"], ["num1", "num2"], normalize=True)
    np.testing.assert_allclose(X, ref, rtol=1e-6, atol=1e-6)
    rec = d.reconstruction_to_original(X)
    assert list(rec) == [f"reconstr_{n}" for n in d.input_names]
    num2 = np.asarray(cols["num2"], dtype=np.float64)
    np.testing.assert_allclose(rec["reconstr_num2"], num2, rtol=1e-5)
    np.testing.assert_array_equal(rec["reconstr_cat_b.w"], X[:, 0])  # one-hot stays raw


def test_regression_response_standardized_and_back(frame, cols):
    d = DataInfo.fit(frame, X_COLS, "rnum")
    assert not d.classification and d.n_classes == 1 and d.n_outputs == 1 and d.response_domain is None
    _, y, valid = d.transform(frame)
    r = cols["rnum"]
    ref = (r - np.nanmean(r)) / np.nanstd(r, ddof=1)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(valid, ~np.isnan(r))
    np.testing.assert_allclose(d.response_to_original(y), r, rtol=1e-5)
    np.testing.assert_allclose(d.response_to_standardized(r), ref, rtol=1e-12)
    d2 = DataInfo.fit(frame, X_COLS, "rnum", standardize=False)
    np.testing.assert_allclose(d2.transform(frame)[1], r.astype(np.float32))


def test_classification_forced_from_numeric(tmp_path, frame):
    f = frame_from_numpy(
        {"x": np.arange(6.0), "y": np.array([2.0, 0.0, 2.5, np.nan, 0.0, 10.0])}, str(tmp_path / "n.h5")
    )
    assert not DataInfo.fit(f, ["x"], "y").classification
    d = DataInfo.fit(f, ["x"], "y", classification=True)
    assert d.classification and d.response_domain == ["0", "2", "2.5", "10"] and d.n_outputs == 4
    _, y, valid = d.transform(f)
    np.testing.assert_array_equal(y, [1, 0, 2, -1, 0, 3])
    np.testing.assert_array_equal(valid, [True, True, True, False, True, True])
    with pytest.raises(PrepError, match="classification=False"):
        DataInfo.fit(frame, ["num1"], "resp", classification=False)


# -- row ranges, hashing, persistence -----------------------------------------------------------
def test_row_range_equals_slice_of_full_transform(frame, monkeypatch):
    d = DataInfo.fit(frame, X_COLS, "rnum", missing_values_handling="Skip")
    full = d.transform(frame)
    monkeypatch.setattr(prep, "READ_GROUP_VALUES", 7)  # several read groups
    monkeypatch.setattr(prep, "NUM_BLOCK_ROWS", 3)  # several numeric blocks
    for start, stop in [(0, N), (3, 11), (17, 18), (25, 400), (10, 10)]:
        part = d.transform(frame, start, stop)
        for a, b in zip(part, full):
            np.testing.assert_array_equal(a, b[start : min(stop, N)])


def test_hashing_width_names_and_determinism(frame, cols):
    d = DataInfo.fit(frame, X_COLS, "resp", max_categorical_features=5, seed=42)
    assert d.hash_buckets == 5 and d.n_inputs == 5 + 2
    assert d.input_names == [f"cat_hash.{k}" for k in range(5)] + ["num1", "num2"]
    X, _, _ = d.transform(frame)
    np.testing.assert_array_equal(X[:, :5].sum(axis=1), 3.0)  # each categorical adds one count
    np.testing.assert_allclose(X[:, 5:], _reference(cols, [], ["num1", "num2"]), rtol=1e-6, atol=1e-6)
    # the hashed counts are the one-hot blocks summed by bucket
    onehot, _, _ = DataInfo.fit(frame, X_COLS, "resp").transform(frame)
    table = np.concatenate([prep.hash_buckets_for(k, w, 42, 5) for k, w in enumerate(d.cat_widths)])
    summed = np.zeros((N, 5))
    for j, b in enumerate(table):
        summed[:, b] += onehot[:, j]
    np.testing.assert_array_equal(X[:, :5], summed)
    X2, _, _ = DataInfo.fit(frame, X_COLS, "resp", max_categorical_features=5, seed=42).transform(frame)
    np.testing.assert_array_equal(X, X2)
    # wide enough: no hashing (the one-hot width 13 is not above 13)
    assert DataInfo.fit(frame, X_COLS, "resp", max_categorical_features=13).hash_buckets == 0
    assert prep.hash_buckets_for(0, 1000, 1, 7).min() >= 0 and prep.hash_buckets_for(0, 1000, 1, 7).max() < 7
    assert not np.array_equal(prep.hash_buckets_for(0, 50, 1, 7), prep.hash_buckets_for(0, 50, 2, 7))


def _plain(obj):
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_plain(v) for v in obj)
    return obj is None or isinstance(obj, (str, bool, int, float, np.ndarray))


@pytest.mark.parametrize(
    "kw",
    [
        {"y": "resp"},
        {"y": "rnum", "use_all_factor_levels": False},
        {"y": None, "autoencoder": True},
        {"y": "resp", "max_categorical_features": 4, "seed": 9},
        {"y": "rnum", "missing_values_handling": "Skip"},
    ],
)
def test_to_dict_from_dict_round_trip(frame, kw):
    y = kw.pop("y")
    d = DataInfo.fit(frame, X_COLS, y, **kw)
    dd = d.to_dict()
    assert _plain(dd)
    back = DataInfo.from_dict(json.loads(json.dumps(dd)))
    assert back.to_dict() == dd
    for a, b in zip(d.transform(frame), back.transform(frame)):
        if a is None:
            assert b is None
        else:
            np.testing.assert_array_equal(a, b)
    assert back.input_names == d.input_names and back.predictors == d.predictors


# -- errors -----------------------------------------------------------------------------------
def test_errors_name_the_problem(frame, tmp_path):
    with pytest.raises(PrepError, match="nope"):
        DataInfo.fit(frame, ["num1", "nope"], "resp")
    with pytest.raises(PrepError, match="'ghost'"):
        DataInfo.fit(frame, ["num1"], "ghost")
    with pytest.raises(PrepError, match="also listed in x"):
        DataInfo.fit(frame, ["num1", "resp"], "resp")
    with pytest.raises(PrepError, match="no predictor columns left"):
        DataInfo.fit(frame, ["const", "allna"], "resp")
    with pytest.raises(PrepError, match="all NA"):
        DataInfo.fit(frame, ["num1"], "allna")
    with pytest.raises(PrepError, match="constant"):
        DataInfo.fit(frame, ["num1"], "const")
    with pytest.raises(PrepError, match="missing_values_handling"):
        DataInfo.fit(frame, ["num1"], "resp", missing_values_handling="Drop")
    one = frame_from_numpy(
        {"x": np.arange(4.0), "y": np.array(["a", "a", None, "a"], dtype=object)}, str(tmp_path / "one.h5")
    )
    with pytest.raises(PrepError, match="at least 2"):
        DataInfo.fit(one, ["x"], "y")
    with pytest.raises(PrepError, match="at least 2"):
        DataInfo.fit(frame, ["num1"], "const", classification=True)
    assert issubclass(PrepError, ValueError)


# -- class balancing ----------------------------------------------------------------------------
def test_balance_classes_equalizes_and_caps():
    y = np.repeat([0, 1, 2], [800, 150, 50])
    rows, prior, sampled = balance_classes(y, 3, seed=1)
    counts = np.bincount(y[rows], minlength=3)
    # ratios [1, 16/3, 16] -> about 800 of each; the majority class is emitted exactly once per row
    assert counts[0] == 800 and abs(counts[1] - 800) < 60 and counts[2] == 800
    np.testing.assert_allclose(prior, [0.8, 0.15, 0.05])
    np.testing.assert_allclose(sampled, counts / counts.sum())
    assert np.all(np.diff(rows) >= 0)
    # cap: at most 1.5 * N rows -> every ratio scaled by 1500/2400
    rows_c, _, _ = balance_classes(y, 3, max_after_balance_size=1.5, seed=1)
    counts_c = np.bincount(y[rows_c], minlength=3)
    assert abs(len(rows_c) - 1500) < 60 and np.all(np.abs(counts_c - 500) < 60)
    # deterministic for a seed, different for another
    np.testing.assert_array_equal(balance_classes(y, 3, seed=1)[0], rows)
    assert not np.array_equal(balance_classes(y, 3, seed=2)[0], rows)


def test_balance_classes_with_factors_and_bad_input():
    y = np.repeat([0, 1], [600, 400])
    rows, _, _ = balance_classes(y, 2, class_sampling_factors=[0.5, 2.0], seed=0)
    counts = np.bincount(y[rows], minlength=2)
    # expected 300 + 800 = 1100 <= 5N: ratios kept; 0.5 -> Bernoulli(0.5) per row
    assert abs(counts[0] - 300) < 50 and counts[1] == 800
    with pytest.raises(PrepError):
        balance_classes(np.array([0, -1, 1]), 2)
    with pytest.raises(PrepError):
        balance_classes(y, 2, class_sampling_factors=[1.0])


def test_correct_probabilities_restores_priors():
    rng = np.random.default_rng(0)
    prior = np.array([0.7, 0.2, 0.1])
    sampled = np.array([1 / 3, 1 / 3, 1 / 3])
    lik = rng.uniform(0.01, 1.0, size=(50, 3))  # p(x | class) for 50 points
    true_post = lik * prior
    true_post /= true_post.sum(axis=1, keepdims=True)
    balanced_post = lik * sampled
    balanced_post /= balanced_post.sum(axis=1, keepdims=True)  # what a model trained on balanced data learns
    np.testing.assert_allclose(correct_probabilities(balanced_post, prior, sampled), true_post, rtol=1e-12)
    same = correct_probabilities(true_post, prior, prior)
    np.testing.assert_allclose(same, true_post, rtol=1e-12)


# -- bundled data sets --------------------------------------------------------------------------
def test_prostate(tmp_path):
    f = hpcdl.import_file(
        os.path.join(DATA, "prostate.csv"),
        destination=str(tmp_path / "p.h5"),
        col_types={"CAPSULE": "enum", "RACE": "enum"},
    )
    x = ["AGE", "RACE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
    d = DataInfo.fit(f, x, "CAPSULE")
    assert d.classification and d.response_domain == ["0", "1"]
    assert d.predictors == ["RACE", "AGE", "DPROS", "DCAPS", "PSA", "VOL", "GLEASON"]
    X, y, valid = d.transform(f)
    raw = f.read()
    cols = {c: raw[c] for c in x if c != "RACE"}
    cols["RACE"] = [f.domains["RACE"][c] if c >= 0 else None for c in raw["RACE"]]
    np.testing.assert_allclose(X, _reference(cols, ["RACE"], x[:1] + x[2:]), rtol=1e-5, atol=1e-5)
    assert valid.all() and len(y) == f.nrow == 380


def test_weather(tmp_path):
    f = hpcdl.import_file(
        os.path.join(DATA, "weather.csv"), destination=str(tmp_path / "w.h5"), col_types={"RainTomorrow": "enum"}
    )
    d = DataInfo.fit(f, None, "RainTomorrow", missing_values_handling="Skip")
    raw = f.read()
    cats = d.cat_cols
    assert [len(f.domains[c]) for c in cats] == sorted((len(f.domains[c]) for c in cats), reverse=True)
    X, y, valid = d.transform(f)
    cols = {}
    for c in d.predictors:
        if c in cats:
            cols[c] = [f.domains[c][v] if v >= 0 else None for v in raw[c]]
        else:
            cols[c] = raw[c]
    np.testing.assert_allclose(X, _reference(cols, cats, d.num_cols), rtol=1e-5, atol=1e-5)
    has_na = np.zeros(f.nrow, bool)
    for c in d.predictors:
        has_na |= (raw[c] < 0) if c in cats else np.isnan(raw[c])
    np.testing.assert_array_equal(valid, ~has_na & (y >= 0))
    assert 0 < valid.sum() < f.nrow
    ae = DataInfo.fit(f, None, "RainTomorrow", autoencoder=True)
    assert ae.response is None and "RainTomorrow" not in ae.predictors
