"""Frame summaries against numpy and collections.Counter."""

import collections

import numpy as np
import pandas as pd
import pytest

from hpcdl.frame import format_summary, frame_from_numpy, frame_summary, import_csv


def test_summary_numbers_and_levels(tmp_path):
    rng = np.random.default_rng(3)
    n = 5000
    x = rng.normal(10, 3, n)
    x[rng.random(n) < 0.1] = np.nan
    k = rng.integers(-5, 50, n).astype(np.float64)
    words = np.array([f"lvl{i}" for i in rng.zipf(1.6, n) % 12], dtype=object)
    words[rng.random(n) < 0.05] = None
    t = pd.to_datetime(rng.integers(0, 10**12, n), unit="ms")
    df = pd.DataFrame(
        {"x": x, "k": k, "w": pd.Categorical(words), "t": t, "c": np.full(n, 2.0), "na": np.full(n, np.nan)}
    )
    f = frame_from_numpy(df, tmp_path / "s.h5")
    s = frame_summary(f)
    assert s["nrow"] == n and s["ncol"] == 6
    cols = {c["name"]: c for c in s["columns"]}
    for name, v in (("x", x), ("k", k), ("t", t.to_numpy().astype("datetime64[ms]").astype(np.int64).astype(float))):
        c = cols[name]
        q1, med, q3 = np.nanpercentile(v, [25, 50, 75])
        assert c["min"] == np.nanmin(v) and c["max"] == np.nanmax(v)
        assert c["q1"] == pytest.approx(q1) and c["median"] == pytest.approx(med) and c["q3"] == pytest.approx(q3)
        assert c["mean"] == pytest.approx(np.nanmean(v)) and c["sd"] == pytest.approx(np.nanstd(v, ddof=1))
        assert c["na_count"] == int(np.isnan(v).sum())
    w = cols["w"]
    counter = collections.Counter(v for v in words if v is not None)
    assert w["na_count"] == sum(v is None for v in words) and w["cardinality"] == len(counter)
    top = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:7]
    assert [tuple(lc) for lc in w["levels"]] == top
    assert w["other_count"] == sum(counter.values()) - sum(c for _, c in top)
    assert cols["c"].get("constant") is True and cols["na"]["bad"] == "all values missing"
    assert f.summary() == s
    text = format_summary(s)
    assert "lvl" in text and "column 'na': all values missing" in text and text.count("\n") >= 7


def test_summary_of_imported_csv(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("a,b\n1,x\n2,y\n,x\n4,x\n")
    s = frame_summary(import_csv(str(p), tmp_path / "a.h5"))
    a, b = s["columns"]
    assert (a["min"], a["median"], a["max"], a["na_count"]) == (1.0, 2.0, 4.0, 1)
    assert b["levels"] == [["x", 3], ["y", 1]]
