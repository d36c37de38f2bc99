"""How text becomes typed values: H2O-3's rules, shared by every importer.

CSV fields, Parquet string columns and Python values given to ``H2OFrame`` all go
through these rules (``docs/frame-format.md``, "CSV import rules"): what is a
number, a date/time or a level, which spellings are NA, and the majority rule that
decides a column's type (:class:`ColumnGuess`). Arrays are pyarrow string arrays;
results are numpy arrays (float64 with NaN for NA, int32 codes with -1 for NA).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import FrameError

DEFAULT_NA_STRINGS = ("", "NA", "N/A", "?", "NaN", "nan", "null")


# What counts as a number (pyarrow's string -> float64 cast accepts all of these)
NUMBER_PATTERN = r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])$"
NUMBER_RE = re.compile(NUMBER_PATTERN)

# ISO-like date with optional time: 2007-11-6, 2007/11/06, 2007-11-06 10:00, 2007-11-06T10:00:00.250Z
TIME_PATTERN = (
    r"^(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})"
    r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d{1,9})?)?)?Z?$"
)
TIME_RE = re.compile(TIME_PATTERN)

TYPE_ALIASES = {
    "numeric": "real",
    "real": "real",
    "float": "real",
    "double": "real",
    "number": "real",
    "int": "int",
    "integer": "int",
    "enum": "enum",
    "categorical": "enum",
    "factor": "enum",
    "string": "enum",
    "str": "enum",
    "time": "time",
    "date": "time",
}

# H2O-3's column_types names beyond the CSV importer's (H2OFrame): "unknown" guesses, UUIDs are text here
H2O_TYPE_NAMES = {**TYPE_ALIASES, "long": "int", "uuid": "enum", "bool": "enum", "unknown": None}


def is_number(s: str) -> bool:
    return NUMBER_RE.match(s) is not None


def na_set(na_strings, name: str | None = None) -> frozenset:
    base = set(DEFAULT_NA_STRINGS)
    if na_strings is None:
        return frozenset(base)
    if isinstance(na_strings, Mapping):
        if name is not None and name in na_strings:
            v = na_strings[name]
            return frozenset({""} | ({v} if isinstance(v, str) else set(v)))
        return frozenset(base)
    if isinstance(na_strings, str):
        return frozenset(base | {na_strings})
    return frozenset(base | {str(s) for s in na_strings})


def clean(arr: pa.Array, na: frozenset) -> pa.Array:
    """Trim ASCII whitespace and turn NA spellings into nulls."""
    arr = pc.ascii_trim_whitespace(arr)
    is_na = pc.is_in(arr, value_set=pa.array(sorted(na), type=pa.string()))
    return pc.if_else(is_na, pa.scalar(None, pa.string()), arr)


def present(arr: pa.Array) -> np.ndarray:
    return pc.is_valid(arr).to_numpy(zero_copy_only=False)


def to_float(arr: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
    """float64 values (NaN = NA) and the mask of present values that are not numbers (None: there are none)."""
    try:
        out = pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        is_num = pc.fill_null(pc.match_substring_regex(arr, NUMBER_PATTERN), False)
        out = pc.cast(pc.if_else(is_num, arr, pa.scalar(None, pa.string())), pa.float64())
        stray = present(arr) & ~is_num.to_numpy(zero_copy_only=False)
        return out.to_numpy(zero_copy_only=False).astype(np.float64, copy=False), stray
    return out.to_numpy(zero_copy_only=False).astype(np.float64, copy=False), None


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm), vectorised."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def to_time(arr: pa.Array) -> tuple[np.ndarray, bool]:
    """ms since epoch UTC (NaN = NA) and whether every non-NA value was a valid date/time."""
    n = len(arr)
    out = np.full(n, np.nan)
    ok = pc.fill_null(pc.match_substring_regex(arr, TIME_PATTERN), False).to_numpy(zero_copy_only=False)
    present = ~pc.is_null(arr).to_numpy(zero_copy_only=False)
    all_ok = bool(np.all(ok[present]))
    if not ok.any():
        return out, all_ok
    parts = pc.extract_regex(pc.filter(arr, pa.array(ok)), TIME_PATTERN)

    def field(name: str, default: str = "0") -> np.ndarray:
        f = parts.field(name)
        f = pc.if_else(pc.equal(f, ""), pa.scalar(default), f)
        return pc.cast(f, pa.int64()).to_numpy(zero_copy_only=False)

    y, mo, d = field("y"), field("m"), field("d")
    hh, mm, ss = field("H"), field("M"), field("S")
    frac = parts.field("f")
    frac = pc.if_else(pc.equal(frac, ""), pa.scalar("0"), pc.utf8_replace_slice(frac, 0, 1, "0."))
    fr = pc.cast(frac, pa.float64()).to_numpy(zero_copy_only=False)
    valid = (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= 31) & (hh <= 23) & (mm <= 59) & (ss <= 60)
    days = days_from_civil(y, mo, d)
    ms = days.astype(np.float64) * 86400000.0 + (hh * 3600 + mm * 60 + ss) * 1000.0 + np.round(fr * 1000.0)
    ms[~valid] = np.nan
    out[ok] = ms
    return out, all_ok and bool(valid.all())


class ColumnGuess:
    """Pass-1 counts for one column: numbers, dates/times and other text (NA not counted).

    As H2O-3 decides, the majority wins: numbers when there are at least as many
    numbers as dates/times and as other text, else dates/times when they outnumber
    the text, else enum. The values of a numeric or time column that do not fit
    become NA (``Strays`` reports them).
    """

    __slots__ = ("numbers", "times", "texts", "integral")

    def __init__(self) -> None:
        self.numbers = self.times = self.texts = 0
        self.integral = True  # over the numbers

    def add(self, arr: pa.Array) -> None:
        n_present = len(arr) - arr.null_count
        if n_present == 0:
            return
        vals, stray = to_float(arr)
        n_other = 0 if stray is None else int(stray.sum())
        self.numbers += n_present - n_other
        if self.integral:
            v = vals[np.isfinite(vals)]
            self.integral = bool(np.all(v == np.floor(v)))
        if n_other:
            ms, _ = to_time(arr.filter(pa.array(stray)))
            n_times = int(np.isfinite(ms).sum())
            self.times += n_times
            self.texts += n_other - n_times

    def add_numbers(self, n: int, vals: np.ndarray) -> None:
        """``n`` present values, all numbers, ``vals`` (NaN = NA)."""
        self.numbers += n
        if self.integral and n:
            v = vals[np.isfinite(vals)]
            self.integral = bool(np.all(v == np.floor(v)))

    def add_counts(self, counts, is_num, is_time, is_text, nums) -> None:
        """Distinct values occurring ``counts`` times each, by kind; ``nums`` their numbers."""
        self.numbers += int(counts[is_num].sum())
        self.times += int(counts[is_time].sum())
        self.texts += int(counts[is_text].sum())
        if self.integral:
            v = nums[is_num & np.isfinite(nums)]
            self.integral = bool(np.all(v == np.floor(v)))

    def decide(self) -> str:
        if self.numbers + self.times + self.texts == 0:
            return "real"  # all NA: a real column of NaN (summary flags it)
        if self.numbers >= self.times and self.numbers >= self.texts:
            return "int" if self.integral else "real"
        return "time" if self.times > self.texts else "enum"


class Strays:
    """Values of one column read as NA because they do not fit its type: count, first record, its text."""

    __slots__ = ("count", "first", "text")

    def __init__(self) -> None:
        self.count = 0
        self.first: int | None = None
        self.text: str | None = None

    def add(self, arr: pa.Array, stray: np.ndarray | None, offset: int) -> None:
        n = 0 if stray is None else int(stray.sum())
        if n and self.first is None:
            k = int(np.argmax(stray))
            self.first, self.text = offset + k, arr[k].as_py()
        self.count += n

    def add_levels(self, levels: pa.Array, idx: np.ndarray, stray: np.ndarray, offset: int) -> None:
        """``stray`` marks the block's records whose value (``levels[idx]``) does not fit."""
        n = int(stray.sum())
        if n and self.first is None:
            k = int(np.argmax(stray))
            self.first, self.text = offset + k, levels[int(idx[k])].as_py()
        self.count += n


def encode(arr: pa.Array, domain: dict[str, int]) -> np.ndarray:
    """int32 codes into the growing provisional ``domain`` (level -> code), -1 for NA."""
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    levels = enc.dictionary.to_pylist()
    lut = np.empty(len(levels) + 1, dtype=np.int32)
    for k, s in enumerate(levels):
        code = domain.get(s)
        if code is None:
            code = domain[s] = len(domain)
        lut[k] = code
    lut[-1] = -1
    idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
    return lut[idx]


def normalise_col_types(
    where: str, names: list[str], col_types, *, param: str = "col_types", aliases: Mapping = TYPE_ALIASES
) -> dict[int, str]:
    """Forced types by column index from a dict (name or 0-based index -> type) or a list (one per column,
    None = guess); ``where`` (the file) starts every error message."""
    if col_types is None:
        return {}
    out: dict[int, str] = {}

    def fail(msg: str) -> FrameError:
        return FrameError(f"{where}: {param}: {msg}")

    def put(j: int, t) -> None:
        if t is None:
            return
        key = str(t).strip().lower()
        if key not in aliases:
            known = sorted(k for k, v in aliases.items() if v is not None)
            raise fail(f"unknown type {t!r} for column {names[j]!r} (use one of {known})")
        if aliases[key] is not None:
            out[j] = aliases[key]

    if isinstance(col_types, Mapping):
        for k, t in col_types.items():
            if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
                if not 0 <= k < len(names):
                    raise fail(f"column index {k} out of range 0..{len(names) - 1}")
                put(int(k), t)
            elif k in names:
                put(names.index(k), t)
            else:
                raise fail(f"no column {k!r} (columns: {names})")
        return out
    col_types = list(col_types)
    if len(col_types) != len(names):
        raise fail(f"lists {len(col_types)} types for {len(names)} columns")
    for j, t in enumerate(col_types):
        put(j, t)
    return out


# -- one pass: a block's evidence and values at once (the CSV importer) --------------------
KIND_OF_TYPE = {"real": "num", "int": "num", "time": "time", "enum": "text"}
PLAN_TYPE = {"num": "real", "time": "time", "text": "enum"}


class _LevelPlan:
    """How the distinct values of a block turn into values: their kinds (for the type evidence) and
    lookup tables from a level's index to its value (``lut``) and to whether it is a stray (``bad``)."""

    __slots__ = ("levels", "n", "is_num", "is_time", "is_text", "nums", "lut", "bad")


class BlockColumn:
    """One column of a streamed file: its type evidence (:class:`ColumnGuess`) and its values,
    converted block by block in the storage of a planned kind ("num", "time" or "text").

    A block's values are classified through its distinct values (``dictionary_encode``), so
    each distinct text is trimmed and matched against the number and date patterns once, and
    the counts come from how often each occurs; a block with the same few distinct values as
    an earlier one (a categorical column) reuses that block's classification. A numeric column
    whose block casts to float64 as a whole (no stray token, no NA spelling beyond the reader's
    ``fast_na``) skips that. When the whole file's majority (:meth:`ColumnGuess.decide`) names
    another kind than the plan, the importer converts the column again (:meth:`restart`).
    """

    __slots__ = ("na", "kind", "fast", "guess", "strays", "domain", "_plans")

    MAX_CACHED_LEVELS = 256  # blocks with more distinct values are classified afresh

    def __init__(self, na: frozenset, kind: str, fast_na: frozenset) -> None:
        self.na = na
        self.fast = na == fast_na  # the reader already made every NA spelling of this column null
        self.guess = ColumnGuess()
        self.restart(kind)

    def restart(self, kind: str) -> None:
        self.kind = kind
        self.strays = Strays()
        self.domain: dict[str, int] = {}
        self._plans: dict[tuple, _LevelPlan] = {}

    def convert(self, arr: pa.Array, offset: int) -> np.ndarray:
        """The block's values in the planned kind (float64 NaN = NA, or int32 codes -1 = NA)."""
        if self.kind == "num" and self.fast and arr.type == pa.string():
            try:
                vals = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass  # a stray token, an NA spelling with spaces, ...: the general path below
            else:
                self.guess.add_numbers(len(arr) - arr.null_count, vals)
                return vals
        return self._by_levels(arr, offset)

    def _by_levels(self, arr: pa.Array, offset: int) -> np.ndarray:
        enc = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
        plan = self._level_plan(enc.dictionary)
        idx = pc.fill_null(enc.indices, plan.n).to_numpy(zero_copy_only=False)  # NA: the extra slot
        counts = np.bincount(idx, minlength=plan.n + 1)[:-1]
        self.guess.add_counts(counts, plan.is_num, plan.is_time, plan.is_text, plan.nums)
        if plan.bad is not None:
            self.strays.add_levels(plan.levels, idx, plan.bad[idx], offset)
        return plan.lut[idx]

    def _level_plan(self, dictionary: pa.Array) -> _LevelPlan:
        key = tuple(dictionary.to_pylist()) if len(dictionary) <= self.MAX_CACHED_LEVELS else None
        plan = self._plans.get(key) if key is not None else None
        if plan is None:
            plan = self._classify(dictionary)
            if key is not None:
                self._plans[key] = plan
        return plan

    def _classify(self, dictionary: pa.Array) -> _LevelPlan:
        plan = _LevelPlan()
        plan.levels = levels = clean(dictionary.cast(pa.string()), self.na)
        plan.n = len(levels)
        plan.nums, stray = to_float(levels)
        have = present(levels)
        plan.is_num = have if stray is None else have & ~stray
        ms = np.full(len(levels), np.nan)
        other = have & ~plan.is_num
        if other.any():
            ms[other] = to_time(levels.filter(pa.array(other)))[0]
        plan.is_time = other & np.isfinite(ms)
        plan.is_text = other & ~plan.is_time
        plan.bad = None
        if self.kind == "text":
            plan.lut = np.full(len(levels) + 1, -1, dtype=np.int32)
            for k, s in enumerate(levels.to_pylist()):  # distinct values only
                if s is not None:
                    plan.lut[k] = self.domain.setdefault(s, len(self.domain))
            return plan
        fits = plan.is_num if self.kind == "num" else plan.is_time
        plan.lut = np.append(np.where(fits, plan.nums if self.kind == "num" else ms, np.nan), np.nan)
        bad = np.append(have & ~fits, False)
        plan.bad = bad if bad.any() else None
        return plan
