"""Model metrics as H2O-3 reports them, the early-stopping rule, and their printing.

Inputs are numpy arrays: predictions in original units, classification responses
as integer class codes 0..K-1. Every function returns a plain dict of plain values
(the confusion matrix as a list of lists of ints, fresh or read back from a model
file) so that the trainer can put it in the scoring history and the store can write
it as-is (docs/scoring.md).

The Python API wraps such a dict in a :class:`ModelMetrics` object (H2O-3's metrics
classes: ``perf.auc()``, ``perf.confusion_matrix()``, ...), still readable as a mapping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "BINOMIAL_CRITERIA",
    "DEFAULT_METRIC",
    "METRICS",
    "Metric",
    "ConfusionMatrix",
    "ModelMetrics",
    "ModelMetricsAutoEncoder",
    "ModelMetricsBinomial",
    "ModelMetricsMultinomial",
    "ModelMetricsRegression",
    "StoppingMetric",
    "ThresholdValues",
    "TwoDimTable",
    "metrics_object",
    "autoencoder_metrics",
    "binomial_metrics",
    "format_confusion_matrix",
    "format_hit_ratios",
    "format_metrics",
    "default_metric",
    "default_stopping_metric",
    "metric_for_stopping",
    "metric_keys",
    "sort_names",
    "stopping_metric_names",
    "model_loss",
    "multinomial_metrics",
    "regression_metrics",
    "stop_early",
    "stopping_metric_info",
]

LOGLOSS_MAX = -math.log(1e-15)  # H2O-3 MathUtils.MAXLL: a row's logloss is at most 34.54
LIFT_TOP_QUANTILE = 0.99  # H2O-3 GainsLift: the first group is the rows at or above the 0.99 quantile


# --------------------------------------------------------------------------- #
# Shared pieces
# --------------------------------------------------------------------------- #


def _variance(y: np.ndarray, w: np.ndarray) -> float:
    """Weighted *population* variance of y (H2O-3's MetricBuilder.weightedSigma squared: its
    sampleCorrection is 1, so r2 equals scikit-learn's r2_score); 0 for fewer than 2 rows."""
    if y.size < 2:
        return 0.0
    mean = np.sum(w * y) / np.sum(w)
    return float(np.sum(w * (y - mean) ** 2) / np.sum(w))


def _r2(mse: float, var: float) -> float:
    # H2O-3 divides anyway (-Infinity for a constant response); NaN here (docs/differences.md)
    return 1.0 - mse / var if var > 0 else math.nan


def _weights(n: int, weights) -> np.ndarray:
    return np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64).ravel()


def _logloss_and_mse(p_true: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """H2O-3's per-row err = 1 - p(actual class), squared error err^2 and logloss
    min(-log(1e-15), -log(1 - err)) (MathUtils.logloss), averaged with the row weights."""
    err = 1.0 - p_true
    with np.errstate(divide="ignore"):
        ll = np.minimum(LOGLOSS_MAX, -np.log(1.0 - err))
    sw = float(np.sum(w))
    return float(np.sum(w * ll) / sw), float(np.sum(w * err * err) / sw)


def _mean_per_class_error(cm: np.ndarray) -> float:
    """Mean over classes that occur (row sum > 0) of 1 - recall."""
    rows = cm.sum(axis=1)
    present = rows > 0
    if not present.any():
        return math.nan
    return float(np.mean(1.0 - np.diag(cm)[present] / rows[present]))


def _quantile_interpolated(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """H2O-3's Quantile (combine_method INTERPOLATE): linear interpolation at position q (N - 1)
    of the sorted values, N the row count; a row of weight w counts as w rows."""
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    ends = np.cumsum(ws)  # the expanded rows of sorted value i are positions ends[i-1] .. ends[i] - 1
    pos = q * (ends[-1] - 1.0)
    lo = math.floor(pos)
    i_lo = min(int(np.searchsorted(ends, lo, side="right")), xs.size - 1)
    i_hi = min(int(np.searchsorted(ends, lo + 1, side="right")), xs.size - 1)
    return float(xs[i_lo] + (xs[i_hi] - xs[i_lo]) * (pos - lo))


# --------------------------------------------------------------------------- #
# Regression
# --------------------------------------------------------------------------- #


def _h2o_log(x: np.ndarray) -> np.ndarray:
    """H2O-3's sanitized log (DistributionFactory.LogExpUtil.log): log(max(x, 0)), at least -19."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.maximum(-19.0, np.log(np.maximum(x, 0.0)))


def _unit_deviance(
    y: np.ndarray,
    f: np.ndarray,
    w: np.ndarray,
    distribution: str,
    quantile_alpha: float,
    huber_alpha: float,
    tweedie_power: float,
) -> np.ndarray:
    """Per-row deviance as H2O-3's Distribution.deviance (hex/DistributionFactory.java; f in response units)."""
    r = y - f
    if distribution in ("gaussian", "AUTO"):
        return r * r
    if distribution == "laplace":
        return np.abs(r)
    if distribution == "quantile":
        return np.where(r > 0, quantile_alpha * r, (quantile_alpha - 1.0) * r)
    if distribution == "huber":
        # delta = the huber_alpha quantile of |residual| on this scoring frame (ModelMetricsRegression.computeHuberDelta)
        a = np.abs(r)
        delta = _quantile_interpolated(a, w, huber_alpha) if a.size else 0.0
        return np.where(a <= delta, r * r, (2.0 * a - delta) * delta)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if distribution == "poisson":
            return 2.0 * (y * _h2o_log(y / f) - y + f)
        if distribution == "gamma":
            return 2.0 * (_h2o_log(f / y) + np.where((y == 0) & (f == 0), 1.0, y / f) - 1.0)
        if distribution == "tweedie":
            p = tweedie_power
            return 2.0 * (
                np.power(y, 2 - p) / ((1 - p) * (2 - p))
                - y * np.power(f, 1 - p) / (1 - p)
                + np.power(f, 2 - p) / (2 - p)
            )
    raise ValueError(f"regression_metrics: unknown distribution '{distribution}'")


def regression_metrics(
    y: np.ndarray,
    pred: np.ndarray,
    distribution: str = "gaussian",
    weights: np.ndarray | None = None,
    *,
    quantile_alpha: float = 0.5,
    huber_alpha: float = 0.9,
    tweedie_power: float = 1.5,
) -> dict[str, Any]:
    """MSE, RMSE, MAE, RMSLE, mean_residual_deviance, r2, nobs, as H2O-3's MetricBuilderRegression:
    rows with NA y or weight 0 skipped, every sum weighted and divided by the sum of the weights."""
    y = np.asarray(y, dtype=np.float64).ravel()
    f = np.asarray(pred, dtype=np.float64).ravel()
    w = _weights(y.size, weights)
    keep = ~np.isnan(y) & (w != 0) & ~np.isnan(w)
    y64, f, w = y[keep], f[keep], w[keep]
    # H2O-3's MetricBuilderRegression receives the actual as a float32 (perRow(double[], float[] yact, ...));
    # only the huber deviance is computed apart, on the frame's doubles (MeanResidualDeviance)
    y = y64.astype(np.float32).astype(np.float64)
    sw = float(np.sum(w))
    if y.size == 0:
        nan = math.nan
        return {"MSE": nan, "RMSE": nan, "MAE": nan, "RMSLE": nan, "mean_residual_deviance": nan, "r2": nan, "nobs": 0}
    r = y - f
    mse = float(np.sum(w * r * r) / sw)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log1p(f) - np.log1p(y)  # NaN for a value below -1, as in H2O-3
    dev = _unit_deviance(
        y64 if distribution == "huber" else y, f, w, distribution, quantile_alpha, huber_alpha, tweedie_power
    )
    return {
        "MSE": mse,
        "RMSE": math.sqrt(mse),
        "MAE": float(np.sum(w * np.abs(r)) / sw),
        "RMSLE": math.sqrt(float(np.sum(w * d * d) / sw)),
        "mean_residual_deviance": float(np.sum(w * dev) / sw),
        "r2": _r2(mse, _variance(y, w)),
        "nobs": int(y.size),
    }


# --------------------------------------------------------------------------- #
# Binomial
# --------------------------------------------------------------------------- #


def _threshold_table(y: np.ndarray, p1: np.ndarray, w: np.ndarray):
    """Distinct thresholds (descending) with the weighted TP and FP when predicting 1 for p1 >= t
    (H2O-3's AUC2 with one bin per distinct score; see docs/differences.md for its 400-bin limit)."""
    order = np.argsort(-p1, kind="stable")
    ps, ys, ws = p1[order], y[order], w[order]
    tp = np.cumsum(ws * ys)
    fp = np.cumsum(ws * (1 - ys))
    # the last row of each run of equal scores closes that threshold
    last = np.r_[ps[1:] != ps[:-1], True]
    return ps[last], tp[last].astype(np.float64), fp[last].astype(np.float64)


def _pr_auc(tp: np.ndarray, fp: np.ndarray) -> float:
    """H2O-3's AUC2.pr_auc: the area under precision-recall with precision interpolated between
    thresholds as TP/(TP+FP) along the straight line in (TP, FP) (its XGBoost-style integral)."""
    npos = tp[-1]
    if fp[-1] == 0:
        return 1.0
    if npos == 0:
        return 0.0
    prev_tp = np.r_[0.0, tp[:-1]]
    prev_fp = np.r_[0.0, fp[:-1]]
    step = tp != prev_tp
    h = np.divide(fp - prev_fp, tp - prev_tp, out=np.zeros_like(tp), where=step)
    a = np.where(step, 1.0 + h, 1.0)
    b = np.where(step, (prev_fp - h * prev_tp) / npos, 0.0)
    x, x0 = tp / npos, prev_tp / npos
    with np.errstate(divide="ignore", invalid="ignore"):
        curved = (x - x0 - b / a * (np.log(a * x + b) - np.log(a * x0 + b))) / a
    return float(np.sum(np.where(b != 0, curved, (x - x0) / a)))


def _lift_top_group(y: np.ndarray, p1: np.ndarray, w: np.ndarray) -> float:
    """H2O-3's GainsLift: the response rate of the rows scoring at or above the 0.99 quantile
    (interpolated) of the scores, over the overall response rate."""
    cutoff = _quantile_interpolated(p1, w, LIFT_TOP_QUANTILE)
    top = p1 >= cutoff
    overall = np.sum(w * y) / np.sum(w)
    return float(np.sum(w[top] * y[top]) / np.sum(w[top]) / overall) if overall > 0 else math.nan


# H2O-3's threshold criteria (its "Maximum Metrics" table), each at the threshold that maximizes it.
BINOMIAL_CRITERIA = (
    "f1",
    "f2",
    "f0point5",
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "absolute_mcc",
    "min_per_class_accuracy",
    "mean_per_class_accuracy",
)


def _ratio(a: np.ndarray, b) -> np.ndarray:
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), a.shape)
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def _threshold_criteria(tp: np.ndarray, fp: np.ndarray, npos: float, nneg: float) -> dict[str, np.ndarray]:
    """Every criterion of BINOMIAL_CRITERIA at every threshold of the table (0 where undefined)."""
    fn, tn = npos - tp, nneg - fp
    tpr, tnr = _ratio(tp, npos), _ratio(tn, nneg)
    mcc_den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "f2": _ratio(5 * tp, 5 * tp + 4 * fn + fp),
        "f0point5": _ratio(1.25 * tp, 1.25 * tp + 0.25 * fn + fp),
        "accuracy": _ratio(tp + tn, npos + nneg),
        "precision": _ratio(tp, tp + fp),
        "recall": tpr,
        "specificity": tnr,
        "absolute_mcc": _ratio(np.abs(tp * tn - fp * fn), mcc_den),
        "min_per_class_accuracy": np.minimum(tpr, tnr),
        "mean_per_class_accuracy": (tpr + tnr) / 2,
    }


def _max_criteria(thr: np.ndarray, criteria: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """criterion -> [threshold, value] at its maximum (ties: the highest threshold, as for max F1)."""
    out = {}
    for name in BINOMIAL_CRITERIA:
        values = criteria[name]
        i = int(np.argmax(values)) if values.size else -1
        out[name] = [float(thr[i]), float(values[i])] if i >= 0 else [math.nan, math.nan]
    return out


def _label_threshold(thr: np.ndarray, best: int) -> float:
    """The threshold labels are given with: halfway from the max-F1 threshold (a row's own score, as
    H2O-3 reports it) to the next lower score (0 below the lowest). On the scored rows it gives the same
    labels as p1 >= max-F1 threshold, but a row's probability recomputed with a last-bit difference
    (an exported scorer's float32 sums in another order) no longer flips its label."""
    below = float(thr[best + 1]) if best + 1 < thr.size else 0.0
    return (float(thr[best]) + below) / 2.0


def _integral(cm: np.ndarray) -> np.ndarray:
    """Counts as ints when they are whole (no weights, or whole weights), else as H2O-3's doubles."""
    return cm.astype(np.int64) if np.all(cm == np.round(cm)) else cm


def _kept(y: np.ndarray, w: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """Drop the rows H2O-3's metric builders skip: weight 0 or NaN (y is never NA here)."""
    keep = (w != 0) & ~np.isnan(w)
    return [y[keep], w[keep], *(x[keep] for x in arrays)]


def binomial_metrics(
    y: np.ndarray,
    p1: np.ndarray,
    domain: Sequence[str],
    p0: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """H2O-3's binomial metrics; y in {0, 1}, p1 = P(class 1), p0 = P(class 0) (default 1 - p1).

    Give ``p0`` when the model computed it: logloss and MSE use the probability of the actual
    class as H2O-3 does, and 1 - p1 rounds a tiny p0 (float32 outputs) to 0, which the logloss
    would clip to 1e-15 (a row's -log p of 34.5 instead of, say, 23).

    Error, mean per-class error and the confusion matrix are at the max-F1
    threshold (predict class 1 when p1 >= threshold; the highest such threshold
    when several reach the same F1). ``max_criteria`` holds each criterion of
    BINOMIAL_CRITERIA at its own best threshold (H2O-3's ``error()``, ``F1()``, ...).
    ``weights``: observation weights; every figure is weighted, weight-0 rows count for nothing.
    """
    y = np.asarray(y).astype(np.int64).ravel()
    p1 = np.asarray(p1, dtype=np.float64).ravel()
    p0 = 1.0 - p1 if p0 is None else np.asarray(p0, dtype=np.float64).ravel()
    y, w, p1, p0 = _kept(y, _weights(y.size, weights), p1, p0)
    n = y.size
    sw = float(np.sum(w))
    npos = float(np.sum(w * y))
    nneg = sw - npos
    logloss, mse = _logloss_and_mse(np.where(y == 1, p1, p0), w) if n else (math.nan, math.nan)

    thr, tp, fp = _threshold_table(y, p1, w)
    if npos > 0 and nneg > 0:
        tpr = np.r_[0.0, tp / npos]
        fpr = np.r_[0.0, fp / nneg]
        auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        pr_auc = _pr_auc(tp, fp)
    else:
        auc = pr_auc = math.nan

    criteria = _threshold_criteria(tp, fp, npos, nneg)
    f1 = criteria["f1"]
    best = int(np.argmax(f1)) if f1.size else 0
    threshold = float(thr[best]) if f1.size else math.nan
    TP, FP = (tp[best], fp[best]) if f1.size else (0.0, 0.0)
    cm = _integral(np.array([[nneg - FP, FP], [npos - TP, TP]]))
    return {
        "MSE": mse,
        "RMSE": math.sqrt(mse),
        "logloss": logloss,
        "AUC": auc,
        "pr_auc": pr_auc,
        "max_f1": float(f1[best]) if f1.size else math.nan,
        "max_f1_threshold": threshold,
        "label_threshold": _label_threshold(thr, best) if f1.size else math.nan,
        "classification_error": float((cm[0, 1] + cm[1, 0]) / sw) if n else math.nan,
        "mean_per_class_error": _mean_per_class_error(cm),
        "confusion_matrix": cm.tolist(),
        "max_criteria": _max_criteria(thr, criteria),
        "lift_top_group": _lift_top_group(y, p1, w) if n else math.nan,
        "r2": _r2(mse, _variance(y.astype(np.float64), w)),
        "nobs": int(n),
        "domain": list(domain),
    }


# --------------------------------------------------------------------------- #
# Multinomial and autoencoder
# --------------------------------------------------------------------------- #


def multinomial_metrics(
    y: np.ndarray,
    P: np.ndarray,
    domain: Sequence[str],
    max_hit_ratio_k: int = 10,
    weights: np.ndarray | None = None,
    auc_type: str = "AUTO",
) -> dict[str, Any]:
    """H2O-3's multinomial metrics; y = class codes, P = (n, K) class probabilities.

    Predicted class = argmax (ties: lowest class index; H2O breaks ties by priors).
    Hit ratio k = fraction of rows whose true class is among the k most probable
    (ties: lower class index ranks first). r2 uses the variance of the class codes,
    as H2O does. ``weights``: observation weights; every figure is weighted except, as in
    H2O-3, the confusion matrix (and so the error and mean per-class error), which counts the rows
    of nonzero weight.
    """
    y = np.asarray(y).astype(np.int64).ravel()
    P = np.asarray(P, dtype=np.float64)
    y, w, P = _kept(y, _weights(y.size, weights), P)
    n, K = P.shape
    sw = float(np.sum(w))
    p_true = P[np.arange(n), y]
    logloss, mse = _logloss_and_mse(p_true, w) if n else (math.nan, math.nan)
    pred = np.argmax(P, axis=1)
    # H2O-3 counts the rows of nonzero weight, unweighted (ModelMetricsMultinomial: _cm[act][pred]++)
    cm = np.bincount(y * K + pred, minlength=K * K).reshape(K, K)
    # rank of the true class: classes strictly more probable, or as probable and earlier
    idx = np.arange(K)
    rank = np.sum((P > p_true[:, None]) | ((P == p_true[:, None]) & (idx[None, :] < y[:, None])), axis=1)
    kmax = min(max_hit_ratio_k, K)
    hit_ratios = [float(np.sum(w * (rank < k)) / sw) for k in range(1, kmax + 1)] if n else []
    return {
        "MSE": mse,
        "RMSE": math.sqrt(mse),
        "logloss": logloss,
        "classification_error": float(1.0 - np.trace(cm) / n) if n else math.nan,
        "mean_per_class_error": _mean_per_class_error(cm),
        "confusion_matrix": cm.tolist(),
        "hit_ratios": hit_ratios,
        "r2": _r2(mse, _variance(y.astype(np.float64), w)),
        "nobs": int(n),
        "domain": list(domain),
        **_multinomial_auc_entries(y, P, domain, w, auc_type),
    }


def _multinomial_auc_entries(y, P, domain, w, auc_type: str) -> dict[str, Any]:
    """With an auc_type other than AUTO/NONE (and at most 50 classes, as H2O-3): the AUC tables, and
    AUC/pr_auc of that type."""
    if auc_type not in MULTINOMIAL_AUC_TYPES or P.shape[1] > MAX_AUC_CLASSES or y.size == 0:
        return {}
    tables = multinomial_auc(y, P, domain, w)
    auc, pr_auc = tables[auc_type]
    return {"AUC": auc, "pr_auc": pr_auc, "auc_type": auc_type, "multinomial_auc": tables}


# H2O-3's multinomial AUC (hex/MultinomialAUC.java): auc_type picks the figure auc() and aucpr() report.
MULTINOMIAL_AUC_TYPES = ("MACRO_OVR", "WEIGHTED_OVR", "MACRO_OVO", "WEIGHTED_OVO")
MAX_AUC_CLASSES = 50  # H2O-3 computes no multinomial AUC above this many classes


def _auc2(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """(AUC, AUCPR, weighted positives) of positives y == 1 ranked by p, as H2O-3's AUC2 reports them
    (one threshold per distinct score): no negatives -> AUC 1, no positives -> AUC 0, no rows -> NaN."""
    if y.size == 0:
        return math.nan, math.nan, 0.0
    _, tp, fp = _threshold_table(y, p, w)
    npos, nneg = float(tp[-1]), float(fp[-1])
    if nneg == 0 or npos == 0:
        auc = 1.0 if nneg == 0 else 0.0
    else:
        tpr, fpr = np.r_[0.0, tp / npos], np.r_[0.0, fp / nneg]
        auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return auc, _pr_auc(tp, fp), npos


def multinomial_auc(
    y: np.ndarray, P: np.ndarray, domain: Sequence[str], weights: np.ndarray | None = None
) -> dict[str, Any]:
    """H2O-3's multinomial AUC and AUCPR tables (exact: one threshold per distinct score).

    One-vs-rest: class i's rows against all others, ranked by P[:, i]; weighted by class i's weight.
    One-vs-one (Hand & Till): the mean of (j against i by P[:, j]) and (i against j by P[:, i]) on the
    rows of the two classes; weighted by the two classes' weight. A pair with no rows counts 0, as
    H2O-3's PairwiseAUC. Returns ``{"ovr": [[class, auc, aucpr, weight]], "ovo": [[first, second, auc,
    aucpr, weight]], "<TYPE>": [auc, aucpr] for each of MULTINOMIAL_AUC_TYPES}``.
    """
    y = np.asarray(y).astype(np.int64).ravel()
    P = np.asarray(P, dtype=np.float64)
    y, w, P = _kept(y, _weights(y.size, weights), P)
    K = P.shape[1]
    ovr = [[str(domain[i]), *_auc2((y == i).astype(np.int64), P[:, i], w)] for i in range(K)]
    ovo = []
    for i in range(K - 1):
        for j in range(i + 1, K):
            rows = (y == i) | (y == j)
            a_j = _auc2((y[rows] == j).astype(np.int64), P[rows, j], w[rows])
            a_i = _auc2((y[rows] == i).astype(np.int64), P[rows, i], w[rows])
            auc, pr = (a_j[0] + a_i[0]) / 2, (a_j[1] + a_i[1]) / 2
            ovo.append(
                [
                    str(domain[i]),
                    str(domain[j]),
                    0.0 if math.isnan(auc) else auc,
                    0.0 if math.isnan(pr) else pr,
                    a_j[2] + a_i[2],
                ]
            )
    out: dict[str, Any] = {"ovr": ovr, "ovo": ovo}
    for name, table, first in (("OVR", ovr, 1), ("OVO", ovo, 2)):
        vals = np.array([r[first : first + 2] for r in table], dtype=np.float64)
        wts = np.array([r[first + 2] for r in table], dtype=np.float64)
        out["MACRO_" + name] = vals.mean(axis=0).tolist()
        out["WEIGHTED_" + name] = (wts @ vals / wts.sum()).tolist()
    return out


def multinomial_auc_table(tables: Mapping[str, Any], pr: bool = False) -> TwoDimTable:
    """H2O-3's "Multinomial AUC values" (``pr``: "auc_pr") table: per class vs rest, macro and weighted
    OVR, per pair, macro and weighted OVO."""
    k = int(pr)  # [auc, aucpr][k]
    rows = [[f"{r[0]} vs Rest", r[0], None, r[1 + k]] for r in tables["ovr"]]
    rows += [[f"{a} OVR", None, None, tables[f"{a.upper()}_OVR"][k]] for a in ("Macro", "Weighted")]
    rows += [[f"Class {r[0]} vs. {r[1]}", r[0], r[1], r[2 + k]] for r in tables["ovo"]]
    rows += [[f"{a} OVO", None, None, tables[f"{a.upper()}_OVO"][k]] for a in ("Macro", "Weighted")]
    metric = "auc_pr" if pr else "AUC"
    return TwoDimTable(
        f"Multinomial {metric} values", ["type", "first_class_domain", "second_class_domain", metric.lower()], rows
    )


def autoencoder_metrics(row_mse: np.ndarray) -> dict[str, Any]:
    """MSE = mean of the per-row reconstruction MSE (docs/scoring.md)."""
    row_mse = np.asarray(row_mse, dtype=np.float64).ravel()
    mse = float(np.mean(row_mse)) if row_mse.size else math.nan
    return {"MSE": mse, "RMSE": math.sqrt(mse), "nobs": int(row_mse.size)}


# --------------------------------------------------------------------------- #
# Early stopping and best model
# --------------------------------------------------------------------------- #


class Metric(NamedTuple):
    """One scalar metric: every list of metrics (stopping_metric's choices, a grid's sort names and
    summary, the CV summary, the scoring history, the UI, the printed block) is derived from ``METRICS``."""

    key: str  # the key in a metrics dict (``perf["AUC"]``)
    kinds: tuple[str, ...]  # the model kinds that report it
    higher_is_better: bool = False
    bounded_below_by_zero: bool = True  # for the early-stopping rule (H2O's ScoreKeeper)
    stopping: str | None = None  # H2O-3's stopping_metric name; None: it cannot stop training
    method: str | None = None  # H2O-3's ModelMetrics method (``perf.auc()``); None: none
    sort_names: tuple[str, ...] = ()  # what grids take as sort_by (lower case)
    listed: frozenset[str] = frozenset()  # where it is shown: LISTS


_ALL_KINDS = ("binomial", "multinomial", "regression", "autoencoder")
_CLASSIFICATION = ("binomial", "multinomial")
# The places a metric can be listed: printed (format_metrics), a grid's summary, the CV summary,
# the scoring history's columns, the web UI, the scoring history as a printed model shows it.
LISTS = ("print", "grid", "cv", "history", "ui", "history_print")
_MOST = frozenset(LISTS) - {"history_print"}
_SHOWN = _MOST | {"history_print"}
# In the order H2O-3 prints them; every derived list keeps this order.
METRICS: tuple[Metric, ...] = (
    Metric("MSE", _ALL_KINDS, stopping="MSE", method="mse", sort_names=("mse",), listed=_MOST),
    Metric("RMSE", _ALL_KINDS, stopping="RMSE", method="rmse", sort_names=("rmse",), listed=_SHOWN),
    Metric("logloss", _CLASSIFICATION, stopping="logloss", method="logloss", sort_names=("logloss",), listed=_SHOWN),
    Metric("AUC", ("binomial",), True, False, "AUC", "auc", ("auc",), _SHOWN),
    Metric("pr_auc", ("binomial",), True, False, "AUCPR", "aucpr", ("aucpr", "pr_auc"), _MOST),
    Metric(
        "classification_error",
        _CLASSIFICATION,
        stopping="misclassification",
        sort_names=("err", "classification_error", "misclassification"),
        listed=_SHOWN - {"print"},
    ),
    Metric(
        "mean_per_class_error",
        _CLASSIFICATION,
        stopping="mean_per_class_error",
        method="mean_per_class_error",
        sort_names=("mean_per_class_error",),
        listed=_MOST,
    ),
    Metric("max_f1", ("binomial",), True, listed=frozenset({"cv", "ui"})),
    Metric("lift_top_group", ("binomial",), True, False, "lift_top_group", listed=_MOST - {"grid"}),
    Metric("MAE", ("regression",), stopping="MAE", method="mae", sort_names=("mae",), listed=_MOST),
    Metric("RMSLE", ("regression",), stopping="RMSLE", method="rmsle", listed=frozenset({"print", "cv"})),
    Metric(
        "mean_residual_deviance",
        ("regression",),
        bounded_below_by_zero=False,  # gamma/tweedie deviances can go < 0
        stopping="deviance",
        method="mean_residual_deviance",
        sort_names=("residual_deviance", "mean_residual_deviance", "deviance"),
        listed=_MOST,
    ),
    Metric("r2", ("binomial", "multinomial", "regression"), True, False, None, "r2", ("r2",), _SHOWN),
    Metric("nobs", _ALL_KINDS, method="nobs", listed=frozenset({"ui"})),
    Metric("max_f1_threshold", ("binomial",), listed=frozenset({"ui"})),
)
# The metric a model of each kind is judged by unless told otherwise: stopping_metric AUTO, a grid's sort.
DEFAULT_METRIC = {
    "binomial": "logloss",
    "multinomial": "logloss",
    "regression": "mean_residual_deviance",
    "autoencoder": "MSE",
}


def default_metric(kind: str | None) -> str:
    """The key a model of ``kind`` is judged by; logloss while the kind is not known (no model yet)."""
    return DEFAULT_METRIC.get(kind, "logloss")


def metric_keys(where: str, kind: str | None = None) -> tuple[str, ...]:
    """The keys listed in ``where`` (one of LISTS), for one model kind or any."""
    if where not in LISTS:
        raise ValueError(f"unknown metric list {where!r}; expected one of {LISTS}")
    return tuple(m.key for m in METRICS if where in m.listed and (kind is None or kind in m.kinds))


def stopping_metric_names(only: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """H2O-3's stopping_metric names (without AUTO); with ``only``: those that only models of these kinds report."""
    return tuple(m.stopping for m in METRICS if m.stopping and (only is None or set(m.kinds) <= set(only)))


def sort_names() -> dict[str, str]:
    """What a grid may be sorted by (lower case) -> the metrics key."""
    return {name: m.key for m in METRICS for name in m.sort_names}


class StoppingMetric(NamedTuple):
    key: str  # the key in a metrics dict
    higher_is_better: bool
    bounded_below_by_zero: bool


_STOPPING = {
    m.stopping: StoppingMetric(m.key, m.higher_is_better, m.bounded_below_by_zero) for m in METRICS if m.stopping
}
_AUTO = {kind: next(m.stopping for m in METRICS if m.key == key) for kind, key in DEFAULT_METRIC.items()}


def default_stopping_metric(kind: str) -> str:
    """The stopping_metric AUTO means for a model of ``kind`` (H2O-3: logloss, deviance, or MSE)."""
    return _AUTO[kind]


def stopping_metric_info(stopping_metric: str, kind: str) -> StoppingMetric:
    """Key and direction of ``stopping_metric`` (H2O name; AUTO resolved by ``kind``).

    kind: "regression", "binomial", "multinomial" or "autoencoder".
    """
    if kind not in _AUTO:
        raise ValueError(f"unknown model kind '{kind}'; expected one of {', '.join(_AUTO)}")
    name = _AUTO[kind] if stopping_metric == "AUTO" else stopping_metric
    if name not in _STOPPING:
        raise ValueError(f"unknown stopping_metric '{stopping_metric}'")
    return _STOPPING[name]


def metric_for_stopping(stopping_metric: str, kind: str) -> tuple[str, bool]:
    """(key in the metrics dict, higher_is_better) for ``stopping_metric``."""
    info = stopping_metric_info(stopping_metric, kind)
    return info.key, info.higher_is_better


def model_loss(metrics: dict[str, Any], stopping_metric: str, kind: str) -> float:
    """Lower-is-better loss used to pick the best model (docs/scoring.md, "The best model").

    AUC -> 1 - AUC and AUCPR -> 1 - pr_auc as H2O; lift_top_group -> -lift (H2O
    uses the lift itself, which would keep the worst model).
    """
    info = stopping_metric_info(stopping_metric, kind)
    value = float(metrics[info.key])
    if info.key in ("AUC", "pr_auc"):
        return 1.0 - value
    return -value if info.higher_is_better else value


def stop_early(
    values: Sequence[float],
    k: int,
    tolerance: float,
    higher_is_better: bool,
    bounded_below_by_zero: bool | None = None,
) -> bool:
    """H2O-3's moving-average early-stopping rule (ScoreKeeper.stopEarly; docs/scoring.md).

    ``values``: the stopping metric at each scoring event so far, oldest first, *without*
    H2O's all-NaN placeholder row. H2O needs n - 1 >= 2k history rows counting the
    placeholder; that placeholder is not a scoring event (docs/scoring.md, "Early stopping"),
    so here the condition is len(values) >= 2k (10 real scoring events for k = 5, as in H2O).

    The last 2k values give k + 1 moving averages of window k; the first is the reference.
    Training stops when the best of the other k does not improve on the reference by more
    than ``tolerance`` relative to |reference| (H2O's best/ref >= 1 - tol for positive
    values, written without the division so negative deviances behave); a metric bounded
    below by 0 (default: every lower-is-better metric) that reached 0 stops at once;
    any NaN average never stops.
    """
    if k <= 0 or len(values) < 2 * k:
        return False
    last = np.asarray(values[-2 * k :], dtype=np.float64)
    ma = np.array([last[i : i + k].mean() for i in range(k + 1)])
    if np.isnan(ma).any():
        return False
    ref = ma[0]
    if bounded_below_by_zero is None:
        bounded_below_by_zero = not higher_is_better
    if bounded_below_by_zero and ref == 0:
        return True
    best = ma[1:].max() if higher_is_better else ma[1:].min()
    if np.sign(ma.max()) != np.sign(ma.min()) or np.sign(best) != np.sign(ref):
        return False
    gain = best - ref if higher_is_better else ref - best
    return not gain > tolerance * abs(ref)


# --------------------------------------------------------------------------- #
# Printing, H2O style
# --------------------------------------------------------------------------- #


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(r):
        return "  ".join(c.ljust(wd) for c, wd in zip(r, widths)).rstrip()

    return "\n".join([fmt(header), fmt(["-" * wd for wd in widths]), *map(fmt, rows)])


def _g(x: float) -> str:
    return "NaN" if math.isnan(x) else f"{x:.4f}"


def _count(c) -> int | float:
    """A confusion-matrix cell: an int, or a float when observation weights made it fractional."""
    return int(c) if float(c).is_integer() else float(c)


def _confusion_rows(cm: np.ndarray, domain: Sequence[str]) -> list[list]:
    """One row per actual class and a Totals row: label, counts, error (float), rate ("wrong / total")."""
    cm = np.asarray(cm, dtype=np.float64)
    parts = [(str(name), cm[i], _count(cm[i].sum()), _count(cm[i, i])) for i, name in enumerate(domain)]
    parts.append(("Totals", cm.sum(axis=0), _count(cm.sum()), _count(np.trace(cm))))
    return [
        [
            label,
            *(_count(c) for c in counts),
            (total - right) / total if total else math.nan,
            f"{_count(total - right):,} / {total:,}",
        ]
        for label, counts, total, right in parts
    ]


def format_confusion_matrix(cm: np.ndarray, domain: Sequence[str], threshold: float | None = None) -> str:
    """Rows actual, columns predicted, with Error and Rate columns and a Totals row."""
    title = "Confusion Matrix: Row labels: Actual class; Column labels: Predicted class"
    if threshold is not None:
        title = f"Confusion Matrix (Act/Pred) for max f1 @ threshold = {threshold:.6g}"
    rows = [[r[0], *map(str, r[1:-2]), _g(r[-2]), r[-1]] for r in _confusion_rows(cm, domain)]
    return title + ":\n" + _table(["", *map(str, domain), "Error", "Rate"], rows)


def format_hit_ratios(hit_ratios: Sequence[float]) -> str:
    rows = [[str(k), f"{h:.6f}"] for k, h in enumerate(hit_ratios, start=1)]
    return f"Top-{len(hit_ratios)} Hit Ratios:\n" + _table(["k", "hit_ratio"], rows)


_TITLES = {
    "regression": "ModelMetricsRegression",
    "binomial": "ModelMetricsBinomial",
    "multinomial": "ModelMetricsMultinomial",
    "autoencoder": "ModelMetricsAutoEncoder",
}


def format_metrics(
    metrics: dict[str, Any],
    kind: str,
    title: str = "",
    *,
    domain: Sequence[str] | None = None,
    max_confusion_matrix_size: int = 20,
) -> str:
    """The metrics block H2O prints for a model, e.g. under "** Reported on train data. **".

    The confusion matrix is printed only up to ``max_confusion_matrix_size`` classes;
    ``domain`` overrides the class names stored in ``metrics``.
    """
    lines = [f"{_TITLES[kind]}: deeplearning"]
    if title:
        lines.append(f"** {title} **")
    lines.append("")
    lines += [f"{key}: {metrics[key]:.7g}" for key in metric_keys("print", kind) if key in metrics]
    cm = metrics.get("confusion_matrix")
    if cm is not None and len(cm) <= max_confusion_matrix_size:
        names = list(domain) if domain is not None else metrics.get("domain") or [str(i) for i in range(len(cm))]
        thr = metrics.get("max_f1_threshold") if kind == "binomial" else None
        lines += ["", format_confusion_matrix(cm, names, thr)]
    if metrics.get("hit_ratios"):
        lines += ["", format_hit_ratios(metrics["hit_ratios"])]
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Tables and metrics objects of the Python API (H2O-3's H2OTwoDimTable,
# ConfusionMatrix and metrics classes), over the plain dicts above
# --------------------------------------------------------------------------- #


def _pandas(what: str):
    try:
        import pandas as pd  # optional here, and ~0.3 s: only for the DataFrame views
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"{what} needs pandas: pip install pandas") from exc
    return pd


def _cell_text(v: Any) -> str:
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else f"{v:.6g}"
    return "" if v is None else str(v)


class TwoDimTable:
    """A titled table like H2O-3's ``H2OTwoDimTable``: ``col_header``, ``cell_values`` (rows),
    ``table["col"]`` or ``table[i]`` (one column as a list), ``table[a:b]`` (rows), ``as_data_frame()``."""

    def __init__(self, table_header: str, col_header: Sequence[str], cell_values: Sequence[Sequence[Any]]) -> None:
        self.table_header = table_header
        self.col_header = list(col_header)
        self.cell_values = [list(row) for row in cell_values]

    def __getitem__(self, item):
        if isinstance(item, slice):
            return TwoDimTable(self.table_header, self.col_header, self.cell_values[item])
        if isinstance(item, str):
            if item not in self.col_header:
                raise KeyError(f"no column {item!r} in table {self.table_header!r} (columns: {self.col_header})")
            index = self.col_header.index(item)
        else:
            index = int(item)
            if not -len(self.col_header) <= index < len(self.col_header):
                raise IndexError(f"column index {item} out of range for {len(self.col_header)} columns")
        return [row[index] for row in self.cell_values]

    def __len__(self) -> int:
        return len(self.cell_values)

    def as_data_frame(self):
        """The table as a pandas DataFrame (needs pandas)."""
        return _pandas("as_data_frame()").DataFrame(self.cell_values, columns=self.col_header)

    def __str__(self) -> str:
        rows = [[_cell_text(v) for v in row] for row in self.cell_values]
        return f"{self.table_header}:\n" + _table(self.col_header, rows)

    __repr__ = __str__

    def show(self) -> None:
        print(self)


class ConfusionMatrix:
    """Counts of actual (rows) by predicted (columns) class, printed like H2O-3's with Error and Rate
    columns and a Totals row. ``matrix`` (numpy counts), ``to_list()``, ``table`` (a TwoDimTable),
    ``as_data_frame()``; ``threshold``: the binomial label threshold it was taken at (max F1)."""

    def __init__(self, matrix, domain: Sequence[str], threshold: float | None = None) -> None:
        self.matrix = _integral(np.asarray(matrix, dtype=np.float64))
        self.domain = [str(d) for d in domain]
        self.threshold = threshold

    @property
    def table(self) -> TwoDimTable:
        title = "Confusion Matrix (Act/Pred)"
        if self.threshold is not None:
            title += f" for max f1 @ threshold = {self.threshold:.6g}"
        return TwoDimTable(title, ["", *self.domain, "Error", "Rate"], _confusion_rows(self.matrix, self.domain))

    def to_list(self) -> list[list[int]]:
        return self.matrix.tolist()

    def as_data_frame(self):
        return self.table.as_data_frame()

    def __str__(self) -> str:
        return format_confusion_matrix(self.matrix, self.domain, self.threshold)

    __repr__ = __str__

    def show(self) -> None:
        print(self)


class ThresholdValues(list):
    """H2O-3's answer for a threshold metric: ``[[threshold, value]]``, with the value alone as ``.value``."""

    def __init__(self, pairs: list[list[float]]) -> None:
        super().__init__(pairs)
        self.value = pairs[0][1] if len(pairs) == 1 else [p[1] for p in pairs]


# method -> (key of the metrics dict, the kinds of model that report it), as H2O-3's metrics classes
_METRIC_METHODS = {m.method: (m.key, m.kinds) for m in METRICS if m.method}


class ModelMetrics(Mapping):
    """Metrics of a model on one frame, like H2O-3's metrics objects: ``perf.auc()``, ``perf.rmse()``,
    ``perf.confusion_matrix()``, ``print(perf)``. Still a read-only mapping of the stored values
    (``perf["logloss"]``, ``perf.as_dict()``), so code that read the plain dict keeps working.

    A method the model kind does not report (``auc()`` of a regression) raises ValueError naming
    the kinds that have it, where H2O-3 fails with a KeyError.
    """

    kind = ""

    def __init__(self, metrics: Mapping, *, on: str = "test", domain=None, max_confusion_matrix_size: int = 20):
        self._m = dict(metrics)
        self.on = on  # "train", "validation", "cross-validation" or "test": where the rows came from
        dom = domain if domain is not None else self._m.get("domain")
        self.domain = None if dom is None else [str(d) for d in dom]
        self.max_confusion_matrix_size = int(max_confusion_matrix_size)

    # -- mapping -------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._m[key]

    def __iter__(self):
        return iter(self._m)

    def __len__(self) -> int:
        return len(self._m)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._m)

    # -- H2O-3's accessors ----------------------------------------------------
    def _value(self, method: str) -> Any:
        key, kinds = _METRIC_METHODS[method]
        if self.kind not in kinds:
            raise ValueError(f"{method}() is not defined for {self.kind} metrics (only for {' and '.join(kinds)})")
        if self._m.get(key) is None:
            raise ValueError(f"{method}(): these {self.kind} metrics have no {key!r} (saved by an older hpcdl?)")
        return self._m[key]

    def mse(self) -> float:
        return self._value("mse")

    def rmse(self) -> float:
        return self._value("rmse")

    def nobs(self) -> int:
        return self._value("nobs")

    def r2(self) -> float:
        return self._value("r2")

    def logloss(self) -> float:
        return self._value("logloss")

    def mean_per_class_error(self):
        return self._value("mean_per_class_error")

    def auc(self) -> float:
        return self._value("auc")

    def aucpr(self) -> float:
        return self._value("aucpr")

    def pr_auc(self) -> float:
        """H2O-3's old name of :meth:`aucpr`."""
        return self.aucpr()

    def gini(self) -> float:
        """2 AUC - 1, as H2O-3 reports it."""
        return 2.0 * self.auc() - 1.0

    def mae(self) -> float:
        return self._value("mae")

    def rmsle(self) -> float:
        return self._value("rmsle")

    def mean_residual_deviance(self) -> float:
        return self._value("mean_residual_deviance")

    # -- printing ---------------------------------------------------------------
    def __str__(self) -> str:
        return format_metrics(
            self._m,
            self.kind,
            f"Reported on {self.on} data.",
            domain=self.domain,
            max_confusion_matrix_size=self.max_confusion_matrix_size,
        )

    __repr__ = __str__

    def show(self) -> None:
        print(self)


class ModelMetricsRegression(ModelMetrics):
    kind = "regression"


class ModelMetricsAutoEncoder(ModelMetrics):
    kind = "autoencoder"


class ModelMetricsMultinomial(ModelMetrics):
    kind = "multinomial"

    def confusion_matrix(self) -> ConfusionMatrix:
        return ConfusionMatrix(self._m["confusion_matrix"], self.domain or [])

    def hit_ratio_table(self) -> TwoDimTable:
        """Top-k hit ratios (fraction of rows whose class is among the k most probable), k = 1..max_hit_ratio_k."""
        ratios = self._m.get("hit_ratios") or []
        return TwoDimTable(f"Top-{len(ratios)} Hit Ratios", ["k", "hit_ratio"], list(enumerate(ratios, start=1)))

    def _auc_tables(self, what: str) -> dict:
        tables = self._m.get("multinomial_auc")
        if tables is None:
            raise ValueError(
                f"{what}: multinomial AUC was not computed (auc_type AUTO means NONE, as in H2O-3, which "
                "reports 'NaN'); train with auc_type='MACRO_OVR', 'WEIGHTED_OVR', 'MACRO_OVO' or 'WEIGHTED_OVO', "
                "or call model_performance(frame, auc_type=...)"
            )
        return tables

    def auc(self) -> float:
        """The multinomial AUC of the model's ``auc_type`` (H2O-3's MultinomialAUC.auc())."""
        self._auc_tables("auc()")
        return self._m["AUC"]

    def aucpr(self) -> float:
        """The multinomial AUCPR of the model's ``auc_type``."""
        self._auc_tables("aucpr()")
        return self._m["pr_auc"]

    def multinomial_auc_table(self) -> TwoDimTable:
        """One-vs-rest and one-vs-one AUCs with their macro and weighted means (H2O-3's table)."""
        return multinomial_auc_table(self._auc_tables("multinomial_auc_table()"))

    def multinomial_aucpr_table(self) -> TwoDimTable:
        """The same for AUCPR."""
        return multinomial_auc_table(self._auc_tables("multinomial_aucpr_table()"), pr=True)


def with_auc_type(m: Mapping, auc_type: str) -> dict:
    """Multinomial metrics whose AUC and pr_auc are those of ``auc_type`` (their tables hold every type)."""
    out = dict(m)
    tables = m.get("multinomial_auc")
    if tables is not None and auc_type in MULTINOMIAL_AUC_TYPES:
        out["AUC"], out["pr_auc"] = tables[auc_type]
        out["auc_type"] = auc_type
    elif auc_type not in MULTINOMIAL_AUC_TYPES:
        for key in ("AUC", "pr_auc", "auc_type", "multinomial_auc"):
            out.pop(key, None)
    return out


_CRITERION_ALIASES = {"mcc": "absolute_mcc", "tpr": "recall", "tnr": "specificity", "sensitivity": "recall"}


def _criterion_method(criterion: str):
    """A binomial metrics method answering ``metric(criterion)``, as H2O-3's F1(), accuracy(), ..."""

    def method(self, thresholds=None) -> ThresholdValues:
        return self.metric(criterion, thresholds)

    method.__doc__ = f"[[threshold, {criterion}]] at the threshold of maximum {criterion}."
    return method


class ModelMetricsBinomial(ModelMetrics):
    """Binomial metrics; the threshold metrics (``F1()``, ``accuracy()``, ``error()``, ...) answer as H2O-3's
    do, ``[[threshold, value]]`` at the threshold that is best for that metric (``.value``: the value)."""

    kind = "binomial"

    scored: tuple | None = None  # (class codes, P(class 1)) when the object comes from scoring a frame

    def _criterion(self, name: str, thresholds) -> tuple[float, float]:
        table = self._m.get("max_criteria")
        if not table:
            raise ValueError("these binomial metrics have no per-threshold maxima (saved by an older hpcdl?)")
        canonical = _CRITERION_ALIASES.get(name.lower(), name.lower())
        if canonical not in table:
            raise ValueError(f"unknown threshold metric {name!r}; use one of {list(BINOMIAL_CRITERIA)}")
        threshold, value = table[canonical]
        return threshold, value

    def metric(self, metric: str, thresholds=None) -> ThresholdValues:
        """``[[threshold, value]]`` of a criterion of BINOMIAL_CRITERIA at its maximizing threshold, or
        at each of ``thresholds`` (metrics of a scored frame: ``model.model_performance(frame)``)."""
        if thresholds is not None:
            canonical = _CRITERION_ALIASES.get(metric.lower(), metric.lower())
            if canonical not in BINOMIAL_CRITERIA:
                raise ValueError(f"unknown threshold metric {metric!r}; use one of {list(BINOMIAL_CRITERIA)}")
            return ThresholdValues([[t, float(self._at(t)[canonical])] for t in _threshold_list(thresholds)])
        return ThresholdValues([list(self._criterion(metric, thresholds))])

    def _one_minus(self, criterion: str, thresholds) -> ThresholdValues:
        if thresholds is not None:
            return ThresholdValues([[t, 1.0 - v] for t, v in self.metric(criterion, thresholds)])
        threshold, value = self._criterion(criterion, thresholds)
        return ThresholdValues([[threshold, 1.0 - value]])

    # -- per-threshold answers (issue 25): need the scored rows ---------------------------------
    def _rows(self, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(class codes, P(1), observation weights) of the scored rows of nonzero weight."""
        if self.scored is None:
            raise ValueError(
                f"{what}: these metrics keep each criterion at its best threshold only; per-threshold answers "
                "need the scored rows: use model.model_performance(frame)"
            )
        y, p1 = self.scored[:2]
        w = self.scored[2] if len(self.scored) > 2 else np.ones(len(y))
        y, w, p1 = _kept(y, np.asarray(w, dtype=np.float64), p1)
        return y, p1, w

    def _counts(self, threshold: float) -> tuple[float, float, float, float]:
        y, p1, w = self._rows("thresholds=")
        pred = p1 >= threshold
        tp = float(np.sum(w[pred & (y == 1)]))
        fp = float(np.sum(w[pred & (y == 0)]))
        return tp, fp, float(np.sum(w[y == 1])), float(np.sum(w[y == 0]))

    def _at(self, threshold: float) -> dict[str, float]:
        tp, fp, npos, nneg = self._counts(threshold)
        crit = _threshold_criteria(np.array([tp]), np.array([fp]), npos, nneg)
        return {k: float(v[0]) for k, v in crit.items()}

    def thresholds_and_metric_scores(self) -> TwoDimTable:
        """H2O-3's table: one row per distinct score of the scored rows (highest first), each criterion of
        BINOMIAL_CRITERIA when predicting class 1 for P(1) >= threshold, then tns, fns, fps, tps, tnr,
        fnr, fpr, tpr, idx. (H2O-3 bins scores into at most 400 thresholds; hpcdl keeps every one.)"""
        y, p1, w = self._rows("thresholds_and_metric_scores()")
        thr, tp, fp = _threshold_table(y, p1, w)
        npos, nneg = float(np.sum(w[y == 1])), float(np.sum(w[y == 0]))
        crit = _threshold_criteria(tp, fp, npos, nneg)
        fn, tn = npos - tp, nneg - fp
        extra = {
            "tns": tn, "fns": fn, "fps": fp, "tps": tp,
            "tnr": _ratio(tn, nneg), "fnr": _ratio(fn, npos), "fpr": _ratio(fp, nneg), "tpr": _ratio(tp, npos),
        }  # fmt: skip
        cols = ["threshold", *BINOMIAL_CRITERIA, *extra, "idx"]
        columns = [thr, *(crit[c] for c in BINOMIAL_CRITERIA), *extra.values(), np.arange(thr.size)]
        rows = [
            [float(c[i]) if k < len(cols) - 1 else int(c[i]) for k, c in enumerate(columns)] for i in range(thr.size)
        ]
        return TwoDimTable("Metrics for Thresholds", cols, rows)

    def roc(self) -> tuple[list[float], list[float]]:
        """``(fprs, tprs)`` over the thresholds of :meth:`thresholds_and_metric_scores`, as H2O-3's ``roc()``."""
        table = self.thresholds_and_metric_scores()
        return list(table["fpr"]), list(table["tpr"])

    def gains_lift(self) -> TwoDimTable:
        """H2O-3's Gains/Lift table: the rows sorted by P(1), cut at the cumulative fractions H2O-3 uses
        (1, 2, 3, 4, 5, 10, 15, ..., 100 %; ties with a cut's score go into its group)."""
        y, p1, w = self._rows("gains_lift()")
        if np.any(w != w[:1]):
            raise ValueError("gains_lift(): the table of rows with different observation weights is not implemented")
        n, npos = y.size, float(np.sum(y == 1))
        order = np.argsort(-p1, kind="stable")
        ys, ps = y[order].astype(np.float64), p1[order]
        rate = npos / n if n else math.nan
        rows, prev_end = [], 0
        for g, frac in enumerate(GAINS_LIFT_FRACTIONS, start=1):
            end = max(int(math.ceil(frac * n)), 1)
            end = int(np.searchsorted(-ps, -ps[end - 1], side="right"))  # ties with the cut's score join it
            if end <= prev_end:
                continue
            grp = ys[prev_end:end]
            cum = ys[:end]
            rows.append(
                [g, end / n, float(ps[end - 1]), grp.mean() / rate, cum.mean() / rate, grp.mean(), cum.mean(),
                 grp.sum() / npos, cum.sum() / npos, 100 * (grp.mean() / rate - 1), 100 * (cum.mean() / rate - 1)]
            )  # fmt: skip
            prev_end = end
        cols = ["group", "cumulative_data_fraction", "lower_threshold", "lift", "cumulative_lift", "response_rate",
                "cumulative_response_rate", "capture_rate", "cumulative_capture_rate", "gain", "cumulative_gain"]  # fmt: skip
        return TwoDimTable("Gains/Lift Table", cols, rows)

    def find_threshold_by_max_metric(self, metric: str) -> float:
        return self._criterion(metric, None)[0]

    F1 = _criterion_method("f1")
    F2 = _criterion_method("f2")
    F0point5 = _criterion_method("f0point5")
    accuracy = _criterion_method("accuracy")
    precision = _criterion_method("precision")
    recall = _criterion_method("recall")
    specificity = _criterion_method("specificity")
    mcc = _criterion_method("absolute_mcc")

    def error(self, thresholds=None) -> ThresholdValues:
        """1 - accuracy at the threshold of maximum accuracy (H2O-3's ``error()``)."""
        return self._one_minus("accuracy", thresholds)

    def mean_per_class_error(self, thresholds=None) -> ThresholdValues:
        """1 - mean per-class accuracy at its best threshold (H2O-3's binomial ``mean_per_class_error()``;
        the plain value ``perf["mean_per_class_error"]`` is at the max-F1 threshold, like the confusion matrix)."""
        return self._one_minus("mean_per_class_accuracy", thresholds)

    def max_per_class_error(self, thresholds=None) -> ThresholdValues:
        return self._one_minus("min_per_class_accuracy", thresholds)

    def confusion_matrix(self, metrics=None, thresholds=None):
        """The confusion matrix at the max-F1 threshold (H2O-3's default), at the threshold that maximizes
        each of ``metrics``, or at each of ``thresholds``; a list when several are asked, as H2O-3."""
        if metrics in (None, "f1", ["f1"]) and thresholds is None:
            return ConfusionMatrix(self._m["confusion_matrix"], self.domain or [], self._m.get("max_f1_threshold"))
        if metrics is not None and thresholds is not None:
            raise ValueError("confusion_matrix(): give metrics= or thresholds=, not both (as H2O-3)")
        if thresholds is None:
            names = [metrics] if isinstance(metrics, str) else list(metrics)
            thresholds = [self.find_threshold_by_max_metric(m) for m in names]
        cms = []
        for t in _threshold_list(thresholds):
            tp, fp, npos, nneg = self._counts(t)
            cm = [[int(nneg - fp), int(fp)], [int(npos - tp), int(tp)]]
            cms.append(ConfusionMatrix(cm, self.domain or [], t))
        return cms[0] if len(cms) == 1 else cms


GAINS_LIFT_FRACTIONS = (0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _threshold_list(thresholds) -> list[float]:
    items = thresholds if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
    return [float(t) for t in items]


_METRICS_CLASSES = {
    "binomial": ModelMetricsBinomial,
    "multinomial": ModelMetricsMultinomial,
    "regression": ModelMetricsRegression,
    "autoencoder": ModelMetricsAutoEncoder,
}


def metrics_object(
    metrics: Mapping | None, kind: str, *, on: str = "test", domain=None, max_confusion_matrix_size: int = 20
) -> ModelMetrics | None:
    """The metrics object of ``kind`` over a metrics dict; None for no metrics (no validation frame, no folds)."""
    if not metrics:
        return None
    return _METRICS_CLASSES[kind](metrics, on=on, domain=domain, max_confusion_matrix_size=max_confusion_matrix_size)
