"""``h2o.create_frame``: H2O-3's random frame, the same frame for the same seed.

H2O-3 3.46's Python client resolves the column fractions (``h2o.create_frame`` in h2o-py/h2o/h2o.py)
and its server builds the frame (``hex.CreateFrame`` checks the parameters, ``water.fvec.FrameCreator``
fills it). Both are reproduced here:

- column counts: ``int(fraction * cols + 0.1)`` per kind, reals take the rest;
- which column gets which kind: H2O-3's ``ArrayUtils.shuffleArray`` with ``seed_for_column_types``;
- names ``response`` (first, when asked for), then ``C1..Cn``; categorical levels ``c<index>.l<k>``
  (``index`` the 0-based column position), a categorical response's ``0..k-1``;
- every cell from H2O-3's PCG generator seeded per cell (``FrameRandomizer``), then NAs by
  ``FrameUtils.MissingInserter`` (the response too).

So a seeded call gives H2O-3's values (tests/test_create_frame.py compares with frames H2O-3 3.46
made). String columns are refused: hpcdl frames have no string type.
"""

from __future__ import annotations

import numpy as np

from .pydata import Columns
from .rng import frame_cells, missing_cells, next_double, next_float, next_long, random_seed, shuffled

_KINDS = ("real", "categorical", "integer", "binary", "time", "string")
_WEIGHTS = (0.5, 0.2, 0.2, 0.1, 0.0, 0.0)  # the client's split of what the caller left open
_FIFTY_YEARS_MS = 50 * 365 * 24 * 3600 * 1000


def resolve_fractions(fractions: list[float | None]) -> list[float]:
    """The client's rule: explicit fractions stay, the remainder goes to the others by weight."""
    explicit = sum(0.0 if f is None else f for f in fractions)
    remainder = 1 - explicit
    if explicit >= 1 + 1e-10:
        raise ValueError(
            "create_frame: fractions of binary, integer, categorical, time and string columns should add up "
            "to a number less than 1"
        )
    out = list(fractions)
    if explicit < 1 - 1e-10:
        if all(f is not None for f in fractions):
            raise ValueError(
                "create_frame: fraction of binary, integer, categorical, time and string columns add up to a number less than 1"
            )
        open_weight = sum(w for f, w in zip(fractions, _WEIGHTS) if f is None)
        for i, w in enumerate(_WEIGHTS):
            if out[i] is not None:
                continue
            out[i] = remainder if open_weight == 0 else remainder * w / open_weight
            remainder -= out[i]
            open_weight -= w
    return [0.0 if f is None else float(f) for f in out]


def _check(p: dict) -> None:
    """H2O-3's checks, client and server (``hex.CreateFrame.execImpl``), with its messages."""
    if p["rows"] < 1 or p["cols"] < 1:
        raise ValueError("create_frame: must have number of rows > 0 and columns > 0")
    for name in ("real_range", "integer_range", "value"):
        if p[name] != int(p[name]):
            raise ValueError(f"create_frame: {name} must be a whole number (H2O-3's server takes an integer)")
    if p["randomize"] and p["value"]:
        raise ValueError("create_frame: cannot set data to a `value` if `randomize` is true")
    f = p["fractions"]
    if (f["categorical"] or f["integer"] or f["time"] or f["string"]) and not p["randomize"]:
        raise ValueError("create_frame: `randomize` should be True when categorical, integer or time columns are used")
    for kind, value in [*f.items(), ("missing", p["missing_fraction"]), ("binary_ones", p["binary_ones_fraction"])]:
        if not 0 <= value <= 1:
            raise ValueError(f"create_frame: {kind}_fraction must be between 0 and 1")
    if f["categorical"] > 0 and p["factors"] <= 1:
        raise ValueError("create_frame: factors must be larger than 2 for categorical data")
    if not 1 <= p["response_factors"] <= 1 << 20:
        raise ValueError(
            "create_frame: response_factors must be either 1 (real-valued response), or >= 2 (factor levels)"
        )
    if p["factors"] > 10_000_000:
        raise ValueError("create_frame: number of factors must be <= 10,000,000")
    if p["real_range"] < 0:
        raise ValueError("create_frame: real_range must be a nonnegative number")


def _counts(fractions: dict, cols: int) -> dict:
    """``FrameCreator``'s column counts: ``int(fraction * cols + 0.1)``, the reals the rest, then a too-many
    count given back in the order categorical, integer, binary, time, string."""
    n = {k: int(fractions[k] * cols + 0.1) for k in ("categorical", "integer", "binary", "time", "string")}
    n["real"] = cols - sum(n.values())
    for k in ("categorical", "integer", "binary", "time", "string"):
        if n["real"] < 0 and n[k] > 0:
            n[k] -= 1
            n["real"] += 1
    return n


def _kinds(p: dict) -> list[str]:
    """The kind of each column (index 0 is the response when there is one)."""
    cols, has_response = p["cols"], p["has_response"]
    first = 1 if has_response else 0
    order = shuffled(list(range(first, cols + first)), p["seed_for_column_types"])
    n = _counts(p["fractions"], cols)
    kinds = ["real"] * (cols + first)
    at = 0
    for k in ("categorical", "integer", "real", "binary", "time", "string"):
        for c in order[at : at + n[k]]:
            kinds[c] = k
        at += n[k]
    if has_response:
        kinds[0] = "response_real" if p["response_factors"] == 1 else "response_enum"
    return kinds


def _column(p: dict, kind: str, c: int) -> tuple[str, np.ndarray, list[str] | None]:
    """(hpcdl type, values, levels) of column ``c``: ``FrameRandomizer.map``'s draw for its kind."""
    state = frame_cells(p["seed"], p["cols"], c, p["rows"])
    rr = float(p["real_range"])
    if kind in ("categorical", "response_enum"):
        k = p["factors"] if kind == "categorical" else p["response_factors"]
        levels = [f"c{c}.l{i}" for i in range(k)] if kind == "categorical" else [str(i) for i in range(k)]
        return "enum", np.floor(next_double(state)[0] * k).astype(np.int32), levels
    if kind == "integer":
        r = int(p["integer_range"])
        return "int", -r + np.floor(next_double(state)[0] * (2 * r + 1)), None
    if kind == "binary":
        return "int", np.where(next_float(state) > p["binary_ones_fraction"], 0.0, 1.0), None
    if kind == "time":
        return "time", np.abs(np.fmod(next_long(state), np.int64(_FIFTY_YEARS_MS))).astype(np.float64), None
    if kind == "response_real" and p["positive_response"]:
        return "real", rr * next_double(state)[0], None
    return "real", rr * (1 - 2 * next_double(state)[0]), None


def create_frame_columns(p: dict) -> Columns:
    """The columns of ``h2o.create_frame`` for resolved parameters ``p`` (see :func:`create_frame`)."""
    _check(p)
    if p["fractions"]["string"] and int(p["fractions"]["string"] * p["cols"] + 0.1) > 0:
        raise ValueError("create_frame: string_fraction > 0: hpcdl frames have no string columns (enum levels only)")
    first = 1 if p["has_response"] else 0
    names = (["response"] if first else []) + [f"C{i}" for i in range(1, p["cols"] + 1)]
    out = Columns(names=names, types=[], values=[])
    if p["randomize"]:
        kinds = _kinds(p)
        made = [_column(p, kind, c) for c, kind in enumerate(kinds)]
    else:
        const = np.full(p["rows"], float(p["value"]))
        made = [("int", const.copy(), None) for _ in names]
    for c, (name, (t, values, levels)) in enumerate(zip(names, made)):
        na = missing_cells(p["seed"], c, 0, p["rows"], p["missing_fraction"])
        if t == "enum":
            values = np.where(na, -1, values).astype(np.int32)
            out.domains[name] = levels
        else:
            values = np.where(na, np.nan, values)
        out.types.append(t)
        out.values.append(values)
    return out


def create_frame(
    frame_id: str | None = None,
    rows: int = 10000,
    cols: int = 10,
    randomize: bool = True,
    real_fraction: float | None = None,
    categorical_fraction: float | None = None,
    integer_fraction: float | None = None,
    binary_fraction: float | None = None,
    time_fraction: float | None = None,
    string_fraction: float | None = None,
    value: float = 0,
    real_range: float = 100,
    factors: int = 100,
    integer_range: int = 100,
    binary_ones_fraction: float = 0.02,
    missing_fraction: float = 0.01,
    has_response: bool = False,
    response_factors: int = 2,
    positive_response: bool = False,
    seed: int | None = None,
    seed_for_column_types: int | None = None,
):
    """H2O-3's ``h2o.create_frame``: a frame of random real, integer, categorical, binary and time columns
    (and a ``response`` first with ``has_response``), H2O-3's parameters and defaults. With a ``seed``
    the values are H2O-3's for the same call; ``seed=None`` draws one. ``frame_id`` names the frame
    in messages (frames are files here)."""
    from . import Frame  # the frame package imports this module: a cycle at import time

    fracs = [real_fraction, categorical_fraction, integer_fraction, binary_fraction, time_fraction, string_fraction]
    for name, f in zip(_KINDS, fracs):
        if f is not None and not 0 <= f <= 1:
            raise ValueError(f"create_frame: {name}_fraction must be between 0 and 1, got {f}")
    resolved = dict(zip(_KINDS, resolve_fractions(fracs)))
    if seed is None or seed == -1:
        seed = random_seed()
    if seed_for_column_types is None or seed_for_column_types == -1:
        seed_for_column_types = seed
    p = dict(
        rows=int(rows),
        cols=int(cols),
        randomize=bool(randomize),
        fractions=resolved,
        value=value,
        real_range=real_range,
        factors=int(factors),
        integer_range=integer_range,
        binary_ones_fraction=float(binary_ones_fraction),
        missing_fraction=float(missing_fraction),
        has_response=bool(has_response),
        response_factors=int(response_factors),
        positive_response=bool(positive_response),
        seed=int(seed),
        seed_for_column_types=int(seed_for_column_types),
    )
    data = create_frame_columns(p)
    return Frame._from_columns(data, frame_id or f"create_frame(seed={p['seed']})", sort_levels=False)
