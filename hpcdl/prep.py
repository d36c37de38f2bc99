"""DataInfo: how frame columns become network inputs (H2O's DataInfo), and class balancing.

Layout of the expanded input vector: one-hot blocks of the categorical
predictors first (sorted by decreasing cardinality, ties in frame order), each
with ``L`` slots (``L - 1`` when ``use_all_factor_levels`` is false: the first
level is the all-zero reference) plus one NA slot; then the numeric predictors
in frame order, transformed as ``(x - norm_sub) * norm_mul``. When the one-hot
width exceeds ``max_categorical_features`` the categorical slots are hashed
into that many buckets instead. Details and the differences from H2O are in
docs/preprocessing.md.

Numpy only: the frame is used through its object (``names``, ``types``,
``domains``, ``stats``, ``read``), never through h5py.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence

import numpy as np

from .params import ParameterError

NUMERIC = ("real", "int", "time")
MISSING_VALUES_HANDLING = ("MeanImputation", "Skip")
UNSEEN_LEVEL_POLICIES = ("NA",)
FORMAT = "hpcdl-datainfo"
VERSION = 1
# transform() reads the frame in groups of columns holding about this many values,
# so a shard is never held twice as float64 (the expanded float32 matrix is the output).
READ_GROUP_VALUES = 1 << 22
ROWS_PER_READ = 65536  # transform_rows: frame rows transformed at a time
# numerics are written into X in blocks of this many rows (a transposed block copy).
NUM_BLOCK_ROWS = 4096
_MASK32 = 0xFFFFFFFF


class PrepError(ValueError):
    """The columns cannot be turned into a training problem; the message names the column."""


class ColumnError(PrepError, ParameterError):
    """``x`` or ``y`` does not fit the training frame: a parameter error (it names x or y) found here."""


def check_columns(frame, x: Sequence[str] | str | None, y: str | None, autoencoder: bool, source: str | None = None):
    """``x`` and ``y`` are columns of the training frame (``source``: the file to name, default the
    frame's display name: the user's file, or for a derived frame what it came from, never the
    cache or scratch file), each predictor listed once, and ``y`` is not also a predictor (an
    autoencoder's x may hold y, booklet 4.2). The one check of them: the API, job files and
    ``DataInfo.fit`` all come here."""
    where = source or frame.display_name
    predictors = [x] if isinstance(x, str) else list(x or [])
    unknown = [c for c in predictors if c not in frame.names]
    if unknown:
        raise ColumnError(f"{where}: x: column(s) {unknown} not found (columns: {list(frame.names)})", "x")
    if y is not None and y not in frame.names:
        raise ColumnError(f"{where}: response column y={y!r} not found ({_hint(y, frame.names)})", "y")
    if y is not None and y in predictors and not autoencoder:
        raise ColumnError(f"{where}: y={y!r} is also listed in x; the response cannot be a predictor", "y")
    dups = sorted({c for c in predictors if predictors.count(c) > 1})
    if dups:
        raise ColumnError(f"{where}: predictor column(s) {dups} listed more than once", "x")


def _hint(name: str, names: Sequence[str]) -> str:
    """The closest column name, else the list of columns: what a mistyped name gets told."""
    close = difflib.get_close_matches(name, names, n=1)
    return f"did you mean {close[0]!r}?" if close else f"columns: {list(names)}"


def check_special_columns(frame, columns: dict[str, str], y: str | None) -> None:
    """The training frame's weights and offset columns (``columns``: parameter name -> column), as
    H2O-3's ModelBuilder checks them: numeric, no NA; weights >= 0 with one > 0; not the response.
    Read from the frame's stored statistics, named by the user's file."""
    where = frame.display_name
    for name, col in columns.items():
        role = name.split("_")[0]
        if col not in frame.names:
            raise ColumnError(f"{where}: {name}={col!r} not found ({_hint(col, frame.names)})", name)
        if col == y:
            raise ColumnError(f"{where}: {name}={col!r} is the response; it cannot also be the {role}", name)
        st = frame.stats[col]
        if frame.type(col) == "enum":
            raise ColumnError(f"{where}: {name}={col!r} is categorical; the {role} must be numeric", name)
        if int(st.get("na_count", 0)) > 0:
            raise ColumnError(f"{where}: {name}={col!r} has missing values; H2O-3 refuses them", name)
        if role == "weights" and float(st["min"]) < 0:
            raise ColumnError(
                f"{where}: {name}={col!r} has negative weights (min {st['min']}); weights must be >= 0", name
            )
        if role == "weights" and float(st["max"]) <= 0:
            raise ColumnError(f"{where}: {name}={col!r}: every weight is 0; at least one must be > 0", name)


def _check_fit_options(missing_values_handling, unseen_level_policy, max_categorical_features) -> None:
    if missing_values_handling not in MISSING_VALUES_HANDLING:
        raise PrepError(
            f"missing_values_handling must be one of {MISSING_VALUES_HANDLING}, got {missing_values_handling!r}"
        )
    if unseen_level_policy not in UNSEEN_LEVEL_POLICIES:
        raise PrepError(f"unseen_level_policy must be one of {UNSEEN_LEVEL_POLICIES}, got {unseen_level_policy!r}")
    if int(max_categorical_features) < 1:
        raise PrepError(f"max_categorical_features must be >= 1, got {max_categorical_features}")


def _kept_predictors(frame, x: list[str], types: dict, ignore_const_cols: bool) -> tuple[list[str], dict[str, str]]:
    """The predictors that stay (frame order) and the dropped ones with why (all NA, constant)."""
    where = frame.display_name
    dropped: dict[str, str] = {}
    kept = []
    for col in x:
        st = frame.stats[col]
        all_na = int(st.get("na_count", 0)) >= frame.nrow
        if types[col] == "enum":
            constant = not all_na and int(np.count_nonzero(st.get("counts", []))) <= 1
        else:
            constant = not all_na and float(st.get("min")) == float(st.get("max"))
        if all_na and not ignore_const_cols:
            raise PrepError(f"{where}: predictor column {col!r} is all NA; drop it or set ignore_const_cols=True")
        if ignore_const_cols and (all_na or constant):
            dropped[col] = "all NA" if all_na else "constant"
            continue
        kept.append(col)
    if not kept:
        raise PrepError(
            f"{where}: no predictor columns left" + (f" (dropped by ignore_const_cols: {dropped})" if dropped else "")
        )
    return kept, dropped


def _predictor_layout(
    frame, kept: list[str], types: dict, use_all_factor_levels, standardize, autoencoder, sparse=False
) -> dict:
    """The input layout's fields of DataInfo: categoricals first (by decreasing cardinality), then numerics."""
    cats = [c for c in kept if types[c] == "enum"]
    cats.sort(key=lambda c: -len(frame.domains[c]))  # sort is stable: ties keep frame order
    nums = [c for c in kept if types[c] != "enum"]
    domains = {c: [str(v) for v in frame.domains[c]] for c in cats}
    widths = [len(domains[c]) - (0 if use_all_factor_levels else 1) + 1 for c in cats]
    offsets = [int(v) for v in np.cumsum([0] + widths)[:-1]] if cats else []
    sub, mul, impute = [], [], []
    for c in nums:
        st = frame.stats[c]
        s, m, fill = _numeric_transform(
            float(st["mean"]), float(st["sd"]), float(st["min"]), float(st["max"]), standardize, autoencoder, sparse
        )
        sub.append(s)
        mul.append(m)
        impute.append(fill)
    return {
        "predictors": cats + nums,
        "cat_cols": cats,
        "num_cols": nums,
        "domains": domains,
        "cat_offsets": offsets,
        "cat_widths": widths,
        "cat_na_seen": [int(frame.stats[c].get("na_count", 0)) > 0 for c in cats],
        "use_all_factor_levels": bool(use_all_factor_levels),
        "norm_sub": sub,
        "norm_mul": mul,
        "num_impute": impute,
        "column_types": {c: types[c] for c in cats + nums},
    }


def _level_string(value: float) -> str:
    """A numeric value as H2O's asfactor names it (1.0 -> "1", 0.5 -> "0.5")."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _fmix32(h) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (vectorized, uint64 arithmetic masked to 32 bits)."""
    h = np.asarray(h, dtype=np.uint64) & np.uint64(_MASK32)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & np.uint64(_MASK32)
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & np.uint64(_MASK32)
    h ^= h >> np.uint64(16)
    return h


def hash_buckets_for(column_position: int, width: int, seed: int, buckets: int) -> np.ndarray:
    """Bucket of every slot of one categorical block under ``max_categorical_features`` hashing.

    ``bucket(k, s) = fmix32((fmix32(k XOR seed32) + s) mod 2**32) mod M`` with ``k`` the
    column's position among the (cardinality-sorted) categoricals, ``s`` the slot in its
    one-hot block (the NA slot included) and ``seed32 = seed mod 2**32``.
    """
    seed32 = int(seed) & _MASK32
    base = int(_fmix32(np.uint64((int(column_position) ^ seed32) & _MASK32)))
    slots = np.arange(width, dtype=np.uint64)
    h = _fmix32((slots + np.uint64(base)) & np.uint64(_MASK32))
    return (h % np.uint64(buckets)).astype(np.int64)


def _is_string_array(values: np.ndarray) -> bool:
    return values.dtype.kind in "OUS"


def _strings_to_codes(values: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """Strings (None / NaN = NA) -> codes of ``index``; NA and unknown strings -> -1."""
    na_key = "\x00NA"  # cannot collide with a level: level strings come from text files
    keys = [na_key if (v is None or (isinstance(v, float) and math.isnan(v))) else str(v) for v in values.ravel()]
    if not keys:
        return np.zeros(0, dtype=np.int64)
    uniq, inverse = np.unique(np.array(keys, dtype=str), return_inverse=True)
    lookup = np.array([-1 if u == na_key else index.get(u, -1) for u in uniq], dtype=np.int64)
    return lookup[inverse.reshape(-1)]


def _numbers_to_codes(values: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """Numbers (a numeric column scored against a categorical one) -> codes by their asfactor string."""
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape, -1, dtype=np.int64)
    ok = ~np.isnan(v)
    if ok.any():
        uniq, inverse = np.unique(v[ok], return_inverse=True)
        lookup = np.array([index.get(_level_string(u), -1) for u in uniq], dtype=np.int64)
        out[ok] = lookup[inverse.reshape(-1)]
    return out


def _numeric_transform(
    mean: float, sd: float, lo: float, hi: float, standardize: bool, autoencoder: bool, sparse: bool = False
) -> tuple[float, float, float]:
    """(norm_sub, norm_mul, imputation value) of one numeric column from its statistics:
    NORMALIZE (autoencoders: (x - mean) / (max - min)), STANDARDIZE ((x - mean) / sd),
    DESCALE (``sparse=True``: x / sd, zeros stay zeros) or NONE, as H2O-3's Deep Learning chooses
    them (DeepLearning.java; DataInfo.java's DESCALE: normSub 0, normMul 1/sigma); a zero or
    undefined spread scales by 1, an undefined mean imputes 0."""
    if standardize and autoencoder:
        spread = hi - lo
        sub, mul = mean, (1.0 / spread if spread > 0 and np.isfinite(spread) else 1.0)
    elif standardize:
        sub, mul = (0.0 if sparse else mean), (1.0 / sd if sd > 0 and np.isfinite(sd) else 1.0)
    else:
        sub, mul = 0.0, 1.0
    return sub, mul, (mean if np.isfinite(mean) else 0.0)


def _column_stats(v: np.ndarray, w: np.ndarray | None) -> tuple[float, float, float, float] | None:
    """(mean, sd, min, max) of a column's values, None when it has none. Without weights the sample sd,
    as the frame statistics; with weights H2O-3's BasicStats (water/util/MathUtils.java): the weighted
    mean and n/(n-1) x the weighted mean square deviation, n the rows of nonzero weight, which alone count."""
    keep = np.isfinite(v) if w is None else np.isfinite(v) & (w != 0)
    v = v[keep]
    if v.size == 0:
        return None
    if w is None:
        return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, float(v.min()), float(v.max())
    w = w[keep]
    mean = float(np.sum(w * v) / np.sum(w))
    var = v.size / (v.size - 1.0) * float(np.sum(w * (v - mean) ** 2) / np.sum(w)) if v.size > 1 else 0.0
    return mean, math.sqrt(var), float(v.min()), float(v.max())


class DataInfo:
    """The fitted transform. Every field is a plain list/dict/str/number (saved with the model, no pickle).

    Attributes for the trainer: ``n_inputs`` (units[0]), ``input_names``, ``predictors`` (adapted order),
    ``dropped``, ``classification``, ``autoencoder``, ``response``, ``response_domain``, ``n_classes``
    (1 unless classification, as H2O's nclasses()), ``n_outputs`` (width of the output layer).
    """

    FIELDS = (
        "predictors",
        "cat_cols",
        "num_cols",
        "domains",
        "cat_offsets",
        "cat_widths",
        "cat_na_seen",
        "use_all_factor_levels",
        "norm_sub",
        "norm_mul",
        "num_impute",
        "response",
        "response_type",
        "response_domain",
        "response_numeric_levels",
        "classification",
        "autoencoder",
        "y_sub",
        "y_mul",
        "missing_values_handling",
        "dropped",
        "hash_buckets",
        "seed",
        "column_types",
        "unseen_level_policy",
        "standardize",
        "sparse",
        "max_categorical_features",
        "weights_column",
        "offset_column",
    )

    def __init__(self, **fields) -> None:
        unknown = set(fields) - set(self.FIELDS)
        if unknown:
            raise PrepError(f"DataInfo: unknown field(s) {sorted(unknown)}")
        for name in self.FIELDS:
            setattr(self, name, fields.get(name))
        self._derive()

    def _derive(self) -> None:
        self.predictors = list(self.predictors or [])
        self.cat_cols = list(self.cat_cols or [])
        self.num_cols = list(self.num_cols or [])
        self.domains = {str(k): [str(x) for x in v] for k, v in (self.domains or {}).items()}
        self.cat_offsets = [int(v) for v in (self.cat_offsets or [])]
        self.cat_widths = [int(v) for v in (self.cat_widths or [])]
        self.cat_na_seen = [bool(v) for v in (self.cat_na_seen or [])]
        self.dropped = dict(self.dropped or {})
        self.column_types = dict(self.column_types or {})
        self.hash_buckets = int(self.hash_buckets or 0)
        self.seed = int(self.seed or 0)
        self.y_sub = float(0.0 if self.y_sub is None else self.y_sub)
        self.y_mul = float(1.0 if self.y_mul is None else self.y_mul)
        self.classification = bool(self.classification)
        self.sparse = bool(self.sparse)  # None in files written before sparse=True was supported
        self.autoencoder = bool(self.autoencoder)
        self.use_all_factor_levels = bool(True if self.use_all_factor_levels is None else self.use_all_factor_levels)
        self.missing_values_handling = self.missing_values_handling or "MeanImputation"
        self.unseen_level_policy = self.unseen_level_policy or "NA"
        self.norm_sub = np.asarray(self.norm_sub if self.norm_sub is not None else [], dtype=np.float64)
        self.norm_mul = np.asarray(self.norm_mul if self.norm_mul is not None else [], dtype=np.float64)
        self.num_impute = np.asarray(self.num_impute if self.num_impute is not None else [], dtype=np.float64)
        if not (len(self.norm_sub) == len(self.norm_mul) == len(self.num_impute) == len(self.num_cols)):
            raise PrepError("DataInfo: norm_sub, norm_mul, num_impute and num_cols differ in length")
        if not (len(self.cat_offsets) == len(self.cat_widths) == len(self.cat_cols)):
            raise PrepError("DataInfo: cat_offsets, cat_widths and cat_cols differ in length")
        if self.response_domain is not None:
            self.response_domain = [str(v) for v in self.response_domain]
        if self.response_numeric_levels is not None:
            self.response_numeric_levels = [float(v) for v in self.response_numeric_levels]
        self.cat_width = int(sum(self.cat_widths))
        self.cat_input_width = self.hash_buckets if self.hash_buckets else self.cat_width
        self.n_inputs = self.cat_input_width + len(self.num_cols)
        names: list[str] = []
        if self.hash_buckets:
            names += [f"cat_hash.{k}" for k in range(self.hash_buckets)]
            self._hash_tables = [
                hash_buckets_for(k, w, self.seed, self.hash_buckets) for k, w in enumerate(self.cat_widths)
            ]
        else:
            for col in self.cat_cols:
                levels = self.domains[col] if self.use_all_factor_levels else self.domains[col][1:]
                names += [f"{col}.{lev}" for lev in levels] + [f"{col}.missing(NA)"]
            self._hash_tables = []
        self.input_names = names + list(self.num_cols)
        self._index = {c: {lev: i for i, lev in enumerate(self.domains[c])} for c in self.cat_cols}
        self._num_pos = {c: j for j, c in enumerate(self.num_cols)}
        self._cat_pos = {c: k for k, c in enumerate(self.cat_cols)}
        if self.classification:
            self.n_classes = len(self.response_domain or [])
            self._response_index = {lev: i for i, lev in enumerate(self.response_domain or [])}
        else:
            self.n_classes = 1
            self._response_index = {}
        self.n_outputs = self.n_inputs if self.autoencoder else self.n_classes

    def __repr__(self) -> str:
        kind = (
            "autoencoder"
            if self.autoencoder
            else f"classification of {self.response!r} ({self.n_classes} classes)"
            if self.classification
            else f"regression of {self.response!r}"
        )
        return (
            f"DataInfo({kind}; {len(self.cat_cols)} categorical + {len(self.num_cols)} numeric predictors "
            f"-> {self.n_inputs} inputs; dropped {sorted(self.dropped)})"
        )

    # -- fitting --------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        frame,
        x=None,
        y=None,
        *,
        autoencoder=False,
        classification=None,
        standardize=True,
        sparse=False,
        use_all_factor_levels=True,
        missing_values_handling="MeanImputation",
        ignore_const_cols=True,
        max_categorical_features=2**31 - 1,
        seed=0,
        unseen_level_policy="NA",
    ) -> DataInfo:
        """Fit on a frame from the statistics the frame stored at import (no pass over the data,
        except reading the response for ``classification=True`` on a numeric response and the
        columns with NAs for the Skip-mode row check)."""
        _check_fit_options(missing_values_handling, unseen_level_policy, max_categorical_features)
        check_columns(frame, x, y, autoencoder)
        x = [n for n in frame.names if n != y] if x is None else [x] if isinstance(x, str) else list(x)
        if autoencoder:
            y = None  # an autoencoder has no response; a given y only stays out of the default x
            use_all_factor_levels = True
            if classification:
                raise PrepError("classification=True does not apply to an autoencoder")
        types = {n: frame.type(n) for n in frame.names}
        kept, dropped = _kept_predictors(frame, x, types, ignore_const_cols)
        info = _predictor_layout(frame, kept, types, use_all_factor_levels, standardize, autoencoder, sparse)
        info.update(
            {
                "response": y,
                "response_type": types[y] if y is not None else None,
                "response_domain": None,
                "response_numeric_levels": None,
                "classification": False,
                "autoencoder": bool(autoencoder),
                "y_sub": 0.0,
                "y_mul": 1.0,
                "missing_values_handling": missing_values_handling,
                "dropped": dropped,
                "hash_buckets": 0,
                "seed": int(seed),
                "unseen_level_policy": unseen_level_policy,
                "standardize": bool(standardize),
                "sparse": bool(sparse),
                "max_categorical_features": int(max_categorical_features),
            }
        )
        if sum(info["cat_widths"]) > int(max_categorical_features):
            info["hash_buckets"] = int(max_categorical_features)
        if y is not None:
            cls._fit_response(info, frame, y, types[y], classification)
        elif classification and not autoencoder:
            raise PrepError("classification=True needs a response column y")
        dinfo = cls(**info)
        if missing_values_handling == "Skip":
            dinfo._check_skip_rows(frame)
        return dinfo

    @staticmethod
    def _fit_response(info: dict, frame, y: str, ytype: str, classification) -> None:
        where = frame.display_name
        st = frame.stats[y]
        if frame.nrow == 0 or int(st.get("na_count", 0)) >= frame.nrow:
            raise PrepError(f"{where}: response column {y!r} is all NA")
        if ytype == "enum":
            if classification is False:
                raise PrepError(
                    f"{where}: response {y!r} is categorical; classification=False needs a numeric response"
                )
            info["classification"] = True
            info["response_domain"] = [str(v) for v in frame.domains[y]]
            present = int(np.count_nonzero(st.get("counts", [])))
        elif classification:
            values = np.asarray(frame.column(y), dtype=np.float64)
            levels = np.unique(values[~np.isnan(values)])
            info["classification"] = True
            info["response_numeric_levels"] = [float(v) for v in levels]
            info["response_domain"] = [_level_string(v) for v in levels]
            present = len(levels)
        else:
            sd, mean = float(st["sd"]), float(st["mean"])
            if not float(st["min"]) < float(st["max"]):
                raise PrepError(
                    f"{where}: response {y!r} is constant ({st['min']}); a regression needs a varying response"
                )
            info["y_sub"] = mean if info["standardize"] else 0.0
            info["y_mul"] = (1.0 / sd if sd > 0 else 1.0) if info["standardize"] else 1.0
            return
        if present < 2:
            raise PrepError(
                f"{where}: response {y!r} has {present} class(es) present "
                f"(domain {info['response_domain']}); classification needs at least 2"
            )

    def _check_skip_rows(self, frame) -> None:
        """Skip mode: fail at fit time if no row is complete (checked chunk by chunk, NA columns only)."""
        cols = [c for c in self.predictors if int(frame.stats[c].get("na_count", 0)) > 0]
        if self.response is not None and int(frame.stats[self.response].get("na_count", 0)) > 0:
            cols.append(self.response)
        if not cols:
            return
        step = 65536
        for start in range(0, frame.nrow, step):
            stop = min(frame.nrow, start + step)
            ok = np.ones(stop - start, dtype=bool)
            for c in cols:
                v = frame.column(c, start, stop)
                ok &= (v >= 0) if frame.type(c) == "enum" else ~np.isnan(v)
                if not ok.any():
                    break
            if ok.any():
                return
        raise PrepError(
            f"{frame.display_name}: missing_values_handling='Skip' leaves no training rows: every row has an "
            f"NA in one of {cols}; use MeanImputation or drop those columns"
        )

    # -- transforming -----------------------------------------------------------
    def transform(self, frame, start: int = 0, stop: int | None = None):
        """Rows [start, stop) of a frame -> (X float32 (n, n_inputs), y, valid); reads only that range.

        Columns are read in groups (about ``READ_GROUP_VALUES`` values at a time), so only the
        output matrix is ever held whole.
        """
        where = frame.display_name
        missing = [c for c in self.predictors if c not in frame.names]
        if missing:
            raise PrepError(f"{where}: column(s) {missing} used by the model are missing from this frame")
        stop = frame.nrow if stop is None else min(int(stop), frame.nrow)
        start = max(0, int(start))
        n = max(0, stop - start)
        X = np.zeros((n, self.n_inputs), dtype=np.float32)
        valid = np.ones(n, dtype=bool)
        ftype = {c: frame.type(c) for c in self.predictors}
        per_group = max(1, READ_GROUP_VALUES // max(1, n))
        cols = list(self.predictors)
        for g in range(0, len(cols), per_group):
            group = cols[g : g + per_group]
            data = frame.read(group, start, stop) if n else {c: np.zeros(0) for c in group}
            doms = {c: frame.domains[c] for c in group if ftype[c] == "enum"}
            self._fill(X, valid, data, doms, where)
        y = None
        if self.response is not None and self.response in frame.names:
            raw = frame.column(self.response, start, stop) if n else np.zeros(0)
            rdom = frame.domains.get(self.response) if frame.type(self.response) == "enum" else None
            y = self._response_values(raw, rdom, where)
            valid &= (y >= 0) if self.classification else ~np.isnan(y)
        elif self.response is not None:
            valid[:] = False  # no response column: rows can be scored, not trained on
        return X, y, valid

    def transform_rows(self, frame, rows: np.ndarray | None = None, *, usable_only: bool = False):
        """:meth:`transform` of some rows of a frame (sorted indices; None = all), read in blocks of
        ``ROWS_PER_READ`` rows, so memory holds the output and one block. ``usable_only``: drop the
        rows ``valid`` marks unusable (and return ``valid`` all True)."""
        Xs, ys, vs = [], [], []
        for start in range(0, frame.nrow, ROWS_PER_READ):
            stop = min(frame.nrow, start + ROWS_PER_READ)
            local = None if rows is None else rows[(rows >= start) & (rows < stop)] - start
            if local is not None and local.size == 0:
                continue
            X, y, valid = self.transform(frame, start, stop)
            keep = np.arange(stop - start) if local is None else local
            if usable_only:
                keep = keep[valid[keep]]
            Xs.append(X[keep])
            vs.append(valid[keep])
            ys.append(None if y is None else y[keep])
        if not Xs:
            return np.zeros((0, self.n_inputs), np.float32), None, np.zeros(0, bool)
        y = None if ys[0] is None else np.concatenate(ys)
        return np.concatenate(Xs), y, np.concatenate(vs)

    def transform_arrays(self, columns: dict, domains: dict | None = None, where: str = "data"):
        """In-memory columns -> (X, y, valid), as :meth:`transform`.

        A categorical predictor may be given as strings (None/NaN = NA), as int codes into
        ``domains[col]`` (the other frame's domain, mapped by level string), as int codes of the
        training domain when no domain is given, or as numbers (matched by their asfactor string).
        """
        domains = dict(domains or {})
        missing = [c for c in self.predictors if c not in columns]
        if missing:
            raise PrepError(f"{where}: column(s) {missing} used by the model are missing")
        lengths = {c: len(columns[c]) for c in self.predictors}
        if self.response is not None and self.response in columns:
            lengths[self.response] = len(columns[self.response])
        if len(set(lengths.values())) > 1:
            raise PrepError(f"{where}: columns have different lengths {lengths}")
        n = next(iter(lengths.values())) if lengths else 0
        X = np.zeros((n, self.n_inputs), dtype=np.float32)
        valid = np.ones(n, dtype=bool)
        self._fill(X, valid, columns, domains, where)
        y = None
        if self.response is not None and self.response in columns:
            y = self._response_values(columns[self.response], domains.get(self.response), where)
            valid &= (y >= 0) if self.classification else ~np.isnan(y)
        elif self.response is not None:
            valid[:] = False
        return X, y, valid

    def _cat_codes(self, col: str, values, domain, where: str) -> np.ndarray:
        """Codes of the training domain; NA and unseen levels (policy "NA") -> -1."""
        values = np.asarray(values)
        train = self.domains[col]
        if _is_string_array(values):
            return _strings_to_codes(values, self._index[col])
        if domain is not None:
            v = values.astype(np.int64)
            if list(domain) == train:
                return np.where((v >= 0) & (v < len(train)), v, -1)
            lookup = np.array([self._index[col].get(str(lev), -1) for lev in domain] + [-1], dtype=np.int64)
            return lookup[np.where((v < 0) | (v >= len(domain)), len(domain), v)]
        if values.dtype.kind in "iu":
            v = values.astype(np.int64)
            return np.where((v >= 0) & (v < len(train)), v, -1)
        if values.dtype.kind == "f":
            return _numbers_to_codes(values, self._index[col])
        raise PrepError(f"{where}: column {col!r}: cannot read dtype {values.dtype} as categorical")

    def _fill(self, X: np.ndarray, valid: np.ndarray, columns: dict, domains: dict, where: str) -> None:
        """Write the inputs of the predictors present in ``columns`` into X; update the Skip mask."""
        skip = self.missing_values_handling == "Skip"
        n = X.shape[0]
        rows = np.arange(n)
        nums = []
        for col, values in columns.items():
            k = self._cat_pos.get(col)
            if k is None:
                if col in self._num_pos:
                    nums.append(col)
                continue
            codes = self._cat_codes(col, values, domains.get(col), where)
            na = codes < 0
            if skip:
                valid &= ~na
            width = self.cat_widths[k]
            slot = codes if self.use_all_factor_levels else codes - 1  # -1: the reference level, all zeros
            slot = np.where(na, width - 1, slot)
            on = slot >= 0
            if self.hash_buckets:
                bucket = self._hash_tables[k][slot[on]]
                X[rows[on], bucket] += 1.0  # one bucket per row per column: no repeated index here
            else:
                X[rows[on], self.cat_offsets[k] + slot[on]] = 1.0
        if not nums:
            return
        block = np.empty((len(nums), min(n, NUM_BLOCK_ROWS)), dtype=np.float64)
        pos = np.array([self._num_pos[c] for c in nums])
        sub, mul, imp = self.norm_sub[pos][:, None], self.norm_mul[pos][:, None], self.num_impute[pos][:, None]
        arrays = []
        for col in nums:
            if col in domains or _is_string_array(np.asarray(columns[col][:0])):
                raise PrepError(f"{where}: column {col!r} is categorical here but numeric in the training frame")
            arrays.append(columns[col])
        contiguous = np.all(np.diff(pos) == 1)
        for r0 in range(0, n, NUM_BLOCK_ROWS):
            r1 = min(n, r0 + NUM_BLOCK_ROWS)
            b = block[:, : r1 - r0]
            for i, a in enumerate(arrays):
                b[i] = a[r0:r1]
            na = np.isnan(b)
            if na.any():
                if skip:
                    valid[r0:r1] &= ~na.any(axis=0)
                np.copyto(b, np.broadcast_to(imp, b.shape), where=na)
            b -= sub
            b *= mul
            if contiguous:
                base = self.cat_input_width + int(pos[0])
                X[r0:r1, base : base + len(nums)] = b.T
            else:
                X[r0:r1, self.cat_input_width + pos] = b.T

    def _response_values(self, raw, domain, where: str) -> np.ndarray:
        """float32 class codes (-1 = NA or unseen class) or the standardized response (NaN = NA)."""
        raw = np.asarray(raw)
        if self.classification:
            if _is_string_array(raw):
                codes = _strings_to_codes(raw, self._response_index)
            elif domain is not None:
                v = raw.astype(np.int64)
                lookup = np.array([self._response_index.get(str(lev), -1) for lev in domain] + [-1], dtype=np.int64)
                codes = lookup[np.where((v < 0) | (v >= len(domain)), len(domain), v)]
            elif self.response_numeric_levels is not None or raw.dtype.kind == "f":
                codes = _numbers_to_codes(raw, self._response_index)
            else:
                v = raw.astype(np.int64)
                codes = np.where((v >= 0) & (v < self.n_classes), v, -1)
            return codes.astype(np.float32)
        if domain is not None or _is_string_array(raw):
            raise PrepError(
                f"{where}: response {self.response!r} is categorical here but numeric (regression) "
                "in the training frame"
            )
        v = raw.astype(np.float64)
        return ((v - self.y_sub) * self.y_mul).astype(np.float32)

    # -- observation weights and offsets (docs/differences.md, "Observation weights and offsets") --
    def special_rows(self, frame, rows: np.ndarray | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(weights, offsets) of the frame rows ``rows`` (None = all), float64; None where the model
        has no such column. A frame without the weights column weighs every row 1 (as H2O-3 does for
        a scoring frame); one without the offset column is an error, as in H2O-3: the offset is part
        of the prediction."""
        where = frame.display_name
        out = []
        for role, col in (("weights", self.weights_column), ("offset", self.offset_column)):
            if not col:
                out.append(None)
                continue
            if col not in frame.names:
                if role == "offset":
                    raise PrepError(
                        f"{where}: offset column {col!r} (the model's offset_column) is missing; "
                        "add it (a column of zeros to disable the offset)"
                    )
                n = frame.nrow if rows is None else len(rows)
                out.append(np.ones(n))
                continue
            out.append(self._special_values(frame, col, role, rows))
        return out[0], out[1]

    def standardization_weights(self, frame) -> np.ndarray | None:
        """The training frame's weights when they change the standardization: None when there are
        none or all are equal (equal weights train exactly as no weights)."""
        w = self.special_rows(frame)[0] if self.weights_column else None
        return None if w is None or w.size == 0 or np.all(w == w[0]) else w

    @staticmethod
    def _special_values(frame, col: str, role: str, rows) -> np.ndarray:
        where = frame.display_name
        if frame.type(col) == "enum":
            raise PrepError(f"{where}: {role} column {col!r} is categorical; {role} must be numeric")
        v = np.asarray(frame.column(col), dtype=np.float64)
        v = v if rows is None else v[np.asarray(rows, dtype=np.int64)]
        bad = np.flatnonzero(np.isnan(v) if role == "offset" else v < 0)
        if bad.size:
            what = "missing values" if role == "offset" else "negative values"
            raise PrepError(f"{where}: {role} column {col!r} has {what} ({bad.size} rows); H2O-3 refuses them")
        return v

    # -- back to the user's scale -------------------------------------------------
    def response_to_original(self, pred: np.ndarray) -> np.ndarray:
        """Regression: network output (standardized) -> the response's scale (``out / mul + sub``)."""
        return np.asarray(pred, dtype=np.float64) / self.y_mul + self.y_sub

    def response_to_standardized(self, y: np.ndarray) -> np.ndarray:
        return (np.asarray(y, dtype=np.float64) - self.y_sub) * self.y_mul

    def reconstruction_to_original(self, out: np.ndarray) -> dict[str, np.ndarray]:
        """Autoencoder output -> columns ``reconstr_<input name>``; numerics back by ``out / mul + sub``,
        one-hot (or hashed) outputs stay raw activations."""
        out = np.asarray(out)
        if out.ndim != 2 or out.shape[1] != self.n_inputs:
            raise PrepError(f"reconstruction has shape {out.shape}; expected (rows, {self.n_inputs})")
        cols = {}
        base = self.cat_input_width
        for k, name in enumerate(self.input_names):
            v = out[:, k].astype(np.float64)
            if k >= base:
                j = k - base
                v = v / self.norm_mul[j] + self.norm_sub[j]
            cols[f"reconstr_{name}"] = v
        return cols

    def untrained_inputs(self) -> list[int]:
        """NA slots of categoricals that had no NA in training (they only ever see unseen levels)."""
        if self.hash_buckets:
            return []
        return [
            self.cat_offsets[k] + self.cat_widths[k] - 1 for k in range(len(self.cat_cols)) if not self.cat_na_seen[k]
        ]

    # -- persistence --------------------------------------------------------------
    def refit_numeric(self, frame, rows: np.ndarray, weights: np.ndarray | None = None) -> DataInfo:
        """A copy whose numeric transform (means, scales, imputation values) comes from the
        frame rows ``rows`` alone: H2O's cross-validation fold models compute those from
        their own training rows. Column layout, domains and dropped columns stay, so fold
        and main models read the same expanded inputs.

        ``weights`` (one per frame row): observation weights, which H2O-3's Deep Learning uses for
        the predictors' and a regression response's mean and sd (DeepLearning.java,
        ``updateWeightedSigmaAndMean``; not with an offset): rows of weight 0 count for nothing."""
        d = self.to_dict()
        sub, mul, impute = list(self.norm_sub), list(self.norm_mul), list(self.num_impute)
        w = None if weights is None else np.asarray(weights, dtype=np.float64)[rows]
        for k, col in enumerate(self.num_cols):
            stats = _column_stats(np.asarray(frame.column(col), dtype=np.float64)[rows], w)
            if stats is not None:  # else no value in these rows: keep the whole frame's statistics
                sub[k], mul[k], impute[k] = _numeric_transform(*stats, self.standardize, self.autoencoder, self.sparse)
        d.update(norm_sub=sub, norm_mul=mul, num_impute=impute)
        refit_response = w is not None and self.standardize and not self.offset_column
        if refit_response and self.response and not self.classification and not self.autoencoder:
            stats = _column_stats(np.asarray(frame.column(self.response), dtype=np.float64)[rows], w)
            if stats is not None:
                d.update(y_sub=stats[0], y_mul=1.0 / stats[1] if stats[1] > 0 else 1.0)
        return DataInfo.from_dict(d)

    def to_dict(self) -> dict:
        """Plain lists/dicts/str/numbers only (JSON- and HDF5-attribute friendly)."""
        out = {"format": FORMAT, "version": VERSION}
        for name in self.FIELDS:
            v = getattr(self, name)
            if isinstance(v, np.ndarray):
                v = [float(e) for e in v]
            elif isinstance(v, dict):
                v = {str(k): (list(e) if isinstance(e, (list, tuple)) else e) for k, e in v.items()}
            elif isinstance(v, (list, tuple)):
                v = list(v)
            out[name] = v
        return out

    @classmethod
    def from_dict(cls, d: dict) -> DataInfo:
        fmt, version = d.get("format", FORMAT), int(d.get("version", VERSION))
        if fmt != FORMAT:
            raise PrepError(f"not a DataInfo dict (format {fmt!r})")
        if version > VERSION:
            raise PrepError(f"DataInfo version {version} is newer than this hpcdl understands ({VERSION})")
        return cls(**{k: d.get(k) for k in cls.FIELDS})


# -- class balancing (docs/preprocessing.md) ----------------------------------------
def _row_uniforms(n: int, seed: int) -> np.ndarray:
    """One U[0,1) per row from splitmix64(row index + seed): each row's draw depends only on (row, seed)."""
    with np.errstate(over="ignore"):
        z = (np.arange(n, dtype=np.uint64) + np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF)) * np.uint64(1)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def balance_classes(
    y_codes: np.ndarray, n_classes: int, class_sampling_factors=None, max_after_balance_size: float = 5.0, seed: int = 0
):
    """Over/under-sample rows per class (H2O's sampleFrameStratified).

    Returns ``(row_indices, prior, sampled_prior)``: indices into ``y_codes`` (sorted, repeats for
    oversampled rows), the class distribution before and after. Ratios equalize the classes by
    default (the majority class gets 1), the total is capped at ``max_after_balance_size * N``,
    and each row is emitted ``floor(ratio)`` times plus once more with probability ``frac(ratio)``,
    drawn from a per-row generator seeded by ``row index + seed``; retried (next seeds) up to 10
    times until every present class with a positive ratio appears.
    """
    y = np.asarray(y_codes).astype(np.int64)
    n = len(y)
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise PrepError(f"balance_classes: class codes must lie in 0..{n_classes - 1} (drop NA responses first)")
    if not max_after_balance_size > 0:
        raise PrepError(f"max_after_balance_size must be positive, got {max_after_balance_size}")
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    if class_sampling_factors is not None:
        ratio = np.asarray(class_sampling_factors, dtype=np.float64)
        if ratio.shape != (n_classes,):
            raise PrepError(f"class_sampling_factors needs {n_classes} values (one per class), got {ratio.size}")
        if (ratio < 0).any() or not np.isfinite(ratio).all():
            raise PrepError("class_sampling_factors must be finite and non-negative")
    else:
        ratio = np.zeros(n_classes)
        present = counts > 0
        ratio[present] = (n / n_classes) / counts[present]
        if present.any():
            ratio /= ratio[present].min()
    expected = float((ratio * counts).sum())
    target = min(max_after_balance_size * n, round(expected))
    if expected > 0 and target != expected:
        ratio = ratio * (target / expected)
    r = ratio[y]
    whole = np.floor(r)
    wanted = (counts > 0) & (ratio > 0)
    rows = np.zeros(0, dtype=np.int64)
    for attempt in range(10):
        repeats = whole.astype(np.int64) + (_row_uniforms(n, int(seed) + attempt * 0x5851F42D) < (r - whole))
        rows = np.repeat(np.arange(n, dtype=np.int64), repeats)
        after = np.bincount(y[rows], minlength=n_classes)
        if np.all(after[wanted] > 0):
            break
    after = np.bincount(y[rows], minlength=n_classes).astype(np.float64)
    prior = counts / max(1, n)
    sampled = after / max(1.0, after.sum())
    return rows, prior, sampled


def correct_probabilities(probs: np.ndarray, prior: np.ndarray, sampled_prior: np.ndarray) -> np.ndarray:
    """Back to the original class priors after balancing: ``p_k ~ p_k * prior_k / sampled_prior_k``,
    renormalized per row (a row whose weights are all zero gets the uniform distribution)."""
    probs = np.asarray(probs, dtype=np.float64)
    prior = np.asarray(prior, dtype=np.float64)
    sampled_prior = np.asarray(sampled_prior, dtype=np.float64)
    w = np.divide(prior, sampled_prior, out=np.zeros_like(prior), where=sampled_prior > 0)
    p = probs * w
    s = p.sum(axis=1, keepdims=True)
    return np.divide(p, s, out=np.full_like(p, 1.0 / p.shape[1]), where=s > 0)
