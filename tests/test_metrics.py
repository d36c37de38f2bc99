"""Metrics against independent slow computations; the early-stopping rule on
hand-made sequences (docs/scoring.md)."""

import math

import numpy as np
import pytest
from sklearn.metrics import (
    mean_gamma_deviance,
    mean_pinball_loss,
    mean_poisson_deviance,
    mean_tweedie_deviance,
    r2_score,
)

from hpcdl.metrics import (
    autoencoder_metrics,
    binomial_metrics,
    format_confusion_matrix,
    format_hit_ratios,
    format_metrics,
    metric_for_stopping,
    model_loss,
    multinomial_metrics,
    regression_metrics,
    stop_early,
    stopping_metric_info,
)


def pairwise_auc(y, s):
    """Probability a random positive outranks a random negative, ties count 1/2: O(n^2)."""
    pos, neg = s[y == 1], s[y == 0]
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(4))
def test_auc_matches_pairwise_count_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 300
    y = rng.integers(0, 2, n)
    s = np.round(rng.random(n) * 0.5 + 0.3 * y, 1)  # coarse scores: many ties
    m = binomial_metrics(y, s, ["a", "b"])
    assert m["AUC"] == pytest.approx(pairwise_auc(y, s), abs=1e-12)


def test_auc_perfect_and_reversed():
    y = np.array([0, 0, 1, 1])
    assert binomial_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]), "01")["AUC"] == 1.0
    assert binomial_metrics(y, np.array([0.9, 0.8, 0.2, 0.1]), "01")["AUC"] == 0.0
    assert binomial_metrics(y, np.full(4, 0.5), "01")["AUC"] == 0.5
    assert math.isnan(binomial_metrics(np.ones(4), np.full(4, 0.5), "01")["AUC"])


def test_binomial_logloss_mse_and_threshold_metrics_against_loops():
    rng = np.random.default_rng(7)
    n = 200
    y = rng.integers(0, 2, n)
    p1 = np.clip(rng.random(n) * 0.7 + 0.3 * y, 0, 1)
    p1[0], y[0] = 0.0, 1  # exercises the 1e-15 clip
    m = binomial_metrics(y, p1, ["no", "yes"])

    ll = mse = 0.0
    for yi, pi in zip(y, p1):
        pt = pi if yi == 1 else 1 - pi
        ll += -math.log(max(pt, 1e-15))
        mse += (1 - pt) ** 2
    assert m["logloss"] == pytest.approx(ll / n)
    assert m["MSE"] == pytest.approx(mse / n)
    assert m["RMSE"] == pytest.approx(math.sqrt(mse / n))

    # max F1 over every candidate threshold, by brute force
    best_f1, best_t = -1.0, None
    for t in sorted(set(p1), reverse=True):
        tp = sum(1 for yi, pi in zip(y, p1) if pi >= t and yi == 1)
        fp = sum(1 for yi, pi in zip(y, p1) if pi >= t and yi == 0)
        fn = sum(1 for yi, pi in zip(y, p1) if pi < t and yi == 1)
        f1 = 2 * tp / (2 * tp + fp + fn)
        if f1 > best_f1:
            best_f1, best_t = f1, t
    assert m["max_f1"] == pytest.approx(best_f1)
    assert m["max_f1_threshold"] == best_t
    cm = np.zeros((2, 2), int)
    for yi, pi in zip(y, p1):
        cm[yi, int(pi >= best_t)] += 1
    assert (m["confusion_matrix"] == cm).all()
    assert m["classification_error"] == pytest.approx((cm[0, 1] + cm[1, 0]) / n)
    assert m["mean_per_class_error"] == pytest.approx((cm[0, 1] / cm[0].sum() + cm[1, 0] / cm[1].sum()) / 2)
    # H2O-3's r2 divides by the population variance of the response (MetricBuilder.weightedSigma)
    assert m["r2"] == pytest.approx(r2_score(y, p1))
    assert m["nobs"] == n


def numeric_pr_auc(y, s, w, steps=20000):
    """H2O-3's AUCPR by numeric integration: between two thresholds, TP and FP move along the straight
    line joining their values, and the area is the integral of TP/(TP+FP) over recall (midpoint rule)."""
    pts = [(0.0, 0.0)]
    for t in sorted(set(s), reverse=True):
        pts.append((w[(s >= t) & (y == 1)].sum(), w[(s >= t) & (y == 0)].sum()))
    npos, area = w[y == 1].sum(), 0.0
    for (tp0, fp0), (tp1, fp1) in zip(pts, pts[1:]):
        if tp1 == tp0:
            continue
        u = (np.arange(steps) + 0.5) / steps
        tp, fp = tp0 + u * (tp1 - tp0), fp0 + u * (fp1 - fp0)
        area += np.mean(tp / (tp + fp)) * (tp1 - tp0) / npos
    return area


@pytest.mark.parametrize("seed", range(3))
def test_pr_auc_is_h2o_interpolated_integral(seed):
    rng = np.random.default_rng(seed)
    n = 60
    y = rng.integers(0, 2, n)
    s = np.round(rng.random(n) * 0.6 + 0.3 * y, 2)
    w = rng.integers(1, 4, n).astype(float)
    m = binomial_metrics(y, s, "01", weights=w)
    assert m["pr_auc"] == pytest.approx(numeric_pr_auc(y, s, w), abs=1e-6)


def test_lift_top_group_is_the_rows_above_the_interpolated_99th_percentile():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 380)
    p = rng.random(380)
    m = binomial_metrics(y, p, "01")
    top = p >= np.quantile(p, 0.99)  # H2O-3's Quantile interpolates as numpy's default
    assert m["lift_top_group"] == pytest.approx(y[top].mean() / y.mean())


def test_multinomial_against_loops_and_sorting():
    rng = np.random.default_rng(3)
    n, K = 250, 5
    Z = rng.normal(size=(n, K))
    P = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    y = rng.integers(0, K, n)
    y[:5] = 4  # make sure the last class occurs
    m = multinomial_metrics(y, P, list("abcde"), max_hit_ratio_k=3)

    cm = np.zeros((K, K), int)
    for yi, pi in zip(y, P):
        cm[yi, int(np.argmax(pi))] += 1
    assert (m["confusion_matrix"] == cm).all()
    assert m["classification_error"] == pytest.approx(1 - np.trace(cm) / n)
    per_class = [1 - cm[c, c] / cm[c].sum() for c in range(K) if cm[c].sum() > 0]
    assert m["mean_per_class_error"] == pytest.approx(np.mean(per_class))

    hits = [0, 0, 0]
    for yi, pi in zip(y, P):
        top = sorted(range(K), key=lambda c: -pi[c])
        for k in range(1, 4):
            hits[k - 1] += yi in top[:k]
    assert m["hit_ratios"] == pytest.approx([h / n for h in hits])
    assert len(multinomial_metrics(y, P, list("abcde"))["hit_ratios"]) == K  # min(10, K)

    pt = P[np.arange(n), y]
    assert m["logloss"] == pytest.approx(np.mean(-np.log(pt)))
    assert m["MSE"] == pytest.approx(np.mean((1 - pt) ** 2))
    assert m["r2"] == pytest.approx(1 - m["MSE"] / np.var(y))


def test_regression_against_direct_formulas():
    rng = np.random.default_rng(11)
    n = 400
    y = rng.gamma(2.0, 2.0, n)
    f = y + rng.normal(0, 0.5, n)
    f = np.abs(f) + 0.01
    m = regression_metrics(y, f)
    sse = np.sum((y - f) ** 2)
    sst = np.sum((y - y.mean()) ** 2)
    assert m["MSE"] == pytest.approx(sse / n)
    assert m["MAE"] == pytest.approx(np.mean(np.abs(y - f)))
    assert m["RMSLE"] == pytest.approx(np.sqrt(np.mean((np.log1p(f) - np.log1p(y)) ** 2)))
    assert m["mean_residual_deviance"] == pytest.approx(sse / n)
    # H2O-3's r2 divides MSE by the population variance: scikit-learn's r2_score
    assert m["r2"] == pytest.approx(1 - sse / sst)
    assert m["r2"] == pytest.approx(r2_score(y, f))
    assert m["nobs"] == n

    # RMSLE: log1p is defined above -1 (H2O-3 gives NaN only below it)
    assert math.isnan(regression_metrics(np.array([1.0, -2.0]), np.array([1.0, 1.0]))["RMSLE"])
    half = regression_metrics(np.array([1.0, -0.5]), np.array([1.0, 1.0]))["RMSLE"]
    assert half == pytest.approx(math.sqrt((math.log(2) - math.log(0.5)) ** 2 / 2))
    yn = y.copy()
    yn[0] = np.nan
    assert regression_metrics(yn, f)["nobs"] == n - 1


def test_regression_deviances():
    y = np.array([0.0, 1.0, 3.0, 2.0])
    f = np.array([0.5, 1.5, 2.0, 2.0])

    def dev(d, **kw):
        return regression_metrics(y, f, d, **kw)["mean_residual_deviance"]

    assert dev("laplace") == pytest.approx(np.mean(np.abs(y - f)))
    a = 0.3
    pin = [a * (yi - fi) if yi > fi else (1 - a) * (fi - yi) for yi, fi in zip(y, f)]
    assert dev("quantile", quantile_alpha=a) == pytest.approx(np.mean(pin))
    pois = [2 * ((yi * math.log(yi / fi) if yi > 0 else 0) - yi + fi) for yi, fi in zip(y, f)]
    assert dev("poisson") == pytest.approx(np.mean(pois))
    # gamma: H2O-3's 2 (log(f/y) + y/f - 1) is scikit-learn's mean_gamma_deviance (y > 0)
    gamma = regression_metrics(y[1:], f[1:], "gamma")["mean_residual_deviance"]
    assert gamma == pytest.approx(mean_gamma_deviance(y[1:], f[1:]))
    assert dev("poisson") == pytest.approx(mean_poisson_deviance(y, f))
    assert dev("tweedie", tweedie_power=1.5) == pytest.approx(mean_tweedie_deviance(y, f, power=1.5))
    assert dev("quantile", quantile_alpha=a) == pytest.approx(mean_pinball_loss(y, f, alpha=a))
    p = 1.5
    tw = [
        2 * (yi ** (2 - p) / ((1 - p) * (2 - p)) - yi * fi ** (1 - p) / (1 - p) + fi ** (2 - p) / (2 - p))
        for yi, fi in zip(y, f)
    ]
    assert dev("tweedie", tweedie_power=p) == pytest.approx(np.mean(tw))
    # huber: |r| = .5,.5,1,0 ; delta = the interpolated 0.5-quantile = 0.5 ; r=1 gets (2*1 - .5)*.5
    assert dev("huber", huber_alpha=0.5) == pytest.approx((0.25 + 0.25 + 0.75 + 0) / 4)
    # huber_alpha 0.8: delta = .5 + (1 - .5) * (0.8 * 3 - 2) = 0.7 (numpy's linear quantile, as H2O-3's Quantile)
    assert np.quantile(np.abs(y - f), 0.8) == pytest.approx(0.7)
    assert dev("huber", huber_alpha=0.8) == pytest.approx((0.25 + 0.25 + (2 - 0.7) * 0.7 + 0) / 4)
    w = np.array([1.0, 2.0, 0.0, 1.0])
    mw = regression_metrics(y, f, weights=w)
    assert mw["MSE"] == pytest.approx(np.sum(w * (y - f) ** 2) / w.sum()) and mw["nobs"] == 3


def test_autoencoder_metrics():
    m = autoencoder_metrics(np.array([0.1, 0.3, 0.2]))
    assert m["MSE"] == pytest.approx(0.2) and m["RMSE"] == pytest.approx(math.sqrt(0.2)) and m["nobs"] == 3


# ----- early stopping ---------------------------------------------------------


def test_stop_improving_does_not_stop():
    assert not stop_early([1.0 / i for i in range(1, 21)], k=5, tolerance=0, higher_is_better=False)
    assert not stop_early([0.5 + 0.01 * i for i in range(20)], k=5, tolerance=0, higher_is_better=True)


def test_stop_flat_stops_with_zero_tolerance():
    assert stop_early([0.3] * 10, k=5, tolerance=0, higher_is_better=False)
    assert stop_early([0.8] * 10, k=5, tolerance=0, higher_is_better=True)


def test_stop_needs_2k_events():
    assert not stop_early([0.3] * 9, k=5, tolerance=0, higher_is_better=False)
    assert stop_early([0.3] * 10, k=5, tolerance=0, higher_is_better=False)
    assert not stop_early([0.3] * 100, k=0, tolerance=0, higher_is_better=False)


def test_stop_within_tolerance():
    # reference window mean 1.0, recent windows improve by 0.5%
    vals = [1.0] * 5 + [0.995] * 5
    assert stop_early(vals, k=5, tolerance=0.01, higher_is_better=False)
    assert not stop_early(vals, k=5, tolerance=0.001, higher_is_better=False)
    auc = [0.80] * 5 + [0.804] * 5
    assert stop_early(auc, k=5, tolerance=0.01, higher_is_better=True)
    assert not stop_early(auc, k=5, tolerance=0.001, higher_is_better=True)


def test_stop_uses_only_the_last_2k_events():
    # early values were far better, but only the last 2k count
    vals = [0.01] * 5 + [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]
    assert not stop_early(vals, k=3, tolerance=0, higher_is_better=False)


def test_stop_nan_never_stops():
    assert not stop_early([0.3] * 9 + [float("nan")], k=5, tolerance=0, higher_is_better=False)


def test_stop_direction_auc():
    falling_auc = [0.9 - 0.01 * i for i in range(10)]  # getting worse
    assert stop_early(falling_auc, k=5, tolerance=0, higher_is_better=True)
    assert not stop_early(falling_auc, k=5, tolerance=0, higher_is_better=False)


def test_stop_zero_lower_bound_and_sign_change():
    assert stop_early([0.0] * 4, k=2, tolerance=0.5, higher_is_better=False)
    assert not stop_early([1.0, 1.0, -1.0, -1.0], k=2, tolerance=0, higher_is_better=False, bounded_below_by_zero=False)
    # negative deviances: improving means more negative
    assert not stop_early(
        [-1.0, -1.0, -2.0, -2.0], k=2, tolerance=0, higher_is_better=False, bounded_below_by_zero=False
    )
    assert stop_early([-2.0, -2.0, -1.0, -1.0], k=2, tolerance=0, higher_is_better=False, bounded_below_by_zero=False)


def test_stopping_metric_keys_and_model_loss():
    bm = {"AUC": 0.9, "pr_auc": 0.7, "logloss": 0.3, "lift_top_group": 2.0, "classification_error": 0.1}
    assert stopping_metric_info("AUTO", "binomial").key == "logloss"
    assert stopping_metric_info("AUTO", "regression").key == "mean_residual_deviance"
    assert stopping_metric_info("AUTO", "autoencoder").key == "MSE"
    assert metric_for_stopping("AUC", "binomial") == ("AUC", True)
    assert metric_for_stopping("AUCPR", "binomial") == ("pr_auc", True)
    assert metric_for_stopping("misclassification", "multinomial") == ("classification_error", False)
    assert metric_for_stopping("deviance", "regression") == ("mean_residual_deviance", False)
    for name in ("AUC", "AUCPR", "logloss", "lift_top_group", "misclassification"):
        key, _ = metric_for_stopping(name, "binomial")
        assert key in binomial_metrics(np.array([0, 1, 1]), np.array([0.2, 0.6, 0.9]), "ab")
    assert model_loss(bm, "AUC", "binomial") == pytest.approx(0.1)
    assert model_loss(bm, "AUCPR", "binomial") == pytest.approx(0.3)
    assert model_loss(bm, "AUTO", "binomial") == 0.3
    assert model_loss(bm, "lift_top_group", "binomial") == -2.0
    with pytest.raises(ValueError):
        stopping_metric_info("custom", "binomial")


# ----- printing -------------------------------------------------------------------


def test_format_confusion_matrix_has_errors_rates_and_totals():
    cm = np.array([[250, 50], [20, 96]])
    s = format_confusion_matrix(cm, ["NO", "YES"], threshold=0.3617)
    lines = s.splitlines()
    assert "threshold = 0.3617" in lines[0]
    assert lines[1].split() == ["NO", "YES", "Error", "Rate"]
    assert lines[3].split() == ["NO", "250", "50", "0.1667", "50", "/", "300"]
    assert lines[-1].split() == ["Totals", "270", "146", "0.1683", "70", "/", "416"]


def test_format_hit_ratios_and_metrics():
    s = format_hit_ratios([0.5, 0.75, 1.0])
    assert s.splitlines()[0] == "Top-3 Hit Ratios:" and s.splitlines()[-1].split() == ["3", "1.000000"]
    y = np.array([0, 1, 2, 1])
    P = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])
    text = format_metrics(multinomial_metrics(y, P, ["a", "b", "c"]), "multinomial", "Reported on train data.")
    assert "ModelMetricsMultinomial" in text and "logloss:" in text and "Top-3 Hit Ratios" in text
    assert "Totals" in text
    assert "Totals" not in format_metrics(
        multinomial_metrics(y, P, ["a", "b", "c"]), "multinomial", max_confusion_matrix_size=2
    )
    text = format_metrics(
        binomial_metrics(np.array([0, 1]), np.array([0.3, 0.6]), "01"), "binomial", domain=["neg", "pos"]
    )
    assert "neg" in text and "threshold = 0.6" in text
