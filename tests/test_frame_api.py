"""The H2OFrame surface of frames, each operation checked against pandas/numpy doing the same;
H2O-3's per-row random draws against a scalar twin written from its Java source and against
values H2O-3 3.46.0.12 itself printed; the "Frames" section of docs/python-api.md runs."""

import gc
import math
import os

import numpy as np
import pandas as pd
import pytest

import hpcdl
from hpcdl.frame import Frame, FrameError, H2OFrame, import_file, plan

DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")
DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs", "python-api.md")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HPCDL_FRAME_DIR", str(tmp_path / "cache"))


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 64 rows, so that every streamed operation crosses block boundaries (prostate: 6 blocks)."""
    monkeypatch.setattr(Frame, "chunk_rows", 64)
    monkeypatch.setattr(plan, "BLOCK_BYTES", 1)  # display: as few rows per block as allowed
    monkeypatch.setattr(plan, "MIN_BLOCK_ROWS", 64)


def prostate() -> tuple[Frame, pd.DataFrame]:
    return import_file(os.path.join(DATA, "prostate.csv")), pd.read_csv(os.path.join(DATA, "prostate.csv"))


def mixed() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 60
    x = rng.normal(size=n)
    x[[3, 17, 40]] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "k": rng.integers(-3, 4, size=n),
            "c": pd.Categorical(rng.choice(["b", "a", "c"], size=n)),
            "s": np.where(rng.random(n) < 0.1, None, rng.choice(["lo", "hi"], size=n)).astype(object),
        }
    )


def same_values(frame_col: pd.Series, pandas_col: pd.Series) -> bool:
    a, b = frame_col.to_numpy(dtype=object), pandas_col.to_numpy(dtype=object)
    return len(a) == len(b) and all((pd.isna(u) and pd.isna(v)) or u == v for u, v in zip(a, b))


# -- building frames ----------------------------------------------------------------------
def test_h2oframe_from_pandas_follows_the_dtypes():
    df = pd.DataFrame(
        {
            "i": [3, 1, 2],
            "f": [1.0, 2.0, 3.5],
            "b": [True, False, True],
            "c": pd.Categorical(["lo", "hi", "lo"], categories=["hi", "lo", "mid"]),
            "o": ["x", None, "y"],
            "t": pd.to_datetime(["2020-01-01 00:00", None, "2020-01-03 06:00"]),
            "ni": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    fr = hpcdl.H2OFrame(df)
    assert (
        isinstance(fr, Frame)
        and isinstance(fr, H2OFrame)
        and isinstance(import_file(os.path.join(DATA, "iris_wheader.csv")), H2OFrame)
    )
    assert fr.types == {"i": "int", "f": "real", "b": "enum", "c": "enum", "o": "enum", "t": "time", "ni": "int"}
    assert fr.levels() == [[], [], ["False", "True"], ["hi", "lo"], ["x", "y"], [], []]  # present levels, sorted
    back = fr.as_data_frame()
    assert back["i"].dtype == np.int64 and back["i"].tolist() == [3, 1, 2]
    assert back["f"].tolist() == [1.0, 2.0, 3.5]
    assert str(back["ni"].dtype) == "Int64" and same_values(back["ni"], df["ni"])
    assert same_values(back["c"].astype(object), df["c"].astype(object))
    assert same_values(back["o"].astype(object), df["o"])
    assert same_values(back["t"], df["t"])
    assert Frame.from_pandas(df).types == fr.types


def test_h2oframe_from_lists_dicts_and_numpy_reads_text_as_h2o_does():
    rows = [[1, "a", 2.5], [2, "b", None], [3, None, 1.0]]
    fr = hpcdl.H2OFrame(rows)
    assert fr.names == ["C1", "C2", "C3"] and fr.types == {"C1": "int", "C2": "enum", "C3": "real"}
    assert fr.as_data_frame(use_pandas=False) == [
        ["C1", "C2", "C3"],
        ["1", "a", "2.5"],
        ["2", "b", ""],
        ["3", "", "1.0"],
    ]
    named = hpcdl.H2OFrame([["id", "v"], [1, "7"], [2, "8"]], header=1)
    assert named.names == ["id", "v"] and named.types == {"id": "int", "v": "int"}  # "7" is a number, as in a CSV
    assert hpcdl.H2OFrame([1, 2, 3]).shape == (3, 1)  # a flat list is one column (H2O-3)
    padded = hpcdl.H2OFrame({"a": [1, 2, 3], "b": ["u"]})
    assert padded.nacnt() == [0, 2]
    arr = hpcdl.H2OFrame(np.array([[1, 2], [3, 4]]))
    assert arr.names == ["C1", "C2"] and arr.types == {"C1": "int", "C2": "int"}
    with pytest.warns(
        hpcdl.frame.FrameImportWarning,
        match=r"column 'b' \(real\): 1 value\(s\) that are not real read as NA, first 'x'",
    ):
        forced = hpcdl.H2OFrame({"a": [1, 10, 2], "b": ["1.5", "2", "x"]}, column_types={"a": "enum", "b": "numeric"})
    assert forced.types == {"a": "enum", "b": "real"} and forced.levels()[0] == ["1", "10", "2"]
    assert forced.nacnt() == [0, 1]
    assert hpcdl.H2OFrame(pd.DataFrame({"a": [1], "b": [2]}), column_names=["p", "q"], skipped_columns=[0]).names == [
        "q"
    ]


def test_h2oframe_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="duplicate column names"):
        hpcdl.H2OFrame([[1, 2]], column_names=["a", "a"])
    with pytest.raises(ValueError, match="column_types: unknown type 'blob'"):
        hpcdl.H2OFrame({"a": [1]}, column_types={"a": "blob"})
    with pytest.raises(ValueError, match="column_types: no column 'z'"):
        hpcdl.H2OFrame({"a": [1]}, column_types={"z": "enum"})
    with pytest.raises(TypeError, match="cannot make a frame of a set"):
        hpcdl.H2OFrame({1, 2})
    with pytest.raises(ValueError, match="give the data"):
        hpcdl.H2OFrame()


# -- selection -------------------------------------------------------------------------------
def test_column_and_row_selection_match_pandas(small_blocks):
    fr, df = prostate()
    assert fr["AGE"].names == ["AGE"] and same_values(fr["AGE"].as_data_frame()["AGE"], df["AGE"])
    assert fr[["PSA", "ID"]].as_data_frame().equals(df[["PSA", "ID"]])
    assert fr[0].names == ["ID"] and fr[-1].names == ["GLEASON"] and fr[2:].names == list(df.columns[2:])
    sub = fr[10:50:3, ["ID", "VOL"]].as_data_frame()
    assert sub["ID"].tolist() == df["ID"][10:50:3].tolist() and sub["VOL"].tolist() == df["VOL"][10:50:3].tolist()
    assert fr[[0, 5, 379], :]["ID"].as_data_frame()["ID"].tolist() == [1, 6, 380]
    assert fr[7, "PSA"] == df["PSA"][7] and fr[7, "AGE"] == df["AGE"][7] and isinstance(fr[7, "AGE"], int)
    assert fr[:, :] is fr
    mask = (fr["PSA"] > 10) & (fr["AGE"] < 70)
    ours = fr[mask].as_data_frame()
    theirs = df[(df["PSA"] > 10) & (df["AGE"] < 70)].reset_index(drop=True)
    assert ours.equals(theirs) and fr[~mask].nrow == fr.nrow - ours.shape[0]
    either = fr[(fr["DPROS"] == 1) | (fr["GLEASON"] >= 8)].as_data_frame()
    assert either["ID"].tolist() == df[(df["DPROS"] == 1) | (df["GLEASON"] >= 8)]["ID"].tolist()


def test_selection_errors_name_the_frame():
    fr, _ = prostate()
    with pytest.raises(FrameError, match=r"prostate\.csv: no column 'AGEE'"):
        fr["AGEE"]
    with pytest.raises(FrameError, match="column index 9 out of range"):
        fr[9]
    with pytest.raises(FrameError, match="a row mask must hold only 0, 1 and NA"):
        fr[fr["AGE"]]
    with pytest.raises(FrameError, match="the row mask has 3 rows, the frame 380"):
        fr[hpcdl.H2OFrame([1, 0, 1]) == 1]
    with pytest.raises(FrameError, match="row numbers must be increasing"):
        fr[[5, 2], :]
    with pytest.raises(FrameError, match="no single truth value"):
        bool(fr["AGE"] > 3)


def test_comparisons_treat_na_as_pandas_and_h2o_do():
    df = mixed()
    fr = hpcdl.H2OFrame(df)
    for op, ref in [("<", df.x < 0.3), ("<=", df.x <= 0.3), (">", df.x > 0.3), (">=", df.x >= 0.3)]:
        got = {"<": fr["x"] < 0.3, "<=": fr["x"] <= 0.3, ">": fr["x"] > 0.3, ">=": fr["x"] >= 0.3}[op]
        assert got.types == {"x": "int"} and got.as_data_frame()["x"].tolist() == ref.astype(int).tolist(), op
    assert (fr["x"] != 0.3).as_data_frame()["x"].tolist() == (df.x != 0.3).astype(int).tolist()  # NA != x is 1
    assert (fr["k"] == 2).sum() == (df.k == 2).sum()
    assert (0 < fr["k"]).as_data_frame()["k"].tolist() == (0 < df.k).astype(int).tolist()
    assert (fr["c"] == "a").as_data_frame()["c"].tolist() == (df.c == "a").astype(int).tolist()
    assert (fr["s"] != "lo").as_data_frame()["s"].tolist() == (df.s != "lo").astype(int).tolist()
    assert (fr["c"] == "zz").sum() == 0
    with pytest.raises(FrameError, match="enums compare only with == and !="):
        _ = fr["c"] < "b"
    levels = hpcdl.H2OFrame({"y": [0, 1, 1, 0]})
    levels["y"] = levels["y"].asfactor()
    assert (levels["y"] == 1).as_data_frame()["y"].tolist() == [0, 1, 1, 0]  # a number compares with its level


def test_logic_and_arithmetic_follow_h2o_semantics():
    fr = hpcdl.H2OFrame({"a": [1, 0, None, 1, None, 7], "b": [1, 1, 1, 0, 0, -2]})
    assert (fr["a"] & fr["b"]).as_data_frame(use_pandas=False)[1:] == [["1"], ["0"], [""], ["0"], ["0"], ["1"]]
    assert (fr["a"] | fr["b"]).as_data_frame(use_pandas=False)[1:] == [
        ["1"],
        ["1"],
        ["1"],
        ["1"],
        [""],
        ["0"],
    ]  # only 1 is true for | (H2O-3)
    a = np.array([1, 0, np.nan, 1, np.nan, 7.0])
    b = np.array([1, 1, 1, 0, 0, -2.0])
    with np.errstate(all="ignore"):
        expected = {
            "+": a + b,
            "-": a - b,
            "*": a * b,
            "/": a / b,
            "%": np.fmod(a, b),
            "**": a**b,
            "//": np.where(np.trunc(b) == 0, np.nan, np.trunc(np.trunc(a) / np.trunc(b))),
        }
    got = {
        "+": fr["a"] + fr["b"],
        "-": fr["a"] - fr["b"],
        "*": fr["a"] * fr["b"],
        "/": fr["a"] / fr["b"],
        "%": fr["a"] % fr["b"],
        "**": fr["a"] ** fr["b"],
        "//": fr["a"] // fr["b"],
    }
    for op, frame in got.items():
        np.testing.assert_array_equal(frame.as_numpy(), expected[op][:, None], err_msg=op)
    assert (fr["a"] + 1).types == {"a": "int"} and (fr["a"] / 2).types == {"a": "real"}
    np.testing.assert_array_equal((10 - fr["b"]).as_numpy()[:, 0], 10 - b)
    np.testing.assert_array_equal(abs(fr["b"]).as_numpy()[:, 0], np.abs(b))
    assert (~(fr["a"] > 0)).as_data_frame()["a"].tolist() == [0, 1, 1, 0, 1, 0]


# -- assignment --------------------------------------------------------------------------------
def test_assignment_changes_the_frame_not_its_file_nor_other_frames(small_blocks):
    fr, df = prostate()
    source_file, before = fr.path, fr.frame_id
    vol = fr["VOL"]
    vol[vol == 0] = float("nan")  # as H2O-3's prostate examples write it
    assert vol.nacnt() == [int((df.VOL == 0).sum())] and fr.nacnt() == [0] * 9  # vol changed, fr not
    fr["CAPSULE"] = fr["CAPSULE"].asfactor()
    assert fr.types["CAPSULE"] == "enum" and fr.levels()[1] == ["0", "1"]
    fr["VOL"] = vol
    assert fr.nacnt()[7] == int((df.VOL == 0).sum())
    fr["old"] = fr["AGE"] > 65
    assert fr.names[-1] == "old" and fr["old"].as_data_frame()["old"].tolist() == (df.AGE > 65).astype(int).tolist()
    fr[fr["AGE"] < 50, "PSA"] = -1
    want = df.PSA.where(df.AGE >= 50, -1)
    assert fr["PSA"].as_data_frame()["PSA"].tolist() == want.tolist()
    fr[10:20, "GLEASON"] = None
    assert fr["GLEASON"].isna().as_data_frame()["isNA(GLEASON)"].tolist() == [int(10 <= i < 20) for i in range(380)]
    fr[fr["DPROS"] == 4] = 0  # every column of those rows
    got = fr.as_data_frame()
    assert (got.loc[df.DPROS == 4, ["ID", "AGE", "RACE"]] == 0).all().all()
    assert got.loc[df.DPROS == 4, "CAPSULE"].astype(str).eq("0").all()  # an enum takes 0 as its level "0"
    fr["RACE"] = "white"
    assert fr.types["RACE"] == "enum" and fr.levels()[3] == ["white"]
    assert import_file(os.path.join(DATA, "prostate.csv")).frame_id == before and os.path.exists(source_file)
    assert fr.path != source_file and fr.display_name.endswith("prostate.csv")


def test_assignment_type_errors_are_clear():
    fr = hpcdl.H2OFrame({"x": [1.5, 2.5], "c": ["a", "b"]})
    with pytest.raises(FrameError, match="cannot assign enum values to a real column"):
        fr[fr["x"] > 2, "x"] = "high"
    with pytest.raises(FrameError, match="cannot assign a frame of 3 rows"):
        fr["y"] = hpcdl.H2OFrame([1, 2, 3])
    with pytest.raises(FrameError, match="cannot assign a list"):
        fr["y"] = [1, 2]
    fr[fr["x"] > 2, "c"] = "z"
    assert fr.levels()[1] == ["a", "b", "z"] and fr["c"].as_data_frame()["c"].tolist() == ["a", "z"]


def test_derived_and_replaced_scratch_files_are_removed():
    fr = hpcdl.H2OFrame({"x": [1.0, 2.0, 3.0]})
    first = fr.path
    col = fr["x"] > 1
    col_file = col.path
    fr["x"] = fr["x"] * 2
    assert not os.path.exists(first) and os.path.exists(fr.path)  # the replaced file goes at once
    del col
    gc.collect()
    assert not os.path.exists(col_file)


# -- conversions ------------------------------------------------------------------------------
def test_asfactor_asnumeric_isna_levels():
    fr = hpcdl.H2OFrame({"i": [10, 2, 1, -3, 2, None], "s": ["b", "a", "c", None, "a", "b"]})
    f = fr["i"].asfactor()
    assert f.levels() == [["-3", "1", "2", "10"]] and f.nlevels() == [4]  # numeric order, as H2O-3
    assert f.as_data_frame()["i"].astype(object).tolist()[:5] == ["10", "2", "1", "-3", "2"]
    assert f.asnumeric().as_data_frame(use_pandas=False)[1:] == [["10"], ["2"], ["1"], ["-3"], ["2"], [""]]
    assert fr["s"].asnumeric().as_data_frame(use_pandas=False)[1:] == [["1"], ["0"], ["2"], [""], ["0"], ["1"]]
    assert fr.isna().names == ["isNA(i)", "isNA(s)"]
    assert fr.isna().as_numpy().sum(axis=0).tolist() == [1, 1]
    assert fr.isfactor() == [False, True] and fr["s"].isfactor() is True
    with pytest.raises(FrameError, match="asfactor\\(\\): column 'x' is real"):
        hpcdl.H2OFrame({"x": [1.5]}).asfactor()
    bad = hpcdl.H2OFrame({"s": ["1", "x"]}, column_types=["enum"])
    with pytest.raises(FrameError, match="levels \\['x'\\] are not integers"):
        bad.asnumeric()


# -- H2O-3's random draws -----------------------------------------------------------------
M64 = (1 << 64) - 1


class JavaPCG:
    """water.util.RandomUtils.PCGRNG(seed, 1) with java.util.Random's nextFloat/nextDouble, one value at a time."""

    def set_seed(self, seed: int) -> None:
        self.state = 0
        self.next_int()
        self.state = (self.state + seed) & M64
        self.next_int()

    def next_int(self) -> int:
        old = self.state
        self.state = (old * 6364136223846793005 + 3) & M64
        xorshifted = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        return ((xorshifted >> rot) | (xorshifted << ((-rot) & 31))) & 0xFFFFFFFF

    def next_bits(self, bits: int) -> int:
        self.next_int()  # nextLong's high half
        return self.next_int() & ((1 << bits) - 1)

    def next_float(self) -> float:
        return self.next_bits(24) / float(1 << 24)

    def next_double(self) -> float:
        return ((self.next_bits(26) << 27) + self.next_bits(27)) * 2.0**-53


def test_runif_is_h2os_per_row_draw():
    from hpcdl.frame.rng import missing_cells, uniform_rows

    rng = JavaPCG()
    for seed, start in [(42, 0), (-7, 5), (2**63 - 1, 10**12), (1234, 77777)]:
        want = []
        for row in range(start, start + 300):
            rng.set_seed((seed + row) & M64)
            want.append(rng.next_float())
        np.testing.assert_array_equal(uniform_rows(seed, start, start + 300), want)
        for column, fraction in [(0, 0.1), (3, 0.5)]:
            want = []
            for row in range(start, start + 300):
                rng.set_seed((((seed + 1234 * column) & M64) ^ (1723 * row)) & M64)
                want.append(rng.next_double() < fraction)
            assert missing_cells(seed, column, start, start + 300, fraction).tolist() == want
    # printed by H2O-3 3.46.0.12: frame.runif(seed=42) rows 0..4
    np.testing.assert_allclose(
        uniform_rows(42, 0, 5),
        [0.5137835741043091, 0.6984807252883911, 0.25572890043258667, 0.26042991876602173, 0.2594503164291382],
        rtol=0,
        atol=0,
    )
    fr, _ = prostate()
    r = fr.runif(seed=42)
    assert r.names == ["rnd"] and r.as_numpy()[:, 0].tolist() == uniform_rows(42, 0, 380).tolist()


def test_split_frame_selects_h2os_rows(small_blocks):
    fr, df = prostate()
    parts = fr.split_frame(ratios=[0.6, 0.2], seed=42)
    ids = [p["ID"].as_data_frame()["ID"].tolist() for p in parts]
    assert [len(i) for i in ids] == [234, 67, 79]  # H2O-3 3.46.0.12, same frame, ratios and seed
    assert ids[1][:6] == [2, 13, 14, 16, 19, 20] and ids[2][:6] == [11, 15, 23, 24, 32, 33]  # printed by H2O-3
    u = fr.runif(seed=42).as_numpy()[:, 0]
    want = [df.ID[u <= 0.6], df.ID[(u > 0.6) & (u <= 0.8)], df.ID[u > 0.8]]
    assert ids == [w.tolist() for w in want]
    train, test = fr.split_frame(ratios=[0.75], seed=1)
    assert train.nrow + test.nrow == 380 and set(train["ID"].as_numpy()[:, 0]).isdisjoint(test["ID"].as_numpy()[:, 0])
    assert train.as_data_frame().equals(df[fr.runif(seed=1).as_numpy()[:, 0] <= 0.75].reset_index(drop=True))
    with pytest.raises(ValueError, match="add up to 1 or more"):
        fr.split_frame(ratios=[0.5, 0.5])


def test_draws_without_a_seed_refuse_under_mpi(monkeypatch):
    import hpcdl.comm

    class TwoRanks:
        size = 2

    monkeypatch.setattr(hpcdl.comm, "world", lambda: TwoRanks())
    fr = hpcdl.H2OFrame({"x": [1.0, 2.0]})
    with pytest.raises(FrameError, match="without a seed under MPI would draw other rows on each of the 2 ranks"):
        fr.split_frame(ratios=[0.5])
    assert len(fr.split_frame(ratios=[0.5], seed=3)) == 2


def test_insert_missing_values_picks_h2os_cells():
    fr = hpcdl.H2OFrame({"a": list(range(20)), "b": [i / 2 for i in range(20)]})
    assert fr.insert_missing_values(fraction=0.3, seed=123) is fr
    na = fr.isna().as_numpy()
    # printed by H2O-3 3.46.0.12 for this frame, fraction and seed
    assert np.nonzero(na[:, 0])[0].tolist() == [0, 6, 8] and np.nonzero(na[:, 1])[0].tolist() == [0, 12, 14, 15, 17]
    with pytest.raises(ValueError, match="fraction 2 is not between 0 and 1"):
        fr.insert_missing_values(fraction=2)


# -- combining, renaming ---------------------------------------------------------------------
def test_cbind_rbind_drop_rename_match_pandas():
    df = mixed()
    fr = hpcdl.H2OFrame(df)
    both = fr[["x", "k"]].cbind(fr[["k", "c"]])
    assert both.names == ["x", "k", "k0", "c"]
    assert both.as_data_frame()["k0"].tolist() == df.k.tolist()
    stacked = fr.rbind(fr[fr["k"] > 0])
    want = pd.concat([df, df[df.k > 0]], ignore_index=True)
    assert stacked.nrow == len(want) and same_values(stacked.as_data_frame()["x"], want.x)
    assert same_values(stacked.as_data_frame()["s"].astype(object), want.s)
    other = hpcdl.H2OFrame({"x": [0.5], "k": [9], "c": ["z"], "s": ["lo"]})
    assert fr.rbind(other).levels()[2] == ["a", "b", "c", "z"]
    assert fr.drop(["k", "s"]).names == ["x", "c"] and fr.drop(0).names == ["k", "c", "s"]
    assert fr.drop([0, 1], axis=0).nrow == len(df) - 2
    with pytest.raises(FrameError, match="rbind: columns"):
        fr.rbind(fr[["x"]])
    assert fr.set_names(["A", "B", "C", "D"]) is fr and fr.names == ["A", "B", "C", "D"]
    fr.names = ["x", "k", "c", "s"]
    fr.columns = ["x", "k", "c", "s2"]
    fr.rename(columns={"s2": "s"})
    assert fr.names == list(df.columns) and fr.as_data_frame()["x"].equals(df.x)
    popped = fr.pop("k")
    assert popped.names == ["k"] and fr.names == ["x", "c", "s"]


# -- looking at frames ------------------------------------------------------------------------
def test_head_tail_keep_integers_integer():
    fr, df = prostate()
    assert (
        fr.head().equals(df.head(10)) and fr.tail(4).equals(df.tail(4)) and fr.head(3, cols=2).equals(df.iloc[:3, :2])
    )
    assert all(fr.head()[c].dtype == np.int64 for c in ("ID", "CAPSULE", "AGE", "GLEASON"))
    fr[fr["AGE"] < 60, "AGE"] = None
    assert str(fr.head(400)["AGE"].dtype) == "Int64" and fr.head(400)["AGE"].isna().sum() == (df.AGE < 60).sum()
    iris = import_file(os.path.join(DATA, "iris_wheader.csv"))
    assert isinstance(iris.head()["class"].dtype, pd.CategoricalDtype) and iris.head(1)["class"][0] == "Iris-setosa"


def test_reductions_match_pandas():
    df = mixed()
    fr = hpcdl.H2OFrame(df)
    np.testing.assert_allclose(fr[["x", "k"]].mean(), [df.x.mean(), df.k.mean()])
    assert math.isnan(fr.mean(skipna=False)[0]) and math.isnan(fr.mean()[2])
    np.testing.assert_allclose(fr[["x", "k"]].sd(na_rm=True), [df.x.std(), df.k.std()])
    assert math.isnan(fr["x"].sd()[0])  # NA present and na_rm=False, as H2O-3
    assert fr["k"].min() == df.k.min() and fr["k"].max() == df.k.max() and math.isnan(fr[["x", "k"]].min())
    assert fr["k"].sum() == df.k.sum() and fr["x"].sum() == pytest.approx(df.x.sum())
    assert fr.nacnt() == df.isna().sum().tolist()


def test_describe_prints_h2os_layout(capsys):
    fr, df = prostate()
    assert fr.describe() is None
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["Rows:380", "Cols:9", ""]
    table = {line.split()[0]: line.split()[1:] for line in out[4:11]}
    assert table["type"] == ["int", "int", "int", "int", "int", "int", "real", "real", "int"]
    assert [float(v) for v in table["mean"]] == pytest.approx(df.mean().tolist())
    assert [float(v) for v in table["sigma"]] == pytest.approx(df.std().tolist())
    assert [float(v) for v in table["mins"]] == df.min().tolist() and [
        float(v) for v in table["maxs"]
    ] == df.max().tolist()
    assert [int(v) for v in table["zeros"]] == (df == 0).sum().tolist()
    assert [int(v) for v in table["missing"]] == [0] * 9
    assert out[11].split()[:3] == ["0", "1.0", "0.0"] and out[-1] == "[380 rows x 9 columns]"
    print(fr["AGE"])
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].split() == ["AGE"] and shown[1].split() == ["0", "65.0"] and shown[-1] == "[380 rows x 1 columns]"


def test_frames_train_and_predict():
    iris = hpcdl.H2OFrame(pd.read_csv(os.path.join(DATA, "iris_wheader.csv")))
    train, valid = iris.split_frame(ratios=[0.8], seed=3)
    model = hpcdl.deeplearning(
        x=iris.names[:4],
        y="class",
        training_frame=train,
        validation_frame=valid,
        hidden=[5],
        epochs=1,
        seed=1,
        reproducible=True,
    )
    preds = model.predict(valid)
    assert preds.nrow == valid.nrow and preds.names[0] == "predict"
