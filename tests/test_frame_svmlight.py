"""SVMLight/LibSVM import: files written by scikit-learn's dump_svmlight_file, read back through
import_file and compared with the matrix written (and with scikit-learn's own reader); H2O-3's
column naming; errors naming file and line."""

import bz2
import gzip
import os
import re
import shutil

import numpy as np
import pytest
from sklearn.datasets import dump_svmlight_file, load_svmlight_file

from hpcdl.frame import FrameError, import_file, svmlight


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("HPCDL_FRAME_DIR", str(d))
    return d


def sparse_data(n=300, d=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).round(3)
    X[rng.random((n, d)) < 0.7] = 0.0
    X[:, 2] = rng.integers(0, 5, size=n)  # a column of whole numbers: int
    X[:, -1] = 0.0  # a trailing feature nobody uses: the file has no column for it
    y = rng.integers(0, 3, size=n)
    return X, y


def test_svmlight_matches_what_scikit_learn_wrote(tmp_path, monkeypatch):
    monkeypatch.setattr(svmlight, "BLOCK_BYTES", 8 * 11 * 7)  # blocks of 7 rows
    X, y = sparse_data()
    path = str(tmp_path / "data.svmlight")
    dump_svmlight_file(X, y, path, zero_based=False, comment="written by scikit-learn")
    fr = import_file(path)
    width = int(np.nonzero(X.any(axis=0))[0].max()) + 1  # highest feature index used
    assert fr.names == [f"C{j + 1}" for j in range(width + 1)]  # the label, then feature k as C<k+1>
    data = fr.as_numpy()
    np.testing.assert_array_equal(data[:, 0], y)
    np.testing.assert_array_equal(data[:, 1:], X[:, :width])
    assert fr.types["C1"] == "int" and fr.types["C4"] == "int" and fr.types["C2"] == "real"
    X2, y2 = load_svmlight_file(path, zero_based=False)  # scikit-learn's reader agrees
    np.testing.assert_array_equal(data[:, 1:], X2.toarray()[:, :width])


def test_qid_comments_blank_lines_and_compression(tmp_path):
    X, y = sparse_data(n=40, d=5, seed=1)
    plain = str(tmp_path / "ranked.txt")  # no telling extension: recognised by its lines
    dump_svmlight_file(X, y, plain, zero_based=False, query_id=np.arange(40) // 10)
    text = open(plain).read()
    assert "qid:" in text
    with open(plain, "w") as fh:
        fh.write("# a comment line\n\n" + text.replace("\n", "  # trailing comment\n", 3))
    fr = import_file(plain)
    np.testing.assert_array_equal(fr.as_numpy()[:, 1:], X[:, : fr.ncol - 1])
    for opener, ext in ((gzip.open, ".gz"), (bz2.open, ".bz2")):
        packed = plain + ext
        with open(plain, "rb") as src, opener(packed, "wb") as dst:
            shutil.copyfileobj(src, dst)
        np.testing.assert_array_equal(import_file(packed).as_numpy(), fr.as_numpy())


def test_zero_based_files_are_read_as_scikit_learns_auto_reader_reads_them(tmp_path):
    X, y = sparse_data(n=10, d=4, seed=2)
    X[:, 0] = 0.0
    X[4, 0] = 1.5  # the first index 0 is on line 5: lines before it were read as if one-based
    X[:, 3] = 0.5  # a real column at the end, so that a shift of the int/real flags would show
    zero = str(tmp_path / "zero.svm")
    dump_svmlight_file(X, y, zero)  # scikit-learn's default: zero_based=True
    with pytest.warns(UserWarning, match="read as zero-based"):
        fr = import_file(zero)
    X2, y2 = load_svmlight_file(zero, zero_based="auto")
    assert fr.names == ["C1", "C2", "C3", "C4", "C5"]  # the label, then feature k as C<k+2>
    np.testing.assert_array_equal(fr.as_numpy()[:, 0], y2)
    np.testing.assert_array_equal(fr.as_numpy()[:, 1:], X2.toarray())
    assert [fr.types[n] for n in fr.names] == ["int", "real", "real", "int", "real"]


def test_broken_lines_are_refused_with_their_line(tmp_path):
    cases = {
        "1 3:1 2:5\n": "line 1: feature indices must increase (2 after 3)",
        "0 1:1\n1 1:2 1:3\n": "line 2: feature indices must increase (1 after 1)",
        "1 1:1\nabc 2:1\n": "line 2: label 'abc' is not a number",
        "1 1:1\n\n1 2:x\n": "line 3: the value of feature 2 'x' is not a number",
        "1 1:1\n1 a:1\n": "line 2: 'a:1' is not index:value",
    }
    for k, (content, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{k}.svm"
        path.write_text(content)
        with pytest.raises(FrameError, match="^" + re.escape(f"{path}: {message}")):
            import_file(str(path), parse_type="SVMLight")
    empty = tmp_path / "empty.svm"
    empty.write_text("# nothing\n\n")
    with pytest.raises(FrameError, match="no data lines"):
        import_file(str(empty), parse_type="svmlight")
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".h5")]


def test_format_is_decided_by_content_unless_forced(tmp_path, cache, frame_writes):
    numbers = tmp_path / "space.txt"
    numbers.write_text("1 2 3\n4 5 6\n")  # space-separated numbers: CSV, not SVMLight
    assert import_file(str(numbers)).shape == (2, 3)
    svm = tmp_path / "x.svm"
    svm.write_text("1 1:2 4:1\n0 2:3\n")
    first = import_file(str(svm))
    assert first.shape == (2, 5) and os.path.basename(first.path).startswith("x-")
    assert import_file(str(svm)).path == first.path and len(frame_writes) == 2  # the cache reuses it
    as_csv = import_file(str(svm), parse_type="CSV")
    assert as_csv.ncol == 1 and as_csv.path != first.path  # another format is another frame
    with pytest.raises(FrameError, match=r"x\.svm: is an SVMLight file; options \['header'\] do not apply"):
        import_file(str(svm), header=True)
