"""SVMLight / LibSVM import: sparse ``label index:value ...`` text as a frame, named as H2O-3 names it.

Each non-blank line that is not a comment is ``<label> [qid:<n>] <index>:<value> ...
[# comment]``. As in H2O-3 the label is column ``C1`` and feature ``k`` is column
``C<k+1>`` (indices start at 1 and increase along a line); a feature a line leaves out
is 0; the frame has ``max index + 1`` columns, each ``int`` when all its values are
whole numbers, else ``real``. ``qid`` is skipped. A file with an index 0 anywhere is
zero-based (scikit-learn's ``dump_svmlight_file`` default), read as scikit-learn's reader
reads it with ``zero_based="auto"``: feature ``k`` is then column ``C<k+2>``, and a warning
says so. An index that does not increase or a token that is not ``index:value`` is refused
with its line number (H2O-3 skips such lines with a warning; hpcdl reads no data silently wrong). Plain, gzip or
bzip2 text; read twice (pass 1: rows, width, integrality; pass 2: dense blocks of rows
into the frame writer), so memory is one block whatever the file size.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator

import numpy as np

from .csv import READ_ERRORS, destination_path, open_stream, unreadable
from .errors import FrameError, warn_import
from .h5frame import Frame, FrameWriter
from .plan import BLOCK_BYTES
from .source import cached_import, check_unchanged, source_attrs, source_identity
from .textrules import NUMBER_PATTERN

SNIFF_BYTES = 1 << 16
SNIFF_LINES = 20
_NUM = NUMBER_PATTERN.strip("^$")
_LINE_RE = re.compile(rf"^\s*(?:{_NUM})(?:\s+qid:\d+)?(?:\s+\d+:(?:{_NUM}))*\s*(?:#.*)?$")
_PAIR_RE = re.compile(rf"\s\d+:(?:{_NUM})")
_NUMBER_RE = re.compile(NUMBER_PATTERN)


def looks_like_svmlight(head: bytes) -> bool:
    """Whether the first lines of (decompressed) text are SVMLight: every sampled line is
    ``label [qid:n] index:value ...`` and at least one has an ``index:value`` pair."""
    text = head.decode("utf-8", errors="replace")
    if len(head) >= SNIFF_BYTES:
        text = text[: text.rfind("\n") + 1]  # drop the last, possibly cut line
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")][:SNIFF_LINES]
    return bool(lines) and all(_LINE_RE.match(ln) for ln in lines) and any(_PAIR_RE.search(ln) for ln in lines)


def import_svmlight(path, destination=None, *, frame_dir=None) -> Frame:
    """Import an SVMLight/LibSVM file into a frame file (``destination``) or the frame cache."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FrameError(f"{path}: no such file")
    identity = source_identity(path, {"kind": "svmlight"})

    def write(dest: str) -> Frame:
        return _import(path, dest, identity)

    if destination is None:
        return cached_import(path, identity, frame_dir, write)
    return write(destination_path(path, destination))


def _records(path: str) -> Iterator[tuple[int, float, list[int], list[float]]]:
    """(line number, label, feature indices, values) of each data line; bad lines raise FrameError."""
    try:
        with open_stream(path) as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=None)
            for lineno, line in enumerate(text, start=1):
                body = line.split("#", 1)[0].split()
                if body:
                    yield (lineno, *_parse(path, lineno, body))
    except READ_ERRORS as exc:
        raise unreadable(path, exc) from exc


def _number(path: str, lineno: int, token: str, what: str) -> float:
    if not _NUMBER_RE.match(token):
        raise FrameError(f"{path}: line {lineno}: {what} {token!r} is not a number")
    return float(token)


def _parse(path: str, lineno: int, tokens: list[str]) -> tuple[float, list[int], list[float]]:
    label = _number(path, lineno, tokens[0], "label")
    idx, vals = [], []
    last = -1
    for tok in tokens[1:]:
        key, colon, value = tok.partition(":")
        if key == "qid" and colon:
            continue
        if not colon or not key.isdigit():
            raise FrameError(f"{path}: line {lineno}: {tok!r} is not index:value")
        k = int(key)
        if k <= last:
            raise FrameError(f"{path}: line {lineno}: feature indices must increase ({k} after {last})")
        last = k
        idx.append(k)
        vals.append(_number(path, lineno, value, f"the value of feature {k}"))
    return label, idx, vals


def _is_whole(x: float) -> bool:
    return not np.isfinite(x) or x == np.floor(x)


def _scan(path: str) -> tuple[int, int, np.ndarray, int]:
    """Pass 1: rows, columns (label + highest index, + 1 for a zero-based file), per column whether
    every value is whole, and the index shift (1 when some index is 0: scikit-learn's "auto" rule)."""
    nrow, ncol = 0, 1
    whole = [True]
    zero_based = False
    for _, label, idx, vals in _records(path):
        nrow += 1
        if idx and idx[0] == 0 and not zero_based:  # indices increase: 0 can only come first
            zero_based = True
            whole.insert(1, True)
            ncol += 1
        shift = int(zero_based)
        idx = [k + shift for k in idx]
        if idx and idx[-1] + 1 > ncol:
            whole.extend([True] * (idx[-1] + 1 - ncol))
            ncol = idx[-1] + 1
        whole[0] = whole[0] and _is_whole(label)
        for k, v in zip(idx, vals):
            if whole[k] and not _is_whole(v):
                whole[k] = False
    return nrow, ncol, np.array(whole, dtype=bool), int(zero_based)


def _import(path: str, dest: str, identity: str) -> Frame:
    nrow, ncol, whole, shift = _scan(path)
    if nrow == 0:
        raise FrameError(f"{path}: no data lines (an empty SVMLight file)")
    if shift:
        warn_import(
            f"{path}: feature index 0 found: read as zero-based (scikit-learn's dump_svmlight_file default; "
            "zero_based='auto' as scikit-learn's reader): feature k is column C<k+2>"
        )
    names = [f"C{j + 1}" for j in range(ncol)]
    types = ["int" if w else "real" for w in whole]
    step = max(1, BLOCK_BYTES // (8 * ncol))
    writer = FrameWriter(dest, names, types, attrs=source_attrs(path, identity), display_name=path)
    with writer:
        block = np.zeros((step, ncol))
        filled = 0
        for lineno, label, idx, vals in _records(path):
            idx = [k + shift for k in idx]
            if idx and idx[-1] >= ncol:  # only if the file changed since pass 1
                check_unchanged(path, identity)
                raise FrameError(f"{path}: line {lineno}: feature {idx[-1]} beyond the {ncol - 1} seen before")
            block[filled, 0] = label
            block[filled, idx] = vals
            filled += 1
            if filled == step:
                writer.append(list(block.T))
                block[:] = 0.0
                filled = 0
        if filled:
            writer.append(list(block[:filled].T))
        check_unchanged(path, identity)
    return writer.close()
