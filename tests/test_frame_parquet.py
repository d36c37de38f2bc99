"""Parquet import: files written by pyarrow, read back through import_file and compared with
pyarrow/pandas reading the same file; H2O-3's type rules; clear errors naming the file."""

import datetime as dt
import decimal
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import hpcdl
from hpcdl.frame import FrameError, FrameImportWarning, import_file


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("HPCDL_FRAME_DIR", str(d))
    return d


def write(tmp_path, table, name="t.parquet", **kw):
    path = str(tmp_path / name)
    pq.write_table(table, path, **kw)
    return path


def same(values: pd.Series, reference) -> bool:
    a, b = list(values.astype(object)), list(pd.Series(reference).astype(object))
    return len(a) == len(b) and all((pd.isna(u) and pd.isna(v)) or u == v for u, v in zip(a, b))


def test_parquet_types_and_values_match_pyarrow(tmp_path):
    n = 1000
    rng = np.random.default_rng(0)
    ints = rng.integers(-50, 50, size=n)
    reals = rng.normal(size=n)
    whole = np.floor(reals * 10)
    null = rng.random(n) < 0.1
    stamps = pd.Timestamp("2021-03-04 05:06:07.891", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**6, n), "s")
    table = pa.table(
        {
            "i64": pa.array(ints, mask=null),
            "u8": pa.array(np.abs(ints).astype(np.uint8)),
            "f": pa.array(reals, mask=null),
            "whole": pa.array(whole),  # floats that are all whole numbers: int, as in a CSV
            "dec": pa.array([decimal.Decimal(int(v)) / 4 for v in ints], pa.decimal128(10, 2)),
            "b": pa.array(ints > 0, mask=null),
            "s": pa.array(np.where(ints % 3 == 0, "fizz", "buzz").astype(object), mask=null),
            "cat": pa.array(pd.Categorical(np.where(ints > 10, "hi", "lo"), categories=["lo", "mid", "hi"])),
            "dint": pa.array(np.abs(ints) % 4).dictionary_encode(),
            "ts": pa.array(stamps),
            "naive": pa.array(stamps.tz_localize(None).astype("datetime64[s]")),
            "d": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=int(k)) for k in np.abs(ints)], pa.date32()),
            "tod": pa.array([dt.time(h % 24, 30) for h in np.abs(ints)], pa.time32("ms")),
            "dates_text": pa.array([f"2020-02-{1 + abs(int(k)) % 28:02d}" for k in ints]),
            "empty": pa.nulls(n),
        }
    )
    path = write(tmp_path, table, row_group_size=97)  # row groups and read batches cross each other
    fr = import_file(path)
    assert fr.types == {
        "i64": "int",
        "u8": "int",
        "f": "real",
        "whole": "int",
        "dec": "real",
        "b": "enum",
        "s": "enum",
        "cat": "enum",
        "dint": "int",  # Parquet keeps dictionary types of text only: integer dictionaries read as integers
        "ts": "time",
        "naive": "time",
        "d": "time",
        "tod": "int",
        "dates_text": "time",
        "empty": "real",
    }
    ref = pq.read_table(path).to_pandas()
    got = fr.as_data_frame()
    for col in ("i64", "u8", "f", "whole"):
        assert same(got[col], ref[col]), col
    np.testing.assert_allclose(got["dec"], ref["dec"].astype(float))
    assert same(got["b"], ref["b"].map({True: "True", False: "False"}))
    assert same(got["s"], ref["s"]) and same(got["cat"], ref["cat"]) and same(got["dint"], ref["dint"])
    assert fr.domains["cat"] == ["hi", "lo"] and fr.domains["b"] == ["False", "True"]  # present levels, sorted
    ms = (ref["ts"] - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(milliseconds=1)
    assert fr.column("ts").tolist() == ms.tolist()
    assert same(got["naive"], ref["naive"]) and same(got["d"], pd.to_datetime(ref["d"]))
    assert fr.column("tod").tolist() == [((abs(int(k)) % 24) * 3600 + 1800) * 1000 for k in ints]
    assert same(got["dates_text"], pd.to_datetime(ref["dates_text"]))
    assert fr.nacnt()[-1] == n and fr.nrow == n


def test_col_types_force_through_the_text_rules(tmp_path):
    table = pa.table(
        {"code": [10, 2, 10, 7], "num": ["1.5", "2", "x", None], "when": ["2020-01-02", "nope", None, "2020-01-03"]}
    )
    path = write(tmp_path, table)
    with pytest.warns(FrameImportWarning) as caught:
        fr = import_file(path, col_types={"code": "enum", "num": "numeric", "when": "time"})
    assert fr.types == {"code": "enum", "num": "real", "when": "time"}
    assert fr.domains["code"] == ["10", "2", "7"] and fr.as_data_frame()["code"].astype(str).tolist() == [
        "10",
        "2",
        "10",
        "7",
    ]
    assert np.isnan(fr.column("num")).tolist() == [False, False, True, True]
    message = str(caught[0].message)
    assert (
        message.startswith(f"{path}: 2 value(s) that do not fit")
        and "column 'num' (real): 1, first at row 3: 'x'" in message
    )
    assert "column 'when' (time): 1, first at row 2: 'nope'" in message


def test_parquet_goes_through_the_frame_cache(tmp_path, cache, frame_writes):
    path = write(tmp_path, pa.table({"a": [1, 2, 3]}))
    first = import_file(path)
    again = import_file(path)
    assert again.path == first.path and len(frame_writes) == 1 and os.path.dirname(first.path) == str(cache)
    assert os.path.basename(first.path).startswith("t-")  # the stem without .parquet
    os.utime(path, ns=(0, 10**18))
    assert import_file(path).path != first.path and len(frame_writes) == 2  # a changed file is read again
    out = tmp_path / "out.h5"
    hpcdl.import_file(path, destination=str(out))
    with pytest.raises(Exception, match="file exists; use --force"):
        hpcdl.import_file(path, destination=str(out))


def test_bad_parquet_files_are_clear_errors(tmp_path):
    good = write(tmp_path, pa.table({"a": list(range(1000))}))
    data = open(good, "rb").read()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FrameError, match=rf"^{cut}: not a readable Parquet file"):
        import_file(str(cut))
    nested = write(tmp_path, pa.table({"ok": [1, 2], "xs": pa.array([[1, 2], [3]])}), "nested.parquet")
    with pytest.raises(FrameError, match=r"nested\.parquet: column 'xs': Parquet type list<.*int64> is not supported"):
        import_file(nested)
    empty = write(tmp_path, pa.table({"a": pa.array([], pa.int64())}), "empty.parquet")
    with pytest.raises(FrameError, match=r"empty\.parquet: no data rows"):
        import_file(empty)
    dup = write(tmp_path, pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"]), "dup.parquet")
    with pytest.raises(FrameError, match=r"dup\.parquet: duplicate column names \['a'\]"):
        import_file(dup)
    with pytest.raises(FrameError, match=r"t\.parquet: is a Parquet file; options \['sep'\] do not apply"):
        import_file(good, sep=";")
    csv = tmp_path / "really.csv"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(FrameError, match=r"really\.csv: not a readable Parquet file"):
        import_file(str(csv), parse_type="PARQUET")
    with pytest.raises(FrameError, match="parse_type 'XLS' is not one of"):
        import_file(str(csv), parse_type="XLS")
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".h5")]  # nothing half-written


def test_cli_imports_parquet(tmp_path):
    path = write(tmp_path, pa.table({"a": [1, 2, 3], "b": ["x", "y", "x"]}))
    env = dict(os.environ, HPCDL_FRAME_DIR=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "hpcdl.cli", "import", path, "--out", str(tmp_path / "t.h5"), "--col-type", "a=enum"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{tmp_path / 't.h5'}: 3 rows x 2 columns"
    assert hpcdl.get_frame(str(tmp_path / "t.h5")).types == {"a": "enum", "b": "enum"}
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    r = subprocess.run([sys.executable, "-m", "hpcdl.cli", "import", str(bad)], capture_output=True, text=True, env=env)
    assert (
        r.returncode == 1
        and f"{bad}: not a readable Parquet file" in r.stderr
        and len(r.stderr.strip().splitlines()) == 1
    )
