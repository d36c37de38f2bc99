"""IDX import (MNIST, Fashion-MNIST): images -> float32 pixel columns C1..Cn, labels -> enum ``label``.

IDX layout: 2 zero bytes, a type byte (0x08 ubyte, 0x09 byte, 0x0B short,
0x0C int, 0x0D float, 0x0E double), a byte with the number of dimensions,
then one big-endian uint32 per dimension, then the values (big-endian, row
major). Files may be gzip-compressed. Images are streamed one HDF5 chunk of
rows at a time, so a 60000 x 784 file needs one uint8 block in memory.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from ..fsutil import check_output
from .csv import destination_path
from .h5frame import CHUNK_ROWS, Frame, FrameError, FrameWriter
from .source import cached_import, check_unchanged, source_attrs, source_identity

IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _open(path: str):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def is_idx_header(head: bytes) -> bool:
    """Whether the first 4 (decompressed) bytes look like an IDX magic number."""
    return len(head) >= 4 and head[0] == 0 and head[1] == 0 and head[2] in IDX_DTYPES and 1 <= head[3] <= 4


def _read(fh, n: int, path: str) -> bytes:
    try:
        return fh.read(n)
    except (EOFError, OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise FrameError(f"{path}: truncated or corrupt file ({exc})") from exc


def _has_more(fh, path: str) -> bool:
    return bool(_read(fh, 1, path))


def _read_exact(fh, n: int, path: str) -> bytes:
    data = _read(fh, n, path)
    if len(data) != n:
        raise FrameError(f"{path}: truncated file (expected {n} more bytes, found {len(data)})")
    return data


def _header(fh, path: str) -> tuple[np.dtype, tuple[int, ...]]:
    head = _read_exact(fh, 4, path)
    if not is_idx_header(head):
        raise FrameError(f"{path}: not an IDX file (bad magic number {head.hex()})")
    dtype = IDX_DTYPES[head[2]]
    dims = struct.unpack(">" + "I" * head[3], _read_exact(fh, 4 * head[3], path))
    return dtype, tuple(int(d) for d in dims)


def read_idx_labels(path: str) -> np.ndarray:
    """All values of a 1-D IDX file (labels are small: 60000 bytes for MNIST)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FrameError(f"{path}: no such file")
    with _open(path) as fh:
        dtype, dims = _header(fh, path)
        if len(dims) != 1:
            raise FrameError(f"{path}: expected a 1-D label file, found dimensions {dims}")
        data = _read_exact(fh, dims[0] * dtype.itemsize, path)
    return np.frombuffer(data, dtype=dtype)


def import_idx(images_path, labels_path=None, destination=None, *, frame_dir=None) -> Frame:
    """Import an IDX image file (and optionally its label file) into a frame.

    Columns ``C1..Cn`` (n = product of the image dimensions, row-major) hold the
    pixel values as float32; ``label`` is an enum with levels ``"0".."k"`` (all
    integers up to the largest label, sorted as strings). ``destination``
    defaults to the frame cache (see import_csv).
    """
    images_path = os.fspath(images_path)
    if not os.path.exists(images_path):
        raise FrameError(f"{images_path}: no such file")
    if labels_path is not None:
        labels_path = os.fspath(labels_path)
        if not os.path.exists(labels_path):
            raise FrameError(f"{labels_path}: no such file")
    identity = source_identity(images_path, {"kind": "idx"}, {"labels": labels_path} if labels_path else None)

    def write(dest: str) -> Frame:
        return _import(images_path, labels_path, dest, identity)

    if destination is None:
        return cached_import(images_path, identity, frame_dir, write)
    return write(destination_path(images_path, destination))


def _import(images_path: str, labels_path: str | None, dest: str, identity: str) -> Frame:
    labels = None
    if labels_path is not None:
        labels = read_idx_labels(labels_path)
        if labels.dtype.kind == "f" or (labels.size and labels.min() < 0):
            raise FrameError(f"{labels_path}: labels must be non-negative integers")
    with _open(images_path) as fh:
        dtype, dims = _header(fh, images_path)
        nrow = dims[0]
        width = int(np.prod(dims[1:], dtype=np.int64)) if len(dims) > 1 else 1
        if labels is not None and labels.size != nrow:
            raise FrameError(f"{labels_path}: {labels.size} labels for {nrow} images in {images_path}")
        names = [f"C{j + 1}" for j in range(width)]
        types = ["real"] * width
        fdt = ["float64" if dtype.itemsize >= 4 and dtype.kind in "if" else "float32"] * width
        domain = None
        if labels is not None:
            names.append("label")
            types.append("enum")
            fdt.append("float64")
            domain = [str(k) for k in range(int(labels.max()) + 1 if labels.size else 0)]
        attrs = source_attrs(images_path, identity)
        writer = FrameWriter(dest, names, types, float_dtype=fdt, attrs=attrs, display_name=images_path)
        with writer:
            for start in range(0, nrow, CHUNK_ROWS):
                n = min(CHUNK_ROWS, nrow - start)
                block = np.frombuffer(_read_exact(fh, n * width * dtype.itemsize, images_path), dtype=dtype).reshape(
                    n, width
                )
                # one transposed copy (same dtype) makes each column contiguous; the writer
                # converts one column at a time, so float copies stay one column big
                cols = list(np.ascontiguousarray(block.T))
                if labels is not None:
                    cols.append(labels[start : start + n].astype(np.int32))
                writer.append(cols)
            if _has_more(fh, images_path):
                raise FrameError(f"{images_path}: trailing bytes after {nrow} images")
            check_unchanged(images_path, identity)
    return writer.close({"label": domain} if domain is not None else None)


_NAMES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _find(directory: str, stems: tuple[str, ...]) -> str:
    for stem in stems:
        for name in (stem, stem + ".gz"):
            p = os.path.join(directory, name)
            if os.path.exists(p):
                return p
    raise FrameError(f"{directory}: no {stems[0]} or {stems[0]}.gz")


def import_mnist_dir(directory, destination_dir=None, *, force: bool = False) -> tuple[Frame, Frame]:
    """Import the four MNIST-style files of ``directory`` -> (train, test) frames.

    Written as ``<dirname>-train.h5`` and ``<dirname>-test.h5`` in ``destination_dir``
    (default: the frame cache, under names given by the files' identity; see import_csv). With a
    ``destination_dir`` an existing frame there is replaced only with ``force`` (docs/outputs.md).
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FrameError(f"{directory}: not a directory")
    files = {k: _find(directory, v) for k, v in _NAMES.items()}
    if destination_dir is None:
        train = import_idx(files["train_images"], files["train_labels"])
        return train, import_idx(files["test_images"], files["test_labels"])
    out = os.fspath(destination_dir)
    stem = os.path.basename(os.path.normpath(os.path.abspath(directory))) or "mnist"
    targets = [os.path.join(out, f"{stem}-{part}.h5") for part in ("train", "test")]
    if destination_dir is not None:
        if out == "-":
            check_output(out, what="frames")  # refuses: frames are not tables for standard output
        os.makedirs(out, exist_ok=True)  # a directory output, created like a grid's
        for target in targets:
            check_output(target, inputs=files.values(), force=force, what="frame")
    train = import_idx(files["train_images"], files["train_labels"], targets[0])
    test = import_idx(files["test_images"], files["test_labels"], targets[1])
    return train, test
