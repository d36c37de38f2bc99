"""Model metrics as H2O-3 reports them, the early-stopping rule, and their printing.

Inputs are numpy arrays: predictions in original units, classification responses
as integer class codes 0..K-1. Every function returns a plain dict so that the
trainer can put it in the scoring history and the store can write it as-is.
(docs/scoring.md.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "StoppingMetric",
    "autoencoder_metrics",
    "binomial_metrics",
    "format_confusion_matrix",
    "format_hit_ratios",
    "format_metrics",
    "metric_for_stopping",
    "model_loss",
    "multinomial_metrics",
    "regression_metrics",
    "stop_early",
    "stopping_metric_info",
]

LOGLOSS_EPS = 1e-15  # H2O clips p_true from below before the log
LIFT_TOP_FRACTION = 0.01  # H2O's gains/lift table: the first group is the top 1%


# --------------------------------------------------------------------------- #
# Shared pieces
# --------------------------------------------------------------------------- #


def _sample_variance(y: np.ndarray, w: np.ndarray) -> float:
    """Weighted variance of y with the n/(n-1) sample correction (n = rows), as H2O."""
    n = y.size
    if n < 2:
        return math.nan
    mean = np.sum(w * y) / np.sum(w)
    return float(np.sum(w * (y - mean) ** 2) / np.sum(w) * n / (n - 1))


def _r2(mse: float, var: float) -> float:
    return 1.0 - mse / var if var > 0 else math.nan


def _logloss_and_mse(p_true: np.ndarray) -> tuple[float, float]:
    logloss = float(np.mean(-np.log(np.maximum(p_true, LOGLOSS_EPS))))
    mse = float(np.mean((1.0 - p_true) ** 2))
    return logloss, mse


def _mean_per_class_error(cm: np.ndarray) -> float:
    """Mean over classes that occur (row sum > 0) of 1 - recall."""
    rows = cm.sum(axis=1)
    present = rows > 0
    if not present.any():
        return math.nan
    return float(np.mean(1.0 - np.diag(cm)[present] / rows[present]))


# --------------------------------------------------------------------------- #
# Regression
# --------------------------------------------------------------------------- #


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """Inverse of the weighted empirical CDF (the smallest x with CDF >= q)."""
    order = np.argsort(x, kind="stable")
    cdf = np.cumsum(w[order]) / np.sum(w)
    i = min(int(np.searchsorted(cdf, q, side="left")), x.size - 1)
    return float(x[order][i])


def _unit_deviance(
    y: np.ndarray,
    f: np.ndarray,
    w: np.ndarray,
    distribution: str,
    quantile_alpha: float,
    huber_alpha: float,
    tweedie_power: float,
) -> np.ndarray:
    """Per-row deviance as H2O's Distribution.deviance (f in response units)."""
    r = y - f
    if distribution in ("gaussian", "AUTO"):
        return r * r
    if distribution == "laplace":
        return np.abs(r)
    if distribution == "quantile":
        return np.where(r > 0, quantile_alpha * r, (quantile_alpha - 1.0) * r)
    if distribution == "huber":
        # delta = the huber_alpha quantile of |residual| on this scoring frame
        a = np.abs(r)
        delta = _weighted_quantile(a, w, huber_alpha) if a.size else 0.0
        return np.where(a <= delta, r * r, 2.0 * delta * a - delta * delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        if distribution == "poisson":
            ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / f), 0.0)
            return 2.0 * (ylogy - r)
        if distribution == "gamma":
            # H2O's form leaves out the saturated-model terms: 2 (y/f + log f)
            return 2.0 * (y / f + np.log(f))
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
    """MSE, RMSE, MAE, RMSLE, mean_residual_deviance, r2, nobs (rows with NA y skipped)."""
    y = np.asarray(y, dtype=np.float64).ravel()
    f = np.asarray(pred, dtype=np.float64).ravel()
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    keep = ~np.isnan(y) & (w != 0)
    y, f, w = y[keep], f[keep], w[keep]
    sw = float(np.sum(w))
    if y.size == 0:
        nan = math.nan
        return {"MSE": nan, "RMSE": nan, "MAE": nan, "RMSLE": nan, "mean_residual_deviance": nan, "r2": nan, "nobs": 0}
    r = y - f
    mse = float(np.sum(w * r * r) / sw)
    if (y < 0).any() or (f < 0).any():
        rmsle = math.nan
    else:
        d = np.log1p(f) - np.log1p(y)
        rmsle = math.sqrt(float(np.sum(w * d * d) / sw))
    dev = _unit_deviance(y, f, w, distribution, quantile_alpha, huber_alpha, tweedie_power)
    return {
        "MSE": mse,
        "RMSE": math.sqrt(mse),
        "MAE": float(np.sum(w * np.abs(r)) / sw),
        "RMSLE": rmsle,
        "mean_residual_deviance": float(np.sum(w * dev) / sw),
        "r2": _r2(mse, _sample_variance(y, w)),
        "nobs": int(y.size),
    }


# --------------------------------------------------------------------------- #
# Binomial
# --------------------------------------------------------------------------- #


def _threshold_table(y: np.ndarray, p1: np.ndarray):
    """Distinct thresholds (descending) with TP and FP when predicting 1 for p1 >= t."""
    order = np.argsort(-p1, kind="stable")
    ps, ys = p1[order], y[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(1 - ys)
    # the last row of each run of equal scores closes that threshold
    last = np.r_[ps[1:] != ps[:-1], True]
    return ps[last], tp[last].astype(np.float64), fp[last].astype(np.float64)


def binomial_metrics(y: np.ndarray, p1: np.ndarray, domain: Sequence[str]) -> dict[str, Any]:
    """H2O's binomial metrics; y in {0, 1}, p1 = P(class 1).

    Error, mean per-class error and the confusion matrix are at the max-F1
    threshold (predict class 1 when p1 >= threshold; the highest such threshold
    when several reach the same F1).
    """
    y = np.asarray(y).astype(np.int64).ravel()
    p1 = np.asarray(p1, dtype=np.float64).ravel()
    n = y.size
    npos = float(y.sum())
    nneg = n - npos
    p_true = np.where(y == 1, p1, 1.0 - p1)
    logloss, mse = _logloss_and_mse(p_true)

    thr, tp, fp = _threshold_table(y, p1)
    if npos > 0 and nneg > 0:
        tpr = np.r_[0.0, tp / npos]
        fpr = np.r_[0.0, fp / nneg]
        auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        precision = tp / (tp + fp)
        recall = np.r_[0.0, tp / npos]
        prec = np.r_[precision[0], precision]
        pr_auc = float(np.sum(np.diff(recall) * (prec[1:] + prec[:-1]) / 2))
    else:
        auc = pr_auc = math.nan

    fn = npos - tp
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=(2 * tp + fp + fn) > 0)
    best = int(np.argmax(f1)) if f1.size else 0
    threshold = float(thr[best]) if f1.size else math.nan
    TP, FP = (tp[best], fp[best]) if f1.size else (0.0, 0.0)
    cm = np.array([[nneg - FP, FP], [npos - TP, TP]], dtype=np.int64)

    # lift of the top group: the top 1% of rows by p1 (all rows tied with the cutoff included)
    lift = math.nan
    if n > 0 and npos > 0:
        cutoff = np.sort(p1)[::-1][max(math.ceil(LIFT_TOP_FRACTION * n), 1) - 1]
        top = p1 >= cutoff
        lift = float(y[top].mean() / (npos / n))

    return {
        "MSE": mse,
        "RMSE": math.sqrt(mse),
        "logloss": logloss,
        "AUC": auc,
        "pr_auc": pr_auc,
        "max_f1": float(f1[best]) if f1.size else math.nan,
        "max_f1_threshold": threshold,
        "classification_error": float((cm[0, 1] + cm[1, 0]) / n) if n else math.nan,
        "mean_per_class_error": _mean_per_class_error(cm),
        "confusion_matrix": cm,
        "lift_top_group": lift,
        "r2": _r2(mse, _sample_variance(y.astype(np.float64), np.ones(n))),
        "nobs": int(n),
        "domain": list(domain),
    }


# --------------------------------------------------------------------------- #
# Multinomial and autoencoder
# --------------------------------------------------------------------------- #


def multinomial_metrics(
    y: np.ndarray, P: np.ndarray, domain: Sequence[str], max_hit_ratio_k: int = 10
) -> dict[str, Any]:
    """H2O's multinomial metrics; y = class codes, P = (n, K) class probabilities.

    Predicted class = argmax (ties: lowest class index; H2O breaks ties by priors).
    Hit ratio k = fraction of rows whose true class is among the k most probable
    (ties: lower class index ranks first). r2 uses the variance of the class codes,
    as H2O does.
    """
    y = np.asarray(y).astype(np.int64).ravel()
    P = np.asarray(P, dtype=np.float64)
    n, K = P.shape
    p_true = P[np.arange(n), y]
    logloss, mse = _logloss_and_mse(p_true)
    pred = np.argmax(P, axis=1)
    cm = np.bincount(y * K + pred, minlength=K * K).reshape(K, K)
    # rank of the true class: classes strictly more probable, or as probable and earlier
    idx = np.arange(K)
    rank = np.sum((P > p_true[:, None]) | ((P == p_true[:, None]) & (idx[None, :] < y[:, None])), axis=1)
    kmax = min(max_hit_ratio_k, K)
    hit_ratios = [float(np.mean(rank < k)) for k in range(1, kmax + 1)]
    return {
        "MSE": mse,
        "RMSE": math.sqrt(mse),
        "logloss": logloss,
        "classification_error": float(1.0 - np.trace(cm) / n) if n else math.nan,
        "mean_per_class_error": _mean_per_class_error(cm),
        "confusion_matrix": cm,
        "hit_ratios": hit_ratios,
        "r2": _r2(mse, _sample_variance(y.astype(np.float64), np.ones(n))),
        "nobs": int(n),
        "domain": list(domain),
    }


def autoencoder_metrics(row_mse: np.ndarray) -> dict[str, Any]:
    """MSE = mean of the per-row reconstruction MSE (docs/scoring.md)."""
    row_mse = np.asarray(row_mse, dtype=np.float64).ravel()
    mse = float(np.mean(row_mse)) if row_mse.size else math.nan
    return {"MSE": mse, "RMSE": math.sqrt(mse), "nobs": int(row_mse.size)}


# --------------------------------------------------------------------------- #
# Early stopping and best model
# --------------------------------------------------------------------------- #


class StoppingMetric(NamedTuple):
    key: str  # the key in a metrics dict
    higher_is_better: bool
    bounded_below_by_zero: bool


_STOPPING = {
    "deviance": StoppingMetric("mean_residual_deviance", False, False),  # gamma/tweedie can go < 0
    "logloss": StoppingMetric("logloss", False, True),
    "MSE": StoppingMetric("MSE", False, True),
    "RMSE": StoppingMetric("RMSE", False, True),
    "MAE": StoppingMetric("MAE", False, True),
    "RMSLE": StoppingMetric("RMSLE", False, True),
    "AUC": StoppingMetric("AUC", True, False),
    "AUCPR": StoppingMetric("pr_auc", True, False),
    "lift_top_group": StoppingMetric("lift_top_group", True, False),
    "misclassification": StoppingMetric("classification_error", False, True),
    "mean_per_class_error": StoppingMetric("mean_per_class_error", False, True),
}
_AUTO = {"binomial": "logloss", "multinomial": "logloss", "regression": "deviance", "autoencoder": "MSE"}


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


def format_confusion_matrix(cm: np.ndarray, domain: Sequence[str], threshold: float | None = None) -> str:
    """Rows actual, columns predicted, with Error and Rate columns and a Totals row."""
    cm = np.asarray(cm)
    title = "Confusion Matrix: Row labels: Actual class; Column labels: Predicted class"
    if threshold is not None:
        title = f"Confusion Matrix (Act/Pred) for max f1 @ threshold = {threshold:.6g}"
    rows = []
    for i, name in enumerate(domain):
        total = int(cm[i].sum())
        wrong = total - int(cm[i, i])
        rows.append([str(name), *map(str, cm[i]), _g(wrong / total if total else math.nan), f"{wrong:,} / {total:,}"])
    total = int(cm.sum())
    wrong = total - int(np.trace(cm))
    rows.append(
        ["Totals", *map(str, cm.sum(axis=0)), _g(wrong / total if total else math.nan), f"{wrong:,} / {total:,}"]
    )
    return title + ":\n" + _table(["", *map(str, domain), "Error", "Rate"], rows)


def format_hit_ratios(hit_ratios: Sequence[float]) -> str:
    rows = [[str(k), f"{h:.6f}"] for k, h in enumerate(hit_ratios, start=1)]
    return f"Top-{len(hit_ratios)} Hit Ratios:\n" + _table(["k", "hit_ratio"], rows)


_SHOWN = {
    "regression": ["MSE", "RMSE", "MAE", "RMSLE", "mean_residual_deviance", "r2"],
    "binomial": ["MSE", "RMSE", "logloss", "AUC", "pr_auc", "mean_per_class_error", "lift_top_group", "r2"],
    "multinomial": ["MSE", "RMSE", "logloss", "mean_per_class_error", "r2"],
    "autoencoder": ["MSE", "RMSE"],
}
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
    lines += [f"{key}: {metrics[key]:.7g}" for key in _SHOWN[kind] if key in metrics]
    cm = metrics.get("confusion_matrix")
    if cm is not None and len(cm) <= max_confusion_matrix_size:
        names = list(domain) if domain is not None else metrics.get("domain") or [str(i) for i in range(len(cm))]
        thr = metrics.get("max_f1_threshold") if kind == "binomial" else None
        lines += ["", format_confusion_matrix(cm, names, thr)]
    if metrics.get("hit_ratios"):
        lines += ["", format_hit_ratios(metrics["hit_ratios"])]
    return "\n".join(lines)
