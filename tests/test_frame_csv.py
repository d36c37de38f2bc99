"""CSV import: parse setup guesses, type rules, round trips against Python's csv module, bad input."""

import csv
import datetime as dt
import gzip
import math
import os
import random
import re

import numpy as np
import pytest

from hpcdl.frame import FrameError, FrameImportWarning, FrameWriter, get_frame, import_csv, import_file

HERE = os.path.dirname(os.path.abspath(__file__))
WEATHER = os.path.join(HERE, os.pardir, "hpcdl", "datasets", "weather.csv")
DATA = os.path.join(HERE, "data")
NA = {"", "NA", "N/A", "?", "NaN", "nan", "null"}


def write(tmp_path, name, text, gz=False):
    p = tmp_path / name
    if gz:
        with gzip.open(p, "wt", newline="") as fh:
            fh.write(text)
    else:
        p.write_text(text, newline="")
    return str(p)


def decoded(frame):
    """Column name -> list of Python values (levels as str, NA as None, numbers as float)."""
    out = {}
    for n, t in zip(frame.names, list(frame.types.values())):
        v = frame.column(n)
        if t == "enum":
            dom = frame.domains[n]
            out[n] = [dom[c] if c >= 0 else None for c in v]
        else:
            out[n] = [None if math.isnan(x) else float(x) for x in v]
    return out


def expected_from_csv(path, types, delimiter=",", na=NA):
    """What the frame must hold, computed with Python's csv module and the documented rules."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as fh:
        rows = [r for r in csv.reader(fh, delimiter=delimiter) if r]
    names, rows = rows[0], rows[1:]
    out = {}
    for j, (n, t) in enumerate(zip(names, types)):
        vals = []
        for r in rows:
            s = r[j].strip()
            if s in na:
                vals.append(None)
            elif t == "enum":
                vals.append(s)
            elif t == "time":
                d = dt.datetime.strptime(s, "%Y-%m-%d").replace(tzinfo=dt.UTC)
                vals.append(d.timestamp() * 1000.0)
            else:
                vals.append(float(s))
        out[n] = vals
    return names, out


def test_quoted_fields_with_separators_and_quotes(tmp_path):
    text = 'name,comment,x\n"Smith, J.","said ""hi""; left",1\nDoe,"a|b\tc",2\n"",plain,3\n'
    f = import_csv(write(tmp_path, "q.csv", text), tmp_path / "q.h5")
    assert f.names == ["name", "comment", "x"]
    assert list(f.types.values()) == ["enum", "enum", "int"]
    d = decoded(f)
    assert d["name"] == ["Smith, J.", "Doe", None]
    assert d["comment"] == ['said "hi"; left', "a|b\tc", "plain"]
    assert d["x"] == [1.0, 2.0, 3.0]
    assert f.domains["comment"] == sorted(['said "hi"; left', "a|b\tc", "plain"])


@pytest.mark.parametrize("sep", [";", "\t", "|", " "])
def test_separator_guess(tmp_path, sep):
    rows = [["a", "b", "c"], ["1.5", "x", "7"], ["2.5", "y", "8"], ["3", "x", "NA"]]
    p = write(tmp_path, "s.txt", "".join(sep.join(r) + "\n" for r in rows))
    f = import_csv(p, tmp_path / "s.h5")
    assert f.names == ["a", "b", "c"]
    assert list(f.types.values()) == ["real", "enum", "int"]
    d = decoded(f)
    assert d["a"] == [1.5, 2.5, 3.0] and d["b"] == ["x", "y", "x"] and d["c"] == [7.0, 8.0, None]
    # forcing the separator gives the same
    g = import_csv(p, tmp_path / "s2.h5", sep=sep)
    assert decoded(g) == d


def test_na_spellings(tmp_path):
    spellings = ["", "NA", "N/A", "?", "NaN", "nan", "null", " NA "]
    text = "x,y\n" + "".join(f"{s},{s}\n" for s in spellings) + "1.5,a\n"
    f = import_csv(write(tmp_path, "na.csv", text), tmp_path / "na.h5")
    assert list(f.types.values()) == ["real", "enum"]
    d = decoded(f)
    assert d["x"] == [None] * len(spellings) + [1.5]
    assert d["y"] == [None] * len(spellings) + ["a"]
    assert f.stats["x"]["na_count"] == len(spellings)
    # extra NA strings (list) add to the defaults
    text2 = "x,y\n-999,a\n2,missing\n3,b\nNA,NA\n"
    p2 = write(tmp_path, "na2.csv", text2)
    g = import_csv(p2, tmp_path / "na2.h5", na_strings=["-999", "missing"])
    assert decoded(g) == {"x": [None, 2.0, 3.0, None], "y": ["a", None, "b", None]}
    # a dict replaces the defaults for that column only ("NA" becomes a level of y)
    h = import_csv(p2, tmp_path / "na3.h5", na_strings={"y": ["missing"]})
    assert decoded(h)["y"] == ["a", None, "b", "NA"]
    assert decoded(h)["x"] == [-999.0, 2.0, 3.0, None]


def test_mixed_column_types_and_int_vs_real(tmp_path):
    # m: 3 numbers and 1 text -> numeric (H2O-3's majority), "abc" read as NA with a warning;
    # e: 3 texts and 2 numbers -> enum, the numbers kept as levels
    text = "m,i,r,big,e\n1,1,1,1e3,a\n2,-2,2.5,2E3,1\nabc,3,3,3.0,b\n10,,4,4,2\n11,5,5,5,a\n"
    with pytest.warns(FrameImportWarning) as w:
        f = import_csv(write(tmp_path, "m.csv", text), tmp_path / "m.h5")
    assert list(f.types.values()) == ["int", "int", "real", "int", "enum"]
    assert f.domains["e"] == ["1", "2", "a", "b"]  # sorted strings, like H2O
    d = decoded(f)
    assert d["m"] == [1.0, 2.0, None, 10.0, 11.0]
    assert d["e"] == ["a", "1", "b", "2", "a"]
    assert d["i"] == [1.0, -2.0, 3.0, None, 5.0]
    assert d["big"] == [1000.0, 2000.0, 3.0, 4.0, 5.0]
    assert [str(x.message) for x in w] == [
        f"{tmp_path / 'm.csv'}: 1 value(s) that do not fit their column's type read as NA; "
        "column 'm' (int): 1, first at line 4: 'abc'"
    ]


def test_time_column(tmp_path):
    vals = ["2007-11-6", "2007-11-06 10:00:00", "2008-02-29T23:59:59.5", "1969-12-31", "NA", "2000/1/2 03:04"]
    text = "t,v\n" + "".join(f"{s},{k}\n" for k, s in enumerate(vals))
    f = import_csv(write(tmp_path, "t.csv", text), tmp_path / "t.h5")
    assert list(f.types.values()) == ["time", "int"]
    utc = dt.UTC
    want = [
        dt.datetime(2007, 11, 6, tzinfo=utc),
        dt.datetime(2007, 11, 6, 10, tzinfo=utc),
        dt.datetime(2008, 2, 29, 23, 59, 59, 500000, tzinfo=utc),
        dt.datetime(1969, 12, 31, tzinfo=utc),
        None,
        dt.datetime(2000, 1, 2, 3, 4, tzinfo=utc),
    ]
    assert decoded(f)["t"] == [None if w is None else w.timestamp() * 1000.0 for w in want]
    # an impossible date is text: as many texts as dates make an enum; forcing time turns it into NA
    p = write(tmp_path, "t2.csv", "t\n2007-13-01\n2007-11-06\n")
    assert list(import_csv(p, tmp_path / "t2.h5", header=True).types.values()) == ["enum"]
    with pytest.warns(FrameImportWarning, match="column 't' \\(time\\): 1, first at line 2: '2007-13-01'"):
        g = import_csv(p, tmp_path / "t3.h5", header=True, col_types={"t": "time"})
    nov6 = dt.datetime(2007, 11, 6, tzinfo=utc).timestamp() * 1000.0
    assert decoded(g)["t"] == [None, nov6]
    # more dates than texts: a time column, the text read as NA
    p = write(tmp_path, "t4.csv", "t\n2007-11-06\nsoon\n2007-11-06\n")
    with pytest.warns(FrameImportWarning, match="column 't' \\(time\\): 1, first at line 3: 'soon'"):
        h = import_csv(p, tmp_path / "t4.h5", header=True)
    assert list(h.types.values()) == ["time"] and decoded(h)["t"] == [nov6, None, nov6]


def test_header_detection(tmp_path):
    numeric = write(tmp_path, "n.csv", "1,2\n3,4\n")
    f = import_csv(numeric, tmp_path / "n.h5")
    assert f.names == ["C1", "C2"] and f.nrow == 2
    g = import_csv(numeric, tmp_path / "n2.h5", header=True)
    assert g.names == ["1", "2"] and g.nrow == 1
    # strings over numbers -> header
    hdr = write(tmp_path, "h.csv", "x,label\n1,a\n2,b\n")
    assert import_csv(hdr, tmp_path / "h.h5").names == ["x", "label"]
    with pytest.warns(FrameImportWarning, match="column 'C1' \\(int\\): 1, first at line 1: 'x'"):
        h2 = import_csv(hdr, tmp_path / "h2.h5", header=False)
    assert h2.names == ["C1", "C2"] and list(h2.types.values()) == ["int", "enum"] and h2.nrow == 3
    assert decoded(h2)["C1"] == [None, 1.0, 2.0]
    # all strings: header if its values never occur below
    assert import_csv(write(tmp_path, "s.csv", "color,size\nred,big\nblue,small\n"), tmp_path / "s.h5").names == [
        "color",
        "size",
    ]
    assert import_csv(write(tmp_path, "s2.csv", "red,big\nblue,small\nred,small\n"), tmp_path / "s2.h5").names == [
        "C1",
        "C2",
    ]
    # a string over dates -> header
    assert import_csv(write(tmp_path, "d.csv", "when\n2007-11-06\n2007-11-07\n"), tmp_path / "d.h5").names == ["when"]
    # empty header fields get C<j>
    assert import_csv(write(tmp_path, "e.csv", "a,,c\n1,2,3\n"), tmp_path / "e.h5").names == ["a", "C2", "c"]


def test_gzip_equals_plain(tmp_path):
    text = "a,b,c\n1,x,2007-01-02\n2.5,y,2007-01-03\nNA,x,NA\n"
    plain = import_csv(write(tmp_path, "g.csv", text), tmp_path / "plain.h5")
    gz = import_csv(write(tmp_path, "g.csv.gz", text, gz=True), tmp_path / "gz.h5")
    assert list(gz.types.values()) == list(plain.types.values()) == ["real", "enum", "time"]
    assert decoded(gz) == decoded(plain)
    via_dispatch = import_file(str(tmp_path / "g.csv.gz"), str(tmp_path / "d.h5"))
    assert decoded(via_dispatch) == decoded(plain)


def _random_csv(path, nrow, seed=0):
    rng = random.Random(seed)
    levels = ["alpha", "beta", "gamma, with comma", 'quote "q"', "delta"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["real", "int", "cat", "day", "sparse"])
        for k in range(nrow):
            w.writerow(
                [
                    "NA" if rng.random() < 0.05 else repr(rng.gauss(0, 1e3)),
                    "" if rng.random() < 0.05 else str(rng.randint(-(10**6), 10**6)),
                    "?" if rng.random() < 0.05 else rng.choice(levels),
                    "NA"
                    if rng.random() < 0.05
                    else f"20{rng.randint(0, 30):02d}-{rng.randint(1, 12)}-{rng.randint(1, 28)}",
                    "1.25" if k == nrow - 1 else "NA",
                ]
            )


def test_round_trip_against_csv_module_and_small_chunks(tmp_path):
    p = str(tmp_path / "r.csv")
    _random_csv(p, 3000)
    types = ["real", "int", "enum", "time", "real"]
    f = import_csv(p, tmp_path / "r.h5")
    assert list(f.types.values()) == types and f.nrow == 3000
    names, want = expected_from_csv(p, types)
    got = decoded(f)
    for n in names:
        assert got[n] == want[n], n
    assert f.domains["cat"] == sorted({v for v in want["cat"] if v is not None})
    # bounded memory: blocks far smaller than the file give the identical frame
    assert os.path.getsize(p) > 50 * 2048
    small = import_csv(p, tmp_path / "r_small.h5", chunk_bytes=2048)
    assert list(small.types.values()) == types and decoded(small) == got and small.domains == f.domains


def test_weather(tmp_path):
    f = import_csv(WEATHER, tmp_path / "weather.h5")
    with open(WEATHER, newline="") as fh:
        rows = list(csv.reader(fh))
    names, data = rows[0], rows[1:]
    assert f.names == names and f.nrow == len(data)
    for j, n in enumerate(names):
        col = [r[j] for r in data]
        present = [s for s in col if s not in NA]
        nums = []
        for s in present:
            try:
                nums.append(float(s))
            except ValueError:
                nums = None
                break
        if n == "Date":
            want_type = "time"
        elif nums is None:
            want_type = "enum"
        else:
            want_type = "int" if all(x == int(x) for x in nums) else "real"
        assert f.type(n) == want_type, n
        assert f.stats[n]["na_count"] == len(col) - len(present), n
        if want_type == "enum":
            assert f.domains[n] == sorted(set(present))
        elif want_type in ("int", "real"):
            assert f.stats[n]["min"] == min(nums) and f.stats[n]["max"] == max(nums)
            assert f.stats[n]["mean"] == pytest.approx(np.mean(nums))
    assert f.column("Date", 0, 1)[0] == dt.datetime(2007, 11, 6, tzinfo=dt.UTC).timestamp() * 1000
    assert f.head(1)["Date"][0] == dt.datetime(2007, 11, 6)  # head() shows times as (naive UTC) datetimes


def test_col_types_forcing(tmp_path):
    p = write(tmp_path, "c.csv", "a,b,c\n1,2.5,x\n0,3.5,7\n1,oops,9\n")
    with pytest.warns(FrameImportWarning, match="column 'b' \\(real\\): 1, first at line 4: 'oops'"):
        f = import_csv(p, tmp_path / "c.h5", col_types={"a": "enum", "b": "numeric", "c": "factor"})
    assert list(f.types.values()) == ["enum", "real", "enum"]
    d = decoded(f)
    assert d["a"] == ["1", "0", "1"] and f.domains["a"] == ["0", "1"]
    assert d["b"] == [2.5, 3.5, None]  # an unparsable value in a forced numeric column is NA
    with pytest.warns(FrameImportWarning):
        g = import_csv(p, tmp_path / "c2.h5", col_types=["int", None, "string"])
    assert list(g.types.values()) == ["int", "real", "enum"]
    with pytest.warns(FrameImportWarning, match="column 'c' \\(int\\): 1, first at line 2: 'x'"):
        h = import_csv(p, tmp_path / "c2b.h5", col_types={"b": "enum"})
    assert list(h.types.values()) == ["int", "enum", "int"] and decoded(h)["b"] == ["2.5", "3.5", "oops"]
    h = import_csv(write(tmp_path, "c3.csv", "a\n1.5\n2\n"), tmp_path / "c3.h5", col_types={"a": "int"})
    assert list(h.types.values()) == ["real"]  # forced numeric that is not integral stays real
    with pytest.raises(FrameError, match="no column 'zz'"):
        import_csv(p, tmp_path / "x.h5", col_types={"zz": "enum"})
    with pytest.raises(FrameError, match="unknown type"):
        import_csv(p, tmp_path / "x.h5", col_types={"a": "blob"})
    with pytest.raises(FrameError, match="2 types for 3 columns"):
        import_csv(p, tmp_path / "x.h5", col_types=["enum", "enum"])


def test_all_na_column_is_kept(tmp_path):
    f = import_csv(write(tmp_path, "a.csv", "x,empty\n1,NA\n2,\n3,?\n"), tmp_path / "a.h5")
    assert list(f.types.values()) == ["int", "real"]
    assert np.isnan(f.column("empty")).all() and f.stats["empty"]["na_count"] == 3
    assert f.summary()["columns"][1]["bad"] == "all values missing"


def test_default_destination(tmp_path, monkeypatch):
    monkeypatch.setenv("HPCDL_FRAME_DIR", str(tmp_path / "frames"))
    f = import_csv(write(tmp_path, "data.csv.gz", "a\n1\n2\n", gz=True))
    assert os.path.dirname(f.path) == str(tmp_path / "frames")
    assert re.fullmatch(r"data-[0-9a-f]{16}\.h5", os.path.basename(f.path))  # the cache: tests/test_frame_cache.py
    # a directory as destination
    g = import_csv(str(tmp_path / "data.csv.gz"), tmp_path)
    assert g.path == str(tmp_path / "data.h5")
    # reopening an .h5 through import_file / get_frame
    assert import_file(g.path).nrow == 2 and get_frame(g.path).names == ["a"]
    with pytest.raises(FrameError, match="not an hpcdl frame"):
        get_frame(str(tmp_path / "data.csv.gz"))


# -- bad input: one FrameError naming the file (and the line where known) --------------
def test_ragged_rows_name_the_line(tmp_path):
    lines = ["a,b,c"] + [f"{k},{k},{k}" for k in range(1, 16)] + ["16,16"] + ["17,17,17"]
    p = write(tmp_path, "rag.csv", "\n".join(lines) + "\n")
    with pytest.raises(FrameError) as e:
        import_csv(p, tmp_path / "rag.h5")
    assert str(e.value) == f"{p}: line 17: expected 3 fields, found 2"
    assert not (tmp_path / "rag.h5").exists()
    # too many fields, deep in a gzip file read in small blocks
    lines = ["a,b"] + [f"{k},{k}" for k in range(1, 2000)] + ["1,2,3"]
    p = write(tmp_path, "rag.csv.gz", "\n".join(lines) + "\n", gz=True)
    with pytest.raises(FrameError, match=r"rag\.csv\.gz: line 2001: expected 2 fields, found 3"):
        import_csv(p, tmp_path / "rag2.h5", chunk_bytes=1024)


@pytest.mark.parametrize(
    "name,content,pattern",
    [
        ("empty.csv", "", "empty file"),
        ("blank.csv", "\n\n  \n", "empty file"),
        ("header_only.csv", "a,b,c\n", "header only, no data rows"),
        ("dup.csv", "a,b,a\n1,2,3\n", r"line 1: duplicate column names \['a'\]"),
    ],
)
def test_bad_files(tmp_path, name, content, pattern):
    p = write(tmp_path, name, content)
    with pytest.raises(FrameError, match=pattern) as e:
        import_csv(p, tmp_path / "out.h5")
    assert str(e.value).startswith(p + ": ")
    assert not (tmp_path / "out.h5").exists()


def test_header_only_forced(tmp_path):
    p = write(tmp_path, "h.csv", "1,2\n")
    with pytest.raises(FrameError, match="header only"):
        import_csv(p, tmp_path / "h.h5", header=True)


def test_missing_and_corrupt_files(tmp_path):
    missing = str(tmp_path / "nope.csv")
    with pytest.raises(FrameError, match=f"^{missing}: no such file"):
        import_csv(missing)
    with pytest.raises(FrameError, match="no such file"):
        import_file(missing)
    bad = tmp_path / "bad.csv.gz"
    good = gzip.compress(b"a,b\n" + b"1,2\n" * 1000)
    bad.write_bytes(good[:10] + b"\x00garbage" * 20)
    with pytest.raises(FrameError, match=r"bad\.csv\.gz: not a readable gzip file"):
        import_csv(str(bad), tmp_path / "bad.h5")
    truncated = tmp_path / "trunc.csv.gz"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(FrameError, match=r"trunc\.csv\.gz: "):
        import_csv(str(truncated), tmp_path / "trunc.h5")
    assert not (tmp_path / "bad.h5").exists() and not (tmp_path / "trunc.h5").exists()


def test_fixture_files(tmp_path):
    """Small tricky files kept in tests/data (BOM, CRLF, blank lines, whitespace)."""
    f = import_csv(os.path.join(DATA, "bom_crlf.csv"), tmp_path / "b.h5")
    assert f.names == ["id", "name", "score"] and list(f.types.values()) == ["int", "enum", "real"]
    assert decoded(f) == {"id": [1.0, 2.0, 3.0], "name": ["Ann", "Bob Jr", None], "score": [0.5, None, 2.0]}


def test_interrupted_import_leaves_nothing(tmp_path, monkeypatch):
    p = str(tmp_path / "big.csv")
    _random_csv(p, 2000)
    dest = tmp_path / "out" / "big.h5"
    calls = {"n": 0}
    real_append = FrameWriter.append

    def failing_append(self, columns, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        real_append(self, columns, *args)

    monkeypatch.setattr(FrameWriter, "append", failing_append)
    with pytest.raises(RuntimeError, match="disk on fire"):
        import_csv(p, dest, chunk_bytes=4096)
    assert calls["n"] == 3
    assert os.listdir(dest.parent) == []  # neither the frame nor a temporary part file
    # an existing frame under that name survives a failed re-import untouched
    monkeypatch.setattr(FrameWriter, "append", real_append)
    first = import_csv(p, dest, chunk_bytes=4096)
    before = dest.read_bytes()
    calls["n"] = 0
    monkeypatch.setattr(FrameWriter, "append", failing_append)
    with pytest.raises(RuntimeError):
        import_csv(p, dest, chunk_bytes=4096)
    assert dest.read_bytes() == before and os.listdir(dest.parent) == ["big.h5"]
    assert get_frame(str(dest)).nrow == first.nrow == 2000


def test_quote_errors_name_line_and_column(tmp_path):
    unbalanced = os.path.join(DATA, "unbalanced_quote.csv")
    with pytest.raises(FrameError) as e:
        import_csv(unbalanced, tmp_path / "u.h5")
    assert str(e.value) == (
        f"{unbalanced}: line 4: column 'comment': quoted field runs past the end of the line and leaves 2 fields, "
        "expected 3 (unbalanced quote?)"
    )
    long_row = write(tmp_path, "long.csv", "a,b\n1," + "x" * 5000 + "\n2,y\n")
    with pytest.raises(FrameError, match="row is longer than chunk_bytes=1024"):
        import_csv(long_row, tmp_path / "x.h5", chunk_bytes=1024)
    assert not any(p.suffix == ".h5" for p in tmp_path.iterdir())


def test_leading_blank_lines(tmp_path):
    f = import_csv(write(tmp_path, "lead.csv", "\n\na,b\n1,x\n\n2,y\n"), tmp_path / "lead.h5")
    assert f.names == ["a", "b"] and list(f.types.values()) == ["int", "enum"]
    assert decoded(f) == {"a": [1.0, 2.0], "b": ["x", "y"]}
    p = write(tmp_path, "lead2.csv", "\n\na,b\n1,2\n\n3\n")
    with pytest.raises(FrameError, match=r"lead2\.csv: line 6: expected 2 fields, found 1"):
        import_csv(p, tmp_path / "lead2.h5")


# -- what H2O-3 imports: Latin-1 text, multi-line fields, stray tokens, corrupt archives --------
def _import_warnings(make):
    """(result, messages of the FrameImportWarnings it raised)."""
    with pytest.warns() as record:
        result = make()
    return result, [str(w.message) for w in record if issubclass(w.category, FrameImportWarning)]


def test_latin1_and_windows_1252_text(tmp_path):
    latin = os.path.join(DATA, "latin1.csv")  # "Montr\xe9al" on line 3
    f, msgs = _import_warnings(lambda: import_csv(latin, tmp_path / "l.h5"))
    assert msgs == [f"{latin}: not UTF-8 text (first at line 3); read as Windows-1252/Latin-1"]
    assert decoded(f) == {"id": [1.0, 2.0], "city": ["Paris", "Montréal"], "pop": [2.1, 1.7]}
    # cp1252's printable 0x80-0x9F (euro, curly quotes) and the bytes it leaves undefined (0x81)
    raw = b"name,v\n" + "M\xfcller,1\n".encode("latin-1") + b"\x80 \x93q\x94 \x81,2\n"
    p = tmp_path / "w.csv.gz"
    p.write_bytes(gzip.compress(raw))
    g, msgs = _import_warnings(lambda: import_csv(str(p), tmp_path / "w.h5"))
    assert decoded(g)["name"] == ["Müller", "€ “q” \x81"] and len(msgs) == 1 and "first at line 2" in msgs[0]


def test_non_utf8_beyond_the_sample_restarts_with_windows_1252(tmp_path, monkeypatch):
    import hpcdl.frame.csv as csvmod

    monkeypatch.setattr(csvmod, "SAMPLE_BYTES", 64)  # the sample is valid UTF-8, line 40 is not
    rows = [f"{k},Zürich" for k in range(38)] + ["38,G\xe4vle"]
    p = tmp_path / "late.csv"
    p.write_bytes(("id,city\n" + "\n".join(rows[:38]) + "\n").encode() + (rows[38] + "\n").encode("latin-1"))
    f, msgs = _import_warnings(lambda: import_csv(str(p), tmp_path / "late.h5", chunk_bytes=1024))
    assert msgs == [f"{p}: not UTF-8 text (first at line 40); read as Windows-1252/Latin-1"]
    # UTF-8 bytes read as Windows-1252 are two characters each: the honest price of a mixed file
    assert decoded(f)["city"][-1] == "Gävle" and f.nrow == 39


def test_quoted_fields_spanning_lines(tmp_path):
    rows = [["id", "note", "x"]]
    for k in range(400):
        note = ["plain", "two\nlines", 'say "hi"\nthen, bye', "crlf\r\ninside", "x" * (k % 50)][k % 5]
        rows.append([str(k), note, f"{k / 4}"])
    p = tmp_path / "multi.csv"
    with open(p, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    with open(p, newline="") as fh:
        want = [r for r in csv.reader(fh)][1:]
    for chunk in (64 << 20, 1024):  # one block, and many blocks (a record may straddle a block boundary)
        f = import_csv(str(p), tmp_path / f"m{chunk}.h5", chunk_bytes=chunk)
        assert list(f.types.values()) == ["int", "enum", "real"] and f.nrow == 400
        d = decoded(f)
        assert d["note"] == [r[1].strip() for r in want] and d["x"] == [float(r[2]) for r in want]
    # after multi-line records, messages give physical lines: record k starts on line 2 + k + (multi-line before)
    text = 'a,b\n1,"x\ny"\n2,"p\nq\nr"\n3,z\n4\n'
    with pytest.raises(FrameError, match=r"ragged\.csv: line 8: expected 2 fields, found 1$"):
        import_csv(write(tmp_path, "ragged.csv", text), tmp_path / "r.h5")
    text = 'a,b\n1,"x\ny"\n2,"p\nq\nr"\n3,z\nn/a,w\n5,v\n'
    _, msgs = _import_warnings(lambda: import_csv(write(tmp_path, "stray.csv", text), tmp_path / "s.h5"))
    assert msgs == [
        f"{tmp_path / 'stray.csv'}: 1 value(s) that do not fit their column's type read as NA; "
        "column 'a' (int): 1, first at line 8: 'n/a'"
    ]
    # a header field spanning lines
    h = import_csv(write(tmp_path, "h.csv", '"long\nname",b\n1,2\n'), tmp_path / "h.h5")
    assert h.names == ["long\nname", "b"] and decoded(h)["b"] == [2.0]


def _reference_type(tokens):
    """The documented majority rule, computed from the tokens' known kinds."""
    kinds = [k for k, _ in tokens if k != "na"]
    n, t, s = kinds.count("num"), kinds.count("time"), kinds.count("text")
    if not kinds:
        return "real"
    if n >= t and n >= s:
        nums = [float(v) for k, v in tokens if k == "num"]
        return "int" if all(x == int(x) for x in nums) else "real"
    return "time" if t > s else "enum"


@pytest.mark.filterwarnings("ignore::hpcdl.frame.FrameImportWarning")
def test_type_guess_majority_against_a_reference(tmp_path):
    rng = random.Random(5)
    pools = {
        "num": ["0", "12", "-3", "1e3", "2.5", "+7", ".5"],
        "text": ["abc", "n/a", "x1", "-", "unknown"],
        "time": ["2001-02-03", "2020-12-31 10:00"],
        "na": ["", "NA", "?"],
    }
    for trial in range(40):
        ncol, nrow = 6, rng.randint(1, 30)
        weights = [[rng.random() ** 2 for _ in pools] for _ in range(ncol)]
        cols = [[(k := rng.choices(list(pools), w)[0], rng.choice(pools[k])) for _ in range(nrow)] for w in weights]
        text = ",".join(f"c{j}" for j in range(ncol)) + "\n"
        text += "".join(",".join(cols[j][i][1] for j in range(ncol)) + "\n" for i in range(nrow))
        p = write(tmp_path, f"t{trial}.csv", text)
        f = import_csv(p, tmp_path / f"t{trial}.h5", header=True, col_types=None)
        d = decoded(f)
        for j in range(ncol):
            want = _reference_type(cols[j])
            assert list(f.types.values())[j] == want, (trial, j, cols[j])
            if want in ("int", "real"):  # values that are not numbers are NA
                assert d[f"c{j}"] == [float(v) if k == "num" else None for k, v in cols[j]]
            if want == "enum":  # every value is kept as a level
                assert d[f"c{j}"] == [None if k == "na" else v for k, v in cols[j]]


def test_prostate_with_a_stray_token_stays_numeric(tmp_path):
    """H2O-3 reads `n/a` in one row of PSA as NA in a real column (checked: type real, 1 NA)."""
    clean = os.path.join(HERE, os.pardir, "hpcdl", "datasets", "prostate.csv")
    with open(clean) as fh:
        lines = fh.read().splitlines()
    cells = lines[5].split(",")
    cells[6] = "n/a"
    lines[5] = ",".join(cells)
    p = write(tmp_path, "prostate_na.csv", "\n".join(lines) + "\n")
    ref = import_csv(clean, tmp_path / "clean.h5")
    f, msgs = _import_warnings(lambda: import_csv(p, tmp_path / "na.h5"))
    assert (
        list(f.types.values()) == list(ref.types.values())
        and list(f.types.values())[6] == "real"
        and f.stats["PSA"]["na_count"] == 1
    )
    want = ref.column("PSA").copy()
    want[4] = np.nan
    np.testing.assert_array_equal(f.column("PSA"), want)
    assert msgs == [
        f"{p}: 1 value(s) that do not fit their column's type read as NA; column 'PSA' (real): 1, first at line 6: 'n/a'"
    ]


def _random_rows(n: int) -> bytes:
    rng = random.Random(3)
    return b"a,b\n" + "".join(f"{rng.random()},{rng.randint(0, 10**9)}\n" for _ in range(n)).encode()


@pytest.mark.parametrize(
    "name,make",
    [
        ("garbage.csv.gz", lambda: gzip.compress(b"")[:10] + bytes(range(256)) * 4),
        ("truncated.csv.gz", lambda: gzip.compress(_random_rows(5000))[:20000]),
        # the first MiB (the parse-setup sample) reads fine, the stream breaks later
        ("late_garbage.csv.gz", lambda: gzip.compress(_random_rows(80000))[:-4000] + bytes(range(256)) * 16),
        ("garbage.csv.bz2", lambda: b"BZh9" + bytes(range(256)) * 4),
        ("truncated.csv.bz2", lambda: __import__("bz2").compress(_random_rows(5000))[:20000]),
    ],
)
def test_corrupt_compressed_files_are_one_line_errors(tmp_path, name, make):
    p = tmp_path / name
    p.write_bytes(make())
    for call in (lambda: import_file(str(p), str(tmp_path / "o.h5")), lambda: import_csv(str(p), tmp_path / "o.h5")):
        with pytest.raises(FrameError) as e:
            call()
        kind = "gzip" if name.endswith(".gz") else "bz2"
        msg = str(e.value)
        assert msg.startswith(f"{p}: not a readable {kind} file (corrupt or truncated): ") and "\n" not in msg
    assert sorted(os.listdir(tmp_path)) == [name]  # nothing written, no temporary file left


def _tiny_blocks(monkeypatch):
    import hpcdl.frame.csv as csvmod

    monkeypatch.setattr(csvmod, "SAMPLE_BYTES", 256)  # the plan comes from the first lines only
    return {"chunk_bytes": 1024}  # blocks of 1 KiB: many block boundaries


def test_stray_tokens_across_block_boundaries_against_pandas(tmp_path, monkeypatch):
    """Stray tokens at known lines in many 1 KiB blocks: NA, counted, the first named by its line;
    every other value as pandas reads it."""
    pd = pytest.importorskip("pandas")
    rng = random.Random(11)
    lines = ["a,b,c"]
    strays = {137: "n/a", 412: "oops", 777: "x"}  # record index -> token in column b
    for k in range(900):
        b = strays.get(k, f"{rng.gauss(0, 10):.3f}")
        lines.append(f"{k},{b},{rng.choice(['lo', 'mid', 'hi'])}")
    p = write(tmp_path, "s.csv", "\n".join(lines) + "\n")
    f, msgs = _import_warnings(lambda: import_csv(p, tmp_path / "s.h5", **_tiny_blocks(monkeypatch)))
    assert msgs == [
        f"{p}: 3 value(s) that do not fit their column's type read as NA; column 'b' (real): 3, first at line 139: 'n/a'"
    ]
    ref = pd.read_csv(p, na_values=sorted(strays.values()), keep_default_na=True)
    assert list(f.types.values()) == ["int", "real", "enum"]
    np.testing.assert_array_equal(f.column("a"), ref["a"].to_numpy(float))
    np.testing.assert_array_equal(f.column("b"), ref["b"].to_numpy(float))
    assert decoded(f)["c"] == list(ref["c"]) and f.domains["c"] == ["hi", "lo", "mid"]


def test_majority_decided_by_rows_after_the_sample(tmp_path, monkeypatch):
    """The first lines look numeric (or text), the whole file says otherwise: the whole file's majority
    wins and every value is converted as its type says, across block boundaries."""
    first = [f"{k},{k % 7}" for k in range(40)]  # 'u' numbers here ...
    rest = [f"{k},t{k % 5}" for k in range(40, 300)]  # ... text after: enum
    p = write(tmp_path, "flip.csv", "v,u\n" + "\n".join(first + rest) + "\n")
    f = import_csv(p, tmp_path / "flip.h5", **_tiny_blocks(monkeypatch))
    assert list(f.types.values()) == ["int", "enum"]
    want = [str(k % 7) for k in range(40)] + [f"t{k % 5}" for k in range(40, 300)]
    assert decoded(f)["u"] == want and f.domains["u"] == sorted(set(want))
    # text first, numbers after (and a time column the other way round): numeric, the texts are NA
    rows = [f"x{k % 3},{k}" for k in range(40)] + [f"{k / 2},2020-01-0{1 + k % 9}" for k in range(40, 300)]
    q = write(tmp_path, "flip2.csv", "w,d\n" + "\n".join(rows) + "\n")
    g, msgs = _import_warnings(lambda: import_csv(q, tmp_path / "flip2.h5", **_tiny_blocks(monkeypatch)))
    assert list(g.types.values()) == ["real", "time"]
    assert decoded(g)["w"] == [None] * 40 + [k / 2 for k in range(40, 300)]
    days = [dt.datetime(2020, 1, 1 + k % 9, tzinfo=dt.UTC).timestamp() * 1000 for k in range(40, 300)]
    assert decoded(g)["d"] == [None] * 40 + days
    assert len(msgs) == 1 and "column 'w' (real): 40, first at line 2: 'x0'" in msgs[0]
    assert "column 'd' (time): 40, first at line 2: '0'" in msgs[0]


def test_windows_1252_text_in_a_late_block(tmp_path, monkeypatch):
    """cp1252 bytes far past the sample, in small blocks: one warning naming their line, the letters kept."""
    rows = [f"{k},plain" for k in range(300)] + ["300,Caf\xe9 \u20ac"]
    p = tmp_path / "cp.csv"
    p.write_bytes(("id,s\n" + "\n".join(rows) + "\n").encode("cp1252"))
    f, msgs = _import_warnings(lambda: import_csv(str(p), tmp_path / "cp.h5", **_tiny_blocks(monkeypatch)))
    assert msgs == [f"{p}: not UTF-8 text (first at line 302); read as Windows-1252/Latin-1"]
    assert decoded(f)["s"][-1] == "Café €" and f.nrow == 301 and f.domains["s"] == ["Café €", "plain"]
