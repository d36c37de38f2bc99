"""IDX import: small struct-packed files written here, bad input, and the packaged Fashion-MNIST."""

import gzip
import os
import struct

import numpy as np
import pytest

from hpcdl.frame import FrameError, import_file, import_idx, import_mnist_dir

FASHION = "/usr/share/datasets/fashion-mnist"


def idx_bytes(arr: np.ndarray, code: int = 0x08, dtype: str = "u1") -> bytes:
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    return head + np.ascontiguousarray(arr, dtype=dtype).tobytes()


def write(path, data: bytes, gz=False):
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        with open(path, "wb") as fh:
            fh.write(data)
    return str(path)


@pytest.mark.parametrize("gz", [False, True])
def test_images_and_labels(tmp_path, gz):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(37, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=37, dtype=np.uint8)
    labels[:10] = np.arange(10)
    ext = ".gz" if gz else ""
    ip = write(tmp_path / f"imgs-idx3-ubyte{ext}", idx_bytes(images), gz)
    lp = write(tmp_path / f"labels-idx1-ubyte{ext}", idx_bytes(labels), gz)
    f = import_idx(ip, lp, tmp_path / "out.h5")
    assert f.nrow == 37 and f.names == [f"C{k}" for k in range(1, 13)] + ["label"]
    assert list(f.types.values()) == ["real"] * 12 + ["enum"]
    assert f.domains["label"] == [str(k) for k in range(10)]
    mat = f.as_numpy([f"C{k}" for k in range(1, 13)])
    np.testing.assert_array_equal(mat, images.reshape(37, 12).astype(np.float64))
    assert f.column("C1").dtype == np.float32
    np.testing.assert_array_equal(f.column("label"), labels)  # "0".."9" sorted = digit order
    # import_file recognises the magic number (also through gzip)
    g = import_file(ip, str(tmp_path / "out2.h5"), labels_path=lp)
    np.testing.assert_array_equal(g.as_numpy(), f.as_numpy())
    # images only
    h = import_idx(ip, destination=tmp_path / "imgs.h5")
    assert h.ncol == 12


def test_label_domain_sorted_as_strings(tmp_path):
    images = np.zeros((12, 2, 2), dtype=np.uint8)
    labels = np.arange(12, dtype=np.uint8)
    ip = write(tmp_path / "i", idx_bytes(images))
    lp = write(tmp_path / "l", idx_bytes(labels))
    f = import_idx(ip, lp, tmp_path / "o.h5")
    dom = f.domains["label"]
    assert dom == sorted(str(k) for k in range(12))
    assert [dom[c] for c in f.column("label")] == [str(k) for k in range(12)]


def test_bad_idx_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HPCDL_FRAME_DIR", str(tmp_path / "cache"))
    images = np.zeros((5, 2, 2), dtype=np.uint8)
    good = idx_bytes(images)
    bad_magic = write(tmp_path / "magic", b"\x00\x01" + good[2:])
    with pytest.raises(FrameError, match=f"^{bad_magic}: not an IDX file"):
        import_idx(bad_magic, destination=tmp_path / "x.h5")
    trunc = write(tmp_path / "trunc", good[:-3])
    with pytest.raises(FrameError, match=f"^{trunc}: truncated file"):
        import_idx(trunc, destination=tmp_path / "x.h5")
    trunc_gz = write(tmp_path / "trunc.gz", gzip.compress(good)[:-12])
    with pytest.raises(FrameError, match="trunc.gz: truncated"):
        import_idx(trunc_gz, destination=tmp_path / "x.h5")
    # a valid gzip start (the IDX header inflates fine), then garbage: one line, no zlib traceback
    images = np.random.default_rng(0).integers(0, 256, size=(400, 28, 28), dtype=np.uint8)
    broken = gzip.compress(idx_bytes(images))
    broken_gz = write(tmp_path / "broken.gz", broken[:2000] + bytes(range(256)) * 40)
    for call in (lambda: import_idx(broken_gz, destination=tmp_path / "x.h5"), lambda: import_file(broken_gz)):
        with pytest.raises(FrameError, match=f"^{broken_gz}: truncated or corrupt file") as e:
            call()
        assert "\n" not in str(e.value)
    ip = write(tmp_path / "ok", good)
    lp = write(tmp_path / "lab", idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(FrameError, match="4 labels for 5 images"):
        import_idx(ip, lp, tmp_path / "x.h5")
    with pytest.raises(FrameError, match="no such file"):
        import_idx(str(tmp_path / "missing"))
    assert not (tmp_path / "x.h5").exists()


def test_mnist_dir(tmp_path):
    src = tmp_path / "tiny-mnist"
    src.mkdir()
    rng = np.random.default_rng(1)
    for stem, n in (("train", 30), ("t10k", 7)):
        write(src / f"{stem}-images-idx3-ubyte.gz", idx_bytes(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)), True)
        write(src / f"{stem}-labels-idx1-ubyte", idx_bytes(rng.integers(0, 10, n, dtype=np.uint8)))
    train, test = import_mnist_dir(src, tmp_path / "frames")
    assert (train.nrow, train.ncol, test.nrow, test.ncol) == (30, 785, 7, 785)
    assert train.path == str(tmp_path / "frames" / "tiny-mnist-train.h5")
    with pytest.raises(FrameError, match="no t10k-images-idx3-ubyte"):
        os.remove(src / "t10k-images-idx3-ubyte.gz")
        import_mnist_dir(src, tmp_path / "frames2")


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_package(tmp_path):
    train, test = import_mnist_dir(FASHION, tmp_path)
    assert (train.nrow, train.ncol) == (60000, 785) and (test.nrow, test.ncol) == (10000, 785)
    assert train.domains["label"] == [str(k) for k in range(10)]
    assert train.stats["label"]["counts"] == [6000] * 10
    with gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")) as fh:
        raw = np.frombuffer(fh.read(), dtype=np.uint8, offset=16).reshape(10000, 784)
    np.testing.assert_array_equal(test.column("C400"), raw[:, 399].astype(np.float32))
