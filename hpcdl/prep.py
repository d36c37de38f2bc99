"""DataInfo: how frame columns become network inputs (H2O's DataInfo), and class balancing.

Layout of the expanded input vector: one-hot blocks of the categorical
predictors first (sorted by decreasing cardinality, ties in frame order), each
with ``L`` slots (``L - 1`` when ``use_all_factor_levels`` is false: the first
level is the all-zero reference) plus one NA slot; then the numeric predictors
in frame order, transformed as ``(x - norm_sub) * norm_mul``. Details and the
differences from H2O in docs/preprocessing.md.
"""

from __future__ import annotations

import numpy as np

NUMERIC = ("real", "int", "time")
UNSEEN_LEVEL_POLICIES = ("NA",)


class PrepError(ValueError):
    """The columns cannot be turned into a training problem; the message names the column."""


def _level_string(value: float) -> str:
    """A numeric response value as H2O's asfactor names it (1.0 -> "1")."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (vectorized): the bucket hash for max_categorical_features."""
    h = h.astype(np.uint64) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h


class DataInfo:
    """The fitted transform: plain lists and arrays (saved with the model, no pickle)."""

    FIELDS = ("predictors", "cat_cols", "num_cols", "domains", "cat_offsets", "cat_widths", "cat_na_seen",
              "use_all_factor_levels", "norm_sub", "norm_mul", "num_impute", "response", "response_domain",
              "response_numeric_levels", "classification", "autoencoder", "y_sub", "y_mul",
              "missing_values_handling", "dropped", "hash_buckets", "seed", "column_types",
              "unseen_level_policy", "standardize")

    def __init__(self, **fields) -> None:
        for name in self.FIELDS:
            setattr(self, name, fields.get(name))
        self._derive()

    def _derive(self) -> None:
        self.norm_sub = np.asarray(self.norm_sub, dtype=np.float64)
        self.norm_mul = np.asarray(self.norm_mul, dtype=np.float64)
        self.num_impute = np.asarray(self.num_impute, dtype=np.float64)
        cat_width = int(sum(self.cat_widths))
        self.cat_input_width = int(self.hash_buckets) if self.hash_buckets else cat_width
        self.n_inputs = self.cat_input_width + len(self.num_cols)
        names: list[str] = []
        if self.hash_buckets:
            names += [f"cat_hash.{k}" for k in range(self.hash_buckets)]
        else:
            for col in self.cat_cols:
                levels = self.domains[col] if self.use_all_factor_levels else self.domains[col][1:]
                names += [f"{col}.{lev}" for lev in levels] + [f"{col}.missing(NA)"]
        self.input_names = names + list(self.num_cols)

    # -- fitting --------------------------------------------------------------
    @classmethod
    def fit(cls, frame, x=None, y=None, *, autoencoder=False, classification=None, standardize=True,
            use_all_factor_levels=True, missing_values_handling="MeanImputation", ignore_const_cols=True,
            max_categorical_features=2**31 - 1, seed=0, unseen_level_policy="NA") -> "DataInfo":
        where = frame.path
        names = list(frame.names)
        if autoencoder:
            y = None
            use_all_factor_levels = True
        if y is not None and y not in names:
            raise PrepError(f"{where}: response column {y!r} not found (columns: {names})")
        if x is None:
            x = [n for n in names if n != y]
        x = list(x)
        unknown = [c for c in x if c not in names]
        if unknown:
            raise PrepError(f"{where}: predictor column(s) {unknown} not found (columns: {names})")
        if y is not None and y in x:
            raise PrepError(f"{where}: the response {y!r} is also listed as a predictor")
        if unseen_level_policy not in UNSEEN_LEVEL_POLICIES:
            raise PrepError(f"unseen_level_policy must be one of {UNSEEN_LEVEL_POLICIES}")
        types = {n: frame.type(n) for n in names}
        dropped: dict[str, str] = {}
        kept = []
        for col in x:
            st = frame.stats[col]
            all_na = st.get("na_count", 0) >= frame.nrow
            if types[col] == "enum":
                constant = int(np.count_nonzero(st.get("counts", []))) <= 1
            else:
                constant = not all_na and st.get("min") == st.get("max")
            if all_na and not ignore_const_cols:
                raise PrepError(f"{where}: column {col!r} is all NA; drop it or set ignore_const_cols=True")
            if ignore_const_cols and (all_na or constant):
                dropped[col] = "all NA" if all_na else "constant"
                continue
            kept.append(col)
        if not kept:
            raise PrepError(f"{where}: no predictor columns left (dropped: {dropped})")
        cats = [c for c in kept if types[c] == "enum"]
        cats.sort(key=lambda c: -len(frame.domains[c]))  # stable: ties keep frame order
        nums = [c for c in kept if types[c] != "enum"]
        domains = {c: list(frame.domains[c]) for c in cats}
        widths = [len(domains[c]) - (0 if use_all_factor_levels else 1) + 1 for c in cats]
        offsets = np.concatenate([[0], np.cumsum(widths)]).astype(int).tolist()[:-1] if cats else []
        sub, mul, impute = [], [], []
        for c in nums:
            st = frame.stats[c]
            mean = float(st["mean"])
            if standardize and autoencoder:
                rng = float(st["max"]) - float(st["min"])
                s, m = mean, (1.0 / rng if rng > 0 else 1.0)
            elif standardize:
                sd = float(st["sd"])
                s, m = mean, (1.0 / sd if sd > 0 and np.isfinite(sd) else 1.0)
            else:
                s, m = 0.0, 1.0
            sub.append(s)
            mul.append(m)
            impute.append(mean)
        info = dict(predictors=cats + nums, cat_cols=cats, num_cols=nums, domains=domains, cat_offsets=offsets,
                    cat_widths=widths, cat_na_seen=[bool(frame.stats[c].get("na_count", 0) > 0) for c in cats],
                    use_all_factor_levels=bool(use_all_factor_levels), norm_sub=sub, norm_mul=mul,
                    num_impute=impute, response=y, response_domain=None, response_numeric_levels=None,
                    classification=False, autoencoder=bool(autoencoder), y_sub=0.0, y_mul=1.0,
                    missing_values_handling=missing_values_handling, dropped=dropped,
                    hash_buckets=0, seed=int(seed), column_types={c: types[c] for c in cats + nums},
                    unseen_level_policy=unseen_level_policy, standardize=bool(standardize))
        if sum(widths) > int(max_categorical_features):
            info["hash_buckets"] = int(max_categorical_features)
        if y is not None:
            cls._fit_response(info, frame, y, types[y], classification)
        return cls(**info)

    @staticmethod
    def _fit_response(info: dict, frame, y: str, ytype: str, classification) -> None:
        where = frame.path
        st = frame.stats[y]
        if st.get("na_count", 0) >= frame.nrow:
            raise PrepError(f"{where}: response column {y!r} is all NA")
        if ytype == "enum":
            if classification is False:
                raise PrepError(f"{where}: response {y!r} is categorical; classification=False needs a numeric "
                                "response")
            info["classification"] = True
            info["response_domain"] = list(frame.domains[y])
        elif classification:
            values = frame.column(y)
            levels = np.unique(values[~np.isnan(values)])
            info["classification"] = True
            info["response_numeric_levels"] = levels.tolist()
            info["response_domain"] = [_level_string(v) for v in levels]
        else:
            sd = float(st["sd"])
            info["y_sub"] = float(st["mean"]) if info["standardize"] else 0.0
            info["y_mul"] = (1.0 / sd if sd > 0 else 1.0) if info["standardize"] else 1.0
        if info["classification"] and len(info["response_domain"]) < 2:
            raise PrepError(f"{where}: response {y!r} has {len(info['response_domain'])} class(es); "
                            "classification needs at least 2")

    # -- transforming -----------------------------------------------------------
    def transform(self, frame, start: int = 0, stop: int | None = None):
        """Rows [start, stop) of a frame -> (X float32, y, valid); reads only that range."""
        missing = [c for c in self.predictors if c not in frame.names]
        if missing:
            raise PrepError(f"{frame.path}: column(s) {missing} used by the model are missing")
        cols = list(self.predictors)
        if self.response is not None and self.response in frame.names:
            cols.append(self.response)
        data = frame.read(cols, start, stop)
        types = {c: frame.type(c) for c in cols}
        for c in self.cat_cols:
            if types[c] != "enum":
                raise PrepError(f"{frame.path}: column {c!r} is {types[c]}, the model used it as categorical")
        return self.transform_arrays(data, {c: frame.domains[c] for c in cols if types[c] == "enum"}, where=frame.path)

    def _codes(self, col: str, values: np.ndarray, domain, train_domain: list[str]) -> np.ndarray:
        """Codes of the training domain; NA, unseen levels (policy "NA") -> -1."""
        values = np.asarray(values)
        if domain is None or list(domain) == list(train_domain):
            return values.astype(np.int64)
        index = {lev: i for i, lev in enumerate(train_domain)}
        lookup = np.array([index.get(lev, -1) for lev in domain] + [-1], dtype=np.int64)
        v = values.astype(np.int64)
        return lookup[np.where(v < 0, len(domain), v)]

    def transform_arrays(self, columns: dict, domains: dict | None = None, where: str = "data"):
        domains = domains or {}
        n = len(next(iter(columns.values()))) if columns else 0
        X = np.zeros((n, self.n_inputs), dtype=np.float32)
        valid = np.ones(n, dtype=bool)
        skip = self.missing_values_handling == "Skip"
        rows = np.arange(n)
        for k, col in enumerate(self.cat_cols):
            if col not in columns:
                raise PrepError(f"{where}: column {col!r} used by the model is missing")
            codes = self._codes(col, columns[col], domains.get(col), self.domains[col])
            na = codes < 0
            if skip:
                valid &= ~na
            width = self.cat_widths[k]
            slot = codes if self.use_all_factor_levels else codes - 1  # -1: the dropped reference level
            slot = np.where(na, width - 1, slot)
            if self.hash_buckets:
                full = self.cat_offsets[k] + slot
                bucket = _fmix32((full.astype(np.int64) * 0x9E3779B1 + self.seed) & 0xFFFFFFFF) % self.hash_buckets
                np.add.at(X, (rows, bucket.astype(np.int64)), 1.0)
            else:
                on = slot >= 0
                X[rows[on], self.cat_offsets[k] + slot[on]] = 1.0
        base = self.cat_input_width
        for j, col in enumerate(self.num_cols):
            if col not in columns:
                raise PrepError(f"{where}: column {col!r} used by the model is missing")
            v = np.asarray(columns[col], dtype=np.float64)
            na = np.isnan(v)
            if skip:
                valid &= ~na
            v = np.where(na, self.num_impute[j], v)
            X[:, base + j] = (v - self.norm_sub[j]) * self.norm_mul[j]
        y = None
        if self.response is not None and self.response in columns:
            raw = columns[self.response]
            if self.classification:
                if self.response_numeric_levels is not None:
                    v = np.asarray(raw, dtype=np.float64)
                    levels = np.asarray(self.response_numeric_levels)
                    pos = np.clip(np.searchsorted(levels, v), 0, len(levels) - 1)
                    codes = np.where(levels[pos] == v, pos, -1)
                else:
                    codes = self._codes(self.response, raw, domains.get(self.response), self.response_domain)
                y = codes.astype(np.float32)
                valid &= codes >= 0
            else:
                v = np.asarray(raw, dtype=np.float64)
                y = ((v - self.y_sub) * self.y_mul).astype(np.float32)
                valid &= ~np.isnan(v)
        elif self.response is not None:
            valid[:] = False  # no response: usable for prediction, not for training or metrics
        return X, y, valid

    # -- back to the user's scale -------------------------------------------------
    def response_to_original(self, pred: np.ndarray) -> np.ndarray:
        return np.asarray(pred, dtype=np.float64) / self.y_mul + self.y_sub

    def response_to_standardized(self, y: np.ndarray) -> np.ndarray:
        return (np.asarray(y, dtype=np.float64) - self.y_sub) * self.y_mul

    def reconstruction_to_original(self, out: np.ndarray) -> dict[str, np.ndarray]:
        """Autoencoder output -> columns reconstr_<input name>; numerics on their original scale."""
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
        """NA slots of categoricals that never had an NA in training (variable importance 0)."""
        if self.hash_buckets:
            return []
        return [self.cat_offsets[k] + self.cat_widths[k] - 1 for k in range(len(self.cat_cols))
                if not self.cat_na_seen[k]]

    # -- persistence --------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {}
        for name in self.FIELDS:
            v = getattr(self, name)
            out[name] = v.tolist() if isinstance(v, np.ndarray) else v
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "DataInfo":
        return cls(**{k: d.get(k) for k in cls.FIELDS})


# -- class balancing (SPEC-detail 8.2) --------------------------------------------
def balance_classes(y_codes: np.ndarray, n_classes: int, class_sampling_factors=None,
                    max_after_balance_size: float = 5.0, seed: int = 0):
    """Over/under-sample rows per class; returns (row indices, prior, sampled prior)."""
    y = np.asarray(y_codes, dtype=np.int64)
    n = len(y)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    if class_sampling_factors is not None:
        ratio = np.asarray(class_sampling_factors, dtype=np.float64)
        if len(ratio) != n_classes:
            raise PrepError(f"class_sampling_factors needs {n_classes} values (one per class), got {len(ratio)}")
    else:
        ratio = np.where(counts > 0, (n / n_classes) / np.maximum(counts, 1), 0.0)
        ratio /= ratio[counts > 0].min()
    expected = float((ratio * counts).sum())
    target = min(max_after_balance_size * n, round(expected))
    if expected > 0 and target != expected:
        ratio = ratio * (target / expected)
    rng = np.random.default_rng(seed)
    r = ratio[y]
    repeats = np.floor(r).astype(np.int64) + (rng.random(n) < (r - np.floor(r)))
    rows = np.repeat(np.arange(n), repeats)
    after = np.bincount(y[rows], minlength=n_classes).astype(np.float64)
    prior = counts / max(1, n)
    sampled = after / max(1, after.sum())
    return rows, prior, sampled


def correct_probabilities(probs: np.ndarray, prior: np.ndarray, sampled_prior: np.ndarray) -> np.ndarray:
    """H2O's correction back to the original class priors: p_k ~ p_k * prior_k / sampled_prior_k."""
    w = np.divide(prior, sampled_prior, out=np.zeros_like(prior, dtype=np.float64), where=sampled_prior > 0)
    p = probs * w
    s = p.sum(axis=1, keepdims=True)
    return np.divide(p, s, out=np.full_like(p, 1.0 / p.shape[1]), where=s > 0)
