"""The one Deep Learning parameters object: H2O-3 names, defaults, ranges, aliases,
checkpoint rules, validation, and H2O's effective-parameter rewriting.

Every parameter is declared exactly once in ``PARAMETERS`` below; the constructor,
the validation, the checkpoint rule and ``docs/parameters.md`` all read from there.
Defaults are H2O-3's (docs/parameters.md) except where ``DIFFERENCES`` says otherwise.

Standard library only: this module is imported everywhere, including by the CLI
before numpy is loaded.
"""

from __future__ import annotations

import difflib
import math
import numbers
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .metrics import default_stopping_metric, stopping_metric_names

__all__ = [
    "ALIASES",
    "PARAMETERS",
    "DeepLearningParameters",
    "Interval",
    "Param",
    "ParameterError",
    "check_checkpoint_change",
    "check_no_cross_validation",
    "parameters_markdown",
    "reject_grid_values",
]


class ParameterError(ValueError):
    """A parameter has an unknown name, a wrong type, or a value out of range."""

    def __init__(self, message: str, parameter: str | None = None):
        super().__init__(message)
        self.parameter = parameter


# --------------------------------------------------------------------------- #
# Declarations
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Interval:
    """A real interval; ``closed`` is one of "both", "left", "right", "neither"."""

    low: float = -math.inf
    high: float = math.inf
    closed: str = "both"

    def __contains__(self, x: float) -> bool:
        lo_ok = x >= self.low if self.closed in ("both", "left") else x > self.low
        hi_ok = x <= self.high if self.closed in ("both", "right") else x < self.high
        return lo_ok and hi_ok

    def __str__(self) -> str:
        lo_closed = self.closed in ("both", "left")
        hi_closed = self.closed in ("both", "right")
        if self.high == math.inf and self.low == -math.inf:
            return "any"
        if self.high == math.inf:
            # +inf itself is allowed only when the upper end is closed (max_w2)
            op = "≥" if lo_closed else ">"
            tail = "" if not hi_closed else " (inf allowed)"
            return f"{op} {_num(self.low)}{tail}"
        if self.low == -math.inf:
            return f"{'≤' if hi_closed else '<'} {_num(self.high)}"
        return f"{'[' if lo_closed else '('}{_num(self.low)}, {_num(self.high)}{']' if hi_closed else ')'}"


def _num(x: float) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


@dataclass(frozen=True)
class Param:
    """One parameter: its H2O name, default, type, allowed values and checkpoint rule.

    kind: "bool", "int", "float", "enum", "str", "int_list" or "float_list".
    interval: allowed range for numbers (each element for lists).
    special: values allowed outside ``interval`` (e.g. -1 = disabled).
    checkpoint: "M" may change on checkpoint restart, "F" must not change.
    """

    name: str
    default: Any
    kind: str
    doc: str
    checkpoint: str
    interval: Interval | None = None
    choices: tuple[str, ...] = ()
    special: tuple[Any, ...] = ()
    nullable: bool = False
    aliases: tuple[str, ...] = ()
    # H2O-3 values hpcdl refuses (docs/differences.md): refused when the parameters are built, so a
    # job fails before it reads a frame instead of inside the trainer.
    unsupported: tuple[Any, ...] = ()

    def describe_range(self) -> str:
        if self.kind == "bool":
            text = "False (True is not supported)" if True in self.unsupported else "True, False"
        elif self.kind == "enum":
            text = ", ".join(c for c in self.choices if c not in self.unsupported)
            if self.unsupported:
                text += f" ({', '.join(self.unsupported)}: not supported)"
        elif self.kind == "str":
            text = "string"
        else:
            text = str(self.interval) if self.interval else "any"
            if self.kind == "int_list":
                text = f"list of integers, each {text}"
            elif self.kind == "float_list":
                text = f"list of numbers, each {text}"
            if self.special:
                text = " or ".join(_num(s) for s in self.special) + " or " + text
        if self.nullable:
            text += "; or None"
        return text


_POS = Interval(0, math.inf, "neither")  # > 0
_NONNEG = Interval(0, math.inf, "left")  # >= 0
_UNIT = Interval(0, 1, "both")  # [0, 1]
_UNIT_OPEN = Interval(0, 1, "left")  # [0, 1)

ACTIVATIONS = (
    "Tanh",
    "TanhWithDropout",
    "Rectifier",
    "RectifierWithDropout",
    "Maxout",
    "MaxoutWithDropout",
)
LOSSES = ("Automatic", "CrossEntropy", "Quadratic", "Huber", "Absolute", "Quantile")
OPTIMIZERS = ("AUTO", "Adam")
AUC_TYPES = ("AUTO", "NONE", "MACRO_OVR", "WEIGHTED_OVR", "MACRO_OVO", "WEIGHTED_OVO")  # H2O-3's MultinomialAucType
DISTRIBUTIONS = (
    "AUTO",
    "bernoulli",
    "multinomial",
    "gaussian",
    "poisson",
    "gamma",
    "laplace",
    "quantile",
    "huber",
    "tweedie",
)
# H2O-3 distributions without a loss gradient in hpcdl's kernels (docs/differences.md).
UNSUPPORTED_DISTRIBUTIONS = ("poisson", "gamma", "tweedie")
# stopping_metric's choices and the kinds of response each needs: from the one metric registry.
STOPPING_METRICS = ("AUTO", *stopping_metric_names())
CLASSIFICATION_ONLY_METRICS = stopping_metric_names(only=("binomial", "multinomial"))
BINOMIAL_ONLY_METRICS = stopping_metric_names(only=("binomial",))
REGRESSION_ONLY_METRICS = stopping_metric_names(only=("regression",))


def _p(*args, **kw) -> Param:
    return Param(*args, **kw)


# The table (docs/parameters.md is made from it). Checkpoint rules: docs/checkpoints.md and the
# M/F column of docs/parameters.md; H2O's "C" parameters (silently kept from the checkpoint) are
# "F" here when changing them would change the model, "M" when they are job-level.
# One line per parameter, so the declarations read as a table.
# fmt: off
PARAMETERS: tuple[Param, ...] = (
    # --- network -----------------------------------------------------------
    _p("activation", "Rectifier", "enum", "Hidden-layer nonlinearity; *WithDropout adds hidden dropout", "F", choices=ACTIVATIONS),
    _p("hidden", [200, 200], "int_list", "Hidden layer sizes ([] = no hidden layer)", "F", Interval(1, math.inf, "left")),
    _p("epochs", 10.0, "float", "Total epochs to train (on checkpoint restart: the new total)", "M", _POS),
    _p("train_samples_per_iteration", -2, "int", "Samples per iteration cluster-wide: -2 auto-tune, -1 all local rows per rank, 0 one epoch", "M", Interval(-2, math.inf, "left")),
    _p("target_ratio_comm_to_comp", 0.05, "float", "Auto-tuning target: communication time / computation time", "M", _POS),
    _p("seed", -1, "int", "Random seed for initialization, sampling and dropout; -1 = draw one at random", "M"),
    # --- optimizer ---------------------------------------------------------
    _p("adaptive_rate", True, "bool", "ADADELTA adaptive learning rate", "F"),
    _p("rho", 0.99, "float", "ADADELTA decay factor (must be > 0 with adaptive_rate)", "F", _UNIT),
    _p("epsilon", 1e-8, "float", "ADADELTA smoothing (must be > 0 with adaptive_rate)", "F", _NONNEG),
    _p("rate", 0.005, "float", "Manual learning rate (must be > 0 without adaptive_rate)", "F", _NONNEG),
    _p("rate_annealing", 1e-6, "float", "Learning rate annealing: rate / (1 + rate_annealing * samples)", "F", _NONNEG),
    _p("rate_decay", 1.0, "float", "Per-layer learning rate factor: rate * rate_decay^(layer - 1)", "F", _NONNEG),
    _p("momentum_start", 0.0, "float", "Momentum at the start of training (manual rate only)", "F", _UNIT_OPEN),
    _p("momentum_ramp", 1e6, "float", "Samples over which momentum ramps from start to stable", "F", _NONNEG),
    _p("momentum_stable", 0.0, "float", "Momentum after the ramp (manual rate only)", "F", _UNIT_OPEN),
    _p("nesterov_accelerated_gradient", True, "bool", "Nesterov momentum variant", "F", aliases=("neverov_accelerated_gradient",)),
    _p("optimizer", "AUTO", "enum", "AUTO: H2O's choice (ADADELTA with adaptive_rate, else the manual rate and momentum_*); Adam (hpcdl extension): rate, beta1, beta2, epsilon, weight_decay", "F", choices=OPTIMIZERS),
    _p("beta1", 0.9, "float", "Adam: decay of the running mean of gradients (optimizer=Adam only)", "F", _UNIT_OPEN),
    _p("beta2", 0.999, "float", "Adam: decay of the running mean of squared gradients (optimizer=Adam only)", "F", _UNIT_OPEN),
    _p("weight_decay", 0.0, "float", "Adam: decoupled weight decay, w -= rate * weight_decay * w per update (AdamW; optimizer=Adam only)", "F", _NONNEG),
    # --- regularization ----------------------------------------------------
    _p("input_dropout_ratio", 0.0, "float", "Fraction of input values dropped per training row", "M", _UNIT_OPEN),
    _p("hidden_dropout_ratios", None, "float_list", "Per-hidden-layer dropout fraction (*WithDropout only; default 0.5 each)", "M", _UNIT_OPEN, nullable=True, aliases=("hidden_dropout_ratio",)),
    _p("hidden_dropout_masks", "Shared", "enum", "Shared (H2O-3): unit j is kept or dropped in every hidden layer together; Independent: a separate mask per layer (hpcdl extension)", "M", choices=("Shared", "Independent")),
    _p("l1", 0.0, "float", "L1 regularization on weights", "M", _NONNEG),
    _p("l2", 0.0, "float", "L2 regularization on weights", "M", _NONNEG),
    _p("max_w2", math.inf, "float", "Cap on the sum of squared incoming weights of a unit (+inf = none; Rectifier default 1000)", "M", Interval(0, math.inf, "right")),
    # --- initialization ----------------------------------------------------
    _p("initial_weight_distribution", "UniformAdaptive", "enum", "Initial weight distribution", "M", choices=("UniformAdaptive", "Uniform", "Normal")),
    _p("initial_weight_scale", 1.0, "float", "Uniform half-width or Normal standard deviation", "M", _POS),
    # --- loss --------------------------------------------------------------
    _p("loss", "Automatic", "enum", "Loss function (Automatic: CrossEntropy for classification, else from distribution)", "M", choices=LOSSES),
    _p("distribution", "AUTO", "enum", "Response distribution (AUTO: bernoulli/multinomial, or from loss)", "F", choices=DISTRIBUTIONS, unsupported=UNSUPPORTED_DISTRIBUTIONS),
    _p("quantile_alpha", 0.5, "float", "Quantile for the quantile distribution", "F", _UNIT),
    _p("tweedie_power", 1.5, "float", "Tweedie power", "F", Interval(1, 2, "neither")),
    _p("huber_alpha", 0.9, "float", "Quantile of |residual| used as the Huber delta in the reported deviance", "F", _UNIT),
    # --- scoring -----------------------------------------------------------
    _p("score_interval", 5.0, "float", "Minimum seconds between scoring events", "M", _NONNEG),
    _p("score_training_samples", 10000, "int", "Training rows sampled for scoring (0 = all)", "M", _NONNEG),
    _p("score_validation_samples", 0, "int", "Validation rows sampled for scoring (0 = all)", "M", _NONNEG),
    _p("score_duty_cycle", 0.1, "float", "Maximum fraction of wall time spent scoring", "M", _UNIT),
    _p("score_validation_sampling", "Uniform", "enum", "Validation scoring sample: Uniform, or Stratified (with balance_classes)", "M", choices=("Uniform", "Stratified")),
    _p("score_each_iteration", False, "bool", "Score after every iteration", "M"),
    _p("score_progress", 0.0, "float", "0: H2O's cadence (score_interval); > 0 (hpcdl extension): wait until the stopping metric should have moved by this fraction at its recent pace, less its scatter between scorings, within score_interval/score_duty_cycle and 8x that", "M", _NONNEG),
    # --- stopping ----------------------------------------------------------
    _p("classification_stop", 0.0, "float", "Stop when training classification error <= this (-1 disables)", "M", _UNIT, special=(-1.0,)),
    _p("regression_stop", 1e-6, "float", "Stop when training MSE <= this (-1 disables)", "M", _NONNEG, special=(-1.0,)),
    _p("stopping_rounds", 5, "int", "Moving-average early stopping window k (0 disables)", "M", _NONNEG),
    _p("stopping_metric", "AUTO", "enum", "Metric for early stopping and best model (AUTO: logloss, deviance, or MSE for autoencoders)", "M", choices=STOPPING_METRICS),
    _p("stopping_tolerance", 0.0, "float", "Relative improvement required to keep training", "M", _NONNEG),
    _p("max_runtime_secs", 0.0, "float", "Wall-clock budget in seconds (0 = none)", "M", _NONNEG),
    _p("overwrite_with_best_model", True, "bool", "Replace the final model by the best-scoring one", "M", aliases=("override_with_best_model",)),
    # --- class balancing ---------------------------------------------------
    _p("balance_classes", False, "bool", "Over/under-sample classes to balance them (classification)", "F"),
    _p("class_sampling_factors", None, "float_list", "Per-class sampling ratios (requires balance_classes)", "F", _POS, nullable=True),
    _p("max_after_balance_size", 5.0, "float", "Cap on rows after balancing, relative to the original", "F", _POS),
    # --- outputs and speed -------------------------------------------------
    _p("variable_importances", True, "bool", "Compute Gedeon variable importances at scoring", "M"),
    _p("fast_mode", True, "bool", "Skip weight updates for zero inputs (backprop shortcut)", "M"),
    # --- data preparation --------------------------------------------------
    _p("ignore_const_cols", True, "bool", "Drop constant and all-NA columns", "F"),
    _p("use_all_factor_levels", True, "bool", "One-hot all levels (False drops the first level)", "F"),
    _p("missing_values_handling", "MeanImputation", "enum", "Numeric NA handling", "M", choices=("MeanImputation", "Skip")),
    _p("standardize", True, "bool", "Standardize numeric inputs (and the regression response)", "F"),
    _p("categorical_encoding", "AUTO", "enum", "Categorical encoding (AUTO = OneHotInternal, the only one supported)", "F", choices=("AUTO", "OneHotInternal")),
    _p("max_categorical_features", 2147483647, "int", "Hash expanded categoricals into this many inputs", "F", Interval(1, math.inf, "left")),
    _p("unseen_level_policy", "NA", "enum", "Scoring rule for categorical levels unseen in training (NA = the level's NA slot, as H2O)", "F", choices=("NA",)),
    _p("sparse", False, "bool", "Sparse inputs: scale by 1/sd without centering", "F"),
    # --- autoencoder -------------------------------------------------------
    _p("autoencoder", False, "bool", "Train an autoencoder (target = input)", "F"),
    _p("sparsity_beta", 0.0, "float", "Sparse autoencoder penalty weight (autoencoder only)", "F", _NONNEG),
    _p("average_activation", 0.0, "float", "Target mean hidden activation of the sparse autoencoder", "M"),
    _p("classification", None, "bool", "Force classification (booklet); None = infer from the response type", "F", nullable=True),
    # --- parallelism and determinism ---------------------------------------
    _p("reproducible", False, "bool", "Deterministic training: one thread per rank, seeded dropout, scoring every iteration", "M"),
    _p("mini_batch_size", 1, "int", "Rows per gradient step (honoured, unlike H2O)", "M", Interval(1, math.inf, "left")),
    _p("elastic_averaging", False, "bool", "Elastic averaging between ranks (experimental)", "M", unsupported=(True,)),
    _p("elastic_averaging_moving_rate", 0.9, "float", "Elastic averaging moving rate", "M", _UNIT),
    _p("elastic_averaging_regularization", 1e-3, "float", "Elastic averaging regularization", "M", _NONNEG),
    _p("force_load_balance", True, "bool", "Split small data so every core trains", "M"),
    _p("replicate_training_data", True, "bool", "Every rank holds all training rows (several ranks only)", "M"),
    _p("single_node_mode", False, "bool", "Train on one rank only (replicated data only)", "M"),
    _p("shuffle_training_data", False, "bool", "Shuffle training rows each iteration", "M"),
    # --- reporting ---------------------------------------------------------
    _p("quiet_mode", False, "bool", "Less progress output", "M"),
    _p("diagnostics", True, "bool", "Deprecated no-op, kept for H2O scripts", "M"),
    _p("max_confusion_matrix_size", 20, "int", "Largest number of classes for which the confusion matrix is printed", "M", _NONNEG),
    _p("max_hit_ratio_k", 10, "int", "Largest k for top-k hit ratios (0 disables; H2O-3 removed it)", "M", _NONNEG),
    _p("auc_type", "AUTO", "enum", "Multinomial AUC and AUCPR: AUTO = NONE (not computed), or MACRO_OVR, WEIGHTED_OVR, MACRO_OVO, WEIGHTED_OVO (the one auc() reports)", "M", choices=AUC_TYPES),
    _p("export_weights_and_biases", False, "bool", "Keep per-layer weights and biases as frames", "M"),
    # --- cross-validation and model identity -------------------------------
    _p("nfolds", 0, "int", "Cross-validation folds (0 = none, else >= 2)", "F", Interval(2, math.inf, "left"), special=(0,)),
    _p("fold_assignment", "AUTO", "enum", "Fold assignment (AUTO = Random)", "M", choices=("AUTO", "Random", "Modulo", "Stratified")),
    _p("fold_column", None, "str", "Column holding each row's fold", "M", nullable=True),
    _p("weights_column", None, "str", "Column of observation weights (>= 0; rows of weight 0 count for nothing)", "M", nullable=True),
    _p("offset_column", None, "str", "Column added to the output before the link (regression only)", "F", nullable=True),
    _p("keep_cross_validation_predictions", False, "bool", "Keep the fold models' holdout predictions", "M"),
    _p("keep_cross_validation_models", True, "bool", "Keep the fold models (False: only their metrics)", "M"),
    _p("keep_cross_validation_fold_assignment", False, "bool", "Keep each training row's fold: cross_validation_fold_assignment()", "M"),
    _p("checkpoint", None, "str", "Model to continue training from", "M", nullable=True),
    _p("model_id", None, "str", "Name of the model (booklet: key)", "M", nullable=True, aliases=("key",)),
)
# fmt: on

_BY_NAME: dict[str, Param] = {p.name: p for p in PARAMETERS}
ALIASES: dict[str, str] = {a: p.name for p in PARAMETERS for a in p.aliases}

_DROPOUT_ACTIVATIONS = tuple(a for a in ACTIVATIONS if a.endswith("WithDropout"))
_ADAM_ONLY = ("beta1", "beta2", "weight_decay")
# H2O's optimizer knobs that Adam replaces: its own momentum is beta1, its squared-gradient decay beta2.
# A knob left at its default is no contradiction (a round trip of all values gives them all), so
# adaptive_rate (default True) is simply overridden by optimizer='Adam'.
_NOT_WITH_ADAM = {
    "rho": "rho is ADADELTA's; Adam's decay is beta2",
    "momentum_start": "Adam's momentum is beta1",
    "momentum_ramp": "Adam's momentum is beta1",
    "momentum_stable": "Adam's momentum is beta1",
    "nesterov_accelerated_gradient": "Adam has no Nesterov variant here",
}
ADAM_DEFAULT_RATE = 0.001  # rate with optimizer=Adam when the user gives none (the usual Adam rate)
_MANUAL_RATE_PARAMS = (
    "rate",
    "rate_annealing",
    "rate_decay",
    "momentum_start",
    "momentum_ramp",
    "momentum_stable",
)


# --------------------------------------------------------------------------- #
# Per-parameter checking: type, then range
# --------------------------------------------------------------------------- #


def _fail(p: Param, value: Any, expected: str) -> ParameterError:
    return ParameterError(f"invalid value for parameter '{p.name}': {value!r}; expected {expected}", p.name)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool) or type(v).__name__ == "bool_"  # numpy.bool_


def _as_int(p: Param, v: Any, what: str) -> int:
    if _is_bool(v) or not isinstance(v, numbers.Real):
        raise _fail(p, v, what)
    if isinstance(v, numbers.Integral):
        return int(v)
    f = float(v)
    if math.isfinite(f) and f.is_integer():  # 1e4 from R/TOML is fine
        return int(f)
    raise _fail(p, v, what)


def _as_float(p: Param, v: Any, what: str) -> float:
    if _is_bool(v) or not isinstance(v, numbers.Real) or math.isnan(float(v)):
        raise _fail(p, v, what)
    return float(v)


def _check_range(p: Param, x: Any, shown: Any, what: str) -> None:
    if x in p.special:
        return
    if p.interval is not None and x not in p.interval:
        raise _fail(p, shown, what)


def _coerce(p: Param, v: Any) -> Any:
    """Return ``v`` in the parameter's canonical type, or raise ParameterError (also for a value
    H2O-3 takes but hpcdl does not support)."""
    x = _convert(p, v)
    if x in p.unsupported:
        supported = "only False" if p.kind == "bool" else f"supported: {p.describe_range().split(' (')[0]}"
        raise ParameterError(
            f"parameter '{p.name}': {x!r} is not supported by hpcdl ({supported}; see docs/differences.md)", p.name
        )
    return x


def _convert(p: Param, v: Any) -> Any:
    what = p.describe_range()
    if v is None:
        if p.nullable:
            return None
        raise _fail(p, v, what)
    if p.kind == "bool":
        if not _is_bool(v):
            raise _fail(p, v, "True or False")
        return bool(v)
    if p.kind == "enum":
        if isinstance(v, str):
            for c in p.choices:
                if c.lower() == v.lower():
                    return c
        raise _fail(p, v, f"one of {what}")
    if p.kind == "str":
        if not isinstance(v, str):
            raise _fail(p, v, "a string")
        return v
    if p.kind in ("int", "float"):
        x = _as_int(p, v, f"an integer, {what}") if p.kind == "int" else _as_float(p, v, f"a number, {what}")
        _check_range(p, x, v, what)
        return x
    # lists
    if isinstance(v, (str, bytes, Mapping)) or not isinstance(v, Iterable):
        raise _fail(p, v, what)
    conv = _as_int if p.kind == "int_list" else _as_float
    try:
        out = [conv(p, e, what) for e in v]
    except ParameterError:
        raise _fail(p, list(v), what) from None  # show the whole list
    if p.interval is not None and any(e not in p.interval for e in out):
        raise _fail(p, list(v), what)
    return out


def _is_list(v: Any) -> bool:
    return isinstance(v, (list, tuple))


# The public way in for callers that check one value at a time (a grid's fixed values and its lists,
# a job file's [grid] table): the same name resolution and per-value checks as the constructor.
is_list = _is_list


_NO_VALUE = object()  # a name asked about without a value (lookup(name)): the message names it alone


def lookup(name: str, value: Any = _NO_VALUE) -> Param:
    """The table's row for ``name`` (an H2O name or an alias); ParameterError for an unknown name
    (with close matches) or one hpcdl does not support (``value`` goes into that message)."""
    return _BY_NAME[_resolve_name(name, value)]


def check_value(name: str, value: Any) -> Any:
    """``value`` of parameter ``name`` in its canonical type, checked on its own (type, range, support)
    exactly as ``DeepLearningParameters`` checks it; the rules between parameters are not run.
    A parameter hpcdl lacks, at its H2O-3 default, is a no-op: returned as given."""
    if is_unsupported_default(name, value):
        return value
    return _coerce(lookup(name, value), value)


def check_response_given(autoencoder: bool, y: str | None) -> None:
    """A model learns a response unless it is an autoencoder: without ``y`` it would train
    on all-zero targets, so this is an error before any frame is read."""
    if not y and not autoencoder:
        raise ParameterError("y (the response column) is required unless autoencoder=True", "y")


def any_autoencoder(fixed: Mapping[str, Any], hyper: Mapping[str, Any] | None = None) -> bool:
    """Whether a model of these parameters is an autoencoder (for a grid: any of its models), before
    they are checked: such a model learns no response, so it needs no ``y``."""
    return bool(fixed.get("autoencoder")) or any((hyper or {}).get("autoencoder", []))


def _reject_grid_value(p: Param, name: str, value: Any) -> None:
    """One model takes one value per parameter; lists of values are a grid (hpcdl.grid)."""
    grid_like = _is_list(value) and (p.kind not in ("int_list", "float_list") or any(_is_list(e) for e in value))
    if grid_like:
        example = (
            "{'hidden': [[200, 200], [100, 300, 100]]}"
            if p.kind in ("int_list", "float_list")
            else f"{{'{p.name}': {list(value)!r}}}"
        )
        raise ParameterError(
            f"{name}={value!r}: hpcdl.deeplearning takes one value per parameter; to train a "
            f"model per value use hpcdl.grid(..., hyper_params={example}) or a job file's "
            "[grid] table",
            p.name,
        )


def reject_grid_values(params: Mapping[str, Any]) -> None:
    """Refuse lists of values (a grid) among single-model parameters; unknown names are left to the
    constructor, which suggests close matches."""
    for name, value in params.items():
        canonical = _BY_NAME.get(name) or _BY_NAME.get(ALIASES.get(name, ""))
        if canonical is not None:
            _reject_grid_value(canonical, name, value)


# H2O-3 Deep Learning parameters hpcdl lacks, and why (H2O-3 3.46's H2ODeepLearningEstimator has them):
# the one message for every entry point (constructor, train(), hpcdl.deeplearning, job files, CLI).
# See docs/differences.md.
NOT_SUPPORTED: dict[str, str] = {
    "initial_weights": "not built: starting the weight matrices from given frames (one per layer) changes how "
    "training starts; export_weights_and_biases, weights(i) and biases(i) are built",
    "initial_biases": "not built: starting the bias vectors from given frames (one per layer) changes how "
    "training starts; export_weights_and_biases, weights(i) and biases(i) are built",
    "pretrained_autoencoder": "not built: starting the hidden layers from an autoencoder model's weights",
    "custom_metric_func": "H2O-3 runs Python code uploaded to its Java server (h2o.upload_custom_metric); "
    "hpcdl's metrics are one fixed registry (metrics.METRICS)",
    "export_checkpoints_dir": "not built: save the trained model with h2o.save_model or model.save "
    "(a grid's models: hpcdl.grid(save_dir=...))",
    "gainslift_bins": "not built: the gains/lift table always has H2O-3's automatic groups "
    "(1, 2, 3, 4, 5, 10, 15, ..., 100 %)",
    "col_major": "deprecated in H2O-3, which itself refuses col_major=True ('Column major data handling not "
    "supported anymore - not faster', DeepLearningModel.java)",
}

# Their H2O-3 defaults: a script, or a round-trip of H2O-3's model.params, passing one of these asks for
# nothing, so it is accepted and dropped; any other value is refused with the reason above.
NOT_SUPPORTED_DEFAULTS: dict[str, Any] = {
    "initial_weights": None,
    "initial_biases": None,
    "pretrained_autoencoder": None,
    "custom_metric_func": None,
    "export_checkpoints_dir": None,
    "gainslift_bins": -1,
    "col_major": False,
}


def is_unsupported_default(name: str, value: Any) -> bool:
    """Whether ``name=value`` is a parameter hpcdl lacks (NOT_SUPPORTED) given at its H2O-3 default:
    a no-op, accepted. ``False`` and ``-1`` count as themselves only (not ``0`` or ``True``)."""
    if name not in NOT_SUPPORTED_DEFAULTS:
        return False
    default = NOT_SUPPORTED_DEFAULTS[name]
    return value is None if default is None else type(value) is type(default) and value == default


def drop_unsupported_defaults(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` without the no-op entries of :func:`is_unsupported_default`."""
    return {k: v for k, v in params.items() if not is_unsupported_default(k, v)}


# H2O-3 (hex/deeplearning/DeepLearningModel.java, checkParams): "Offset is only supported for regression."
OFFSET_REGRESSION_ONLY = "offsets apply to regression only (H2O-3 refuses them for classification and autoencoders)"


def not_supported(name: str, value: Any = _NO_VALUE) -> ParameterError:
    given = name if value is _NO_VALUE else f"{name}={value!r}"
    return ParameterError(f"{given}: {NOT_SUPPORTED[name]} (see docs/differences.md)", name)


def check_auc_type(value: Any) -> str:
    """An ``auc_type`` given outside the parameters (model_performance): checked as the parameter is."""
    return _convert(_BY_NAME["auc_type"], value)


def _resolve_name(name: str, value: Any = _NO_VALUE) -> str:
    if name in _BY_NAME:
        return name
    if name in ALIASES:
        return ALIASES[name]
    if name in NOT_SUPPORTED:
        raise not_supported(name, value)
    candidates = list(_BY_NAME) + list(ALIASES)
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ParameterError(f"unknown parameter '{name}'{hint}", name)


# --------------------------------------------------------------------------- #
# The parameters object
# --------------------------------------------------------------------------- #


class DeepLearningParameters:
    """H2O-3 Deep Learning parameters: validated on construction, immutable.

    ``DeepLearningParameters(hidden=[50, 50], epochs=5)`` or ``.from_dict(d)``.
    Use ``replace(**changes)`` for a modified copy, ``effective(...)`` for the
    values the trainer reads, ``user_given`` for the names the user set.
    """

    __slots__ = ("_user_given", "_values")

    def __init__(self, **kwargs: Any):
        given: dict[str, Any] = {}
        spelled: dict[str, str] = {}
        for raw_name, value in drop_unsupported_defaults(kwargs).items():
            name = _resolve_name(raw_name, value)
            if name in given:
                raise ParameterError(f"parameter '{name}' given twice (as '{spelled[name]}' and '{raw_name}')", name)
            _reject_grid_value(_BY_NAME[name], raw_name, value)
            given[name] = _coerce(_BY_NAME[name], value)
            spelled[name] = raw_name
        values = {p.name: _copy(p.default) for p in PARAMETERS}
        values.update(given)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_user_given", frozenset(given))
        self.validate()

    # -- construction helpers ---------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeepLearningParameters:
        return cls(**dict(d))

    @classmethod
    def _unchecked(cls, values: dict[str, Any], user_given: frozenset[str]) -> DeepLearningParameters:
        self = object.__new__(cls)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_user_given", user_given)
        return self

    def replace(self, **changes: Any) -> DeepLearningParameters:
        """A validated copy with ``changes`` applied (they count as user-given)."""
        kw = {n: self._values[n] for n in self._user_given}
        kw.update(changes)
        new = type(self)(**kw)
        return new

    # -- access ------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            return _copy(values[name])
        if name in ALIASES:
            return _copy(values[ALIASES[name]])
        raise AttributeError(f"{type(self).__name__} has no parameter '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("DeepLearningParameters is immutable; use .replace(name=value)")

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(_resolve_name(name))

    @property
    def user_given(self) -> frozenset[str]:
        return self._user_given

    def to_dict(self, user_given_only: bool = False) -> dict[str, Any]:
        """Plain values (str/int/float/bool/None/lists); max_w2 may be float inf."""
        names = [p.name for p in PARAMETERS if not user_given_only or p.name in self._user_given]
        return {n: _copy(self._values[n]) for n in names}

    def __reduce__(self):
        # __setattr__ is blocked, so pickling (mpi4py broadcasts) rebuilds explicitly
        return (_rebuild, (dict(self._values), self._user_given))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DeepLearningParameters):
            return NotImplemented
        return self._values == other._values

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={self._values[n]!r}" for n in _BY_NAME if n in self._user_given)
        return f"DeepLearningParameters({shown})"

    def layer_dropout_ratios(self) -> list[float]:
        """Dropout ratio per hidden layer; zeros when hidden dropout is off."""
        r = self._values["hidden_dropout_ratios"]
        return list(r) if r is not None else [0.0] * len(self._values["hidden"])

    # -- validation --------------------------------------------------------
    def validate(self, classification: bool | None = None, n_classes: int | None = None) -> None:
        """Rules between parameters (docs/parameters.md, same title); problem-type rules run when known.

        ``classification``: whether the response is categorical (None = unknown,
        falls back to the ``classification`` parameter). ``n_classes``: response
        levels, if known.
        """
        v = self._values
        err = _Errors()
        if classification is None:
            classification = v["classification"]
        elif v["classification"] is not None and v["classification"] != classification:
            err.add(
                "classification",
                f"parameter 'classification' is {v['classification']} but the problem is "
                f"{'classification' if classification else 'regression'}",
            )
        if n_classes is not None and classification is None:
            classification = True

        _check_dropout(v, err)
        _check_optimizer(v, self._user_given, err)
        _check_loss_for_distribution(v, err)
        _check_autoencoder(v, classification, err)
        _check_folds_and_sampling(v, err)
        _check_special_columns(v, classification, err)
        if classification is True:
            _check_classification(v, n_classes, err)
        elif classification is False:
            _check_regression(v, err)
        err.raise_if_any()

    # -- effective parameters ------------------------------------------------
    def effective(
        self, *, classification: bool, n_nodes: int = 1, n_classes: int | None = None, seed: int | None = None
    ) -> DeepLearningParameters:
        """The values the trainer reads: H2O's ``modifyParms`` (docs/parameters.md, "Effective parameters"),
        one frozen record carried from here to the kernels (``model.hyper_from_params``).
        ``seed``: the seed the run draws from (the trainer draws -1 once for all ranks before the
        record is made, or keeps a checkpoint's).

        Differences from H2O (see docs/parameters.md): mini_batch_size is honoured;
        max_w2 defaults to +inf and becomes 1000 for Rectifier only when the user did
        not set it; ``reproducible`` forces only what determinism needs
        (score_each_iteration, and tspi -2 -> -1); ``seed`` -1 is left for the trainer
        to draw once and broadcast; stopping_metric and fold_assignment AUTO are resolved.
        """
        if classification and n_classes is None:
            raise ParameterError("effective(): n_classes is required for classification", "classification")
        self.validate(classification=classification, n_classes=n_classes)
        v = dict(self._values)
        v["hidden"] = list(v["hidden"])
        act = v["activation"]

        # 1. hidden dropout defaults to 0.5 per layer for *WithDropout
        if act in _DROPOUT_ACTIVATIONS and v["hidden_dropout_ratios"] is None:
            v["hidden_dropout_ratios"] = [0.5] * len(v["hidden"])
        # 2. data replication only means something on several ranks
        if n_nodes <= 1:
            v["replicate_training_data"] = False
        if n_nodes <= 1 or not v["replicate_training_data"]:
            v["single_node_mode"] = False
        # 3. an autoencoder reconstructs every level
        if v["autoencoder"]:
            v["use_all_factor_levels"] = True
        # 4. the CV main model keeps its last state
        if v["nfolds"] != 0:
            v["overwrite_with_best_model"] = False
        # 5. one encoding
        if v["categorical_encoding"] == "AUTO":
            v["categorical_encoding"] = "OneHotInternal"
        # 6. mini_batch_size: honoured (H2O resets it to 1; we do not)
        # 7. one optimizer's knobs are meaningless under the other
        _effective_optimizer(v, self._user_given)
        # 8. Rectifier auto-cap, which H2O intends but never triggers (docs/differences.md)
        if act.startswith("Rectifier") and v["max_w2"] == math.inf and "max_w2" not in self._user_given:
            v["max_w2"] = 1000.0
        # 9-10-11. distribution, loss, stopping metric
        dist, loss = v["distribution"], v["loss"]
        if dist == "AUTO":
            if classification:
                dist = "bernoulli" if n_classes == 2 else "multinomial"
            else:
                dist = {"Absolute": "laplace", "Quantile": "quantile", "Huber": "huber"}.get(loss, "gaussian")
        v["distribution"], v["loss"] = dist, resolved_loss(loss, dist)
        if v["stopping_metric"] == "AUTO":
            kind = "autoencoder" if v["autoencoder"] else ("binomial" if classification else "regression")
            v["stopping_metric"] = default_stopping_metric(kind)
        if v["fold_assignment"] == "AUTO" and v["nfolds"] != 0:
            v["fold_assignment"] = "Random"
        # 12. reproducible: only what determinism needs
        if v["reproducible"]:
            v["score_each_iteration"] = True  # time-based scoring would vary run to run
            if v["train_samples_per_iteration"] == -2:
                v["train_samples_per_iteration"] = -1  # auto-tuning measures time
        v["classification"] = bool(classification)
        if seed is not None:
            v["seed"] = int(seed)

        eff = DeepLearningParameters._unchecked(v, self._user_given)
        eff.validate(classification=classification, n_classes=n_classes)
        return eff


def _effective_optimizer(v: dict[str, Any], user_given: frozenset[str]) -> None:
    """effective() step 7: Adam turns adaptive_rate off (and has its own default rate); ADADELTA zeroes the
    manual rate and momentum (with a warning when the user set them); a manual rate zeroes rho and epsilon."""
    if v["optimizer"] == "Adam":
        v["adaptive_rate"] = False  # momentum_start/stable are 0 (checked), rho is not read
        if "rate" not in user_given:
            v["rate"] = ADAM_DEFAULT_RATE
    elif v["adaptive_rate"]:
        ignored = [n for n in _MANUAL_RATE_PARAMS if n in user_given]
        if ignored:
            warnings.warn(
                f"adaptive_rate=True: ignoring {', '.join(ignored)} (manual learning rate and momentum)",
                UserWarning,
                stacklevel=3,
            )
        for n in _MANUAL_RATE_PARAMS:
            v[n] = 0.0
    else:
        v["rho"] = 0.0
        v["epsilon"] = 0.0


# The loss that loss=Automatic means for each distribution hpcdl supports (H2O's modifyParms).
LOSS_BY_DISTRIBUTION = {
    "gaussian": "Quadratic",
    "quantile": "Quantile",
    "laplace": "Absolute",
    "huber": "Huber",
    "bernoulli": "CrossEntropy",
    "multinomial": "CrossEntropy",
}


def _check_dropout(v: dict[str, Any], err: _Errors) -> None:
    """hidden_dropout_ratios: a *WithDropout activation and one ratio per hidden layer."""
    act = v["activation"]
    ratios = v["hidden_dropout_ratios"]
    if ratios is not None:
        if act not in _DROPOUT_ACTIVATIONS:
            err.add("hidden_dropout_ratios", f"hidden_dropout_ratios needs a *WithDropout activation, not '{act}'")
        elif len(ratios) != len(v["hidden"]):
            err.add(
                "hidden_dropout_ratios",
                f"hidden_dropout_ratios has {len(ratios)} entries but hidden has {len(v['hidden'])} layers",
            )


def _check_optimizer(v: dict[str, Any], user_given: frozenset[str], err: _Errors) -> None:
    """The learning-rate settings the chosen optimizer reads (Adam, ADADELTA or a manual rate)."""
    if v["optimizer"] == "Adam":
        _check_adam(v, user_given, err)
    elif v["adaptive_rate"]:
        if v["rho"] <= 0:
            err.add("rho", f"rho must be > 0 with adaptive_rate (got {v['rho']!r})")
        if v["epsilon"] <= 0:
            err.add("epsilon", f"epsilon must be > 0 with adaptive_rate (got {v['epsilon']!r})")
    else:
        if v["rate"] <= 0:
            err.add("rate", f"rate must be > 0 without adaptive_rate (got {v['rate']!r})")
        if v["rate_decay"] <= 0:
            err.add("rate_decay", f"rate_decay must be > 0 without adaptive_rate (got {v['rate_decay']!r})")
        if v["momentum_ramp"] <= 0:
            err.add("momentum_ramp", f"momentum_ramp must be > 0 without adaptive_rate (got {v['momentum_ramp']!r})")
    if v["optimizer"] != "Adam":
        for name in _ADAM_ONLY:
            if _set_off_default(v, user_given, name):
                err.add(name, f"{name} applies to optimizer='Adam' only (optimizer is '{v['optimizer']}')")


def _check_loss_for_distribution(v: dict[str, Any], err: _Errors) -> None:
    """The loss against the distribution (the part that holds for any response)."""
    loss, dist = v["loss"], v["distribution"]
    allowed_loss = {
        "gaussian": ("Automatic", "Quadratic"),
        "laplace": ("Automatic", "Absolute"),
        "quantile": ("Automatic", "Quantile"),
        "huber": ("Automatic", "Huber"),
        "bernoulli": ("Automatic", "CrossEntropy", "Quadratic"),
        "multinomial": ("Automatic", "CrossEntropy", "Quadratic"),
    }.get(dist)
    if allowed_loss is not None and loss not in allowed_loss:
        err.add(
            "loss", f"loss '{loss}' cannot be used with distribution '{dist}'; use one of {', '.join(allowed_loss)}"
        )


def _check_autoencoder(v: dict[str, Any], classification: bool | None, err: _Errors) -> None:
    """What an autoencoder may not have, and sparsity (autoencoders only)."""
    loss, act = v["loss"], v["activation"]
    if v["autoencoder"]:
        if loss == "CrossEntropy":
            err.add("loss", "loss 'CrossEntropy' is not allowed for an autoencoder")
        if act == "Maxout":
            err.add("activation", "activation 'Maxout' is not allowed for an autoencoder")
        if v["nfolds"] != 0:
            err.add("nfolds", "nfolds is not allowed for an autoencoder")
        if v["stopping_metric"] not in ("AUTO", "MSE"):
            err.add(
                "stopping_metric",
                f"stopping_metric must be AUTO or MSE for an autoencoder (got '{v['stopping_metric']}')",
            )
        if v["balance_classes"]:
            err.add("balance_classes", "balance_classes is not allowed for an autoencoder")
        if classification:
            err.add("autoencoder", "an autoencoder cannot be a classification model")
    elif v["sparsity_beta"] > 0:
        err.add("sparsity_beta", "sparsity_beta is only for autoencoders")
    if v["autoencoder"] and v["sparsity_beta"] > 0:
        a = v["average_activation"]
        if act.startswith("Tanh") and not -1 < a < 1:
            err.add("average_activation", f"average_activation must be in (-1, 1) for Tanh (got {a!r})")
        if act.startswith("Rectifier") and not a > 0:
            err.add("average_activation", f"average_activation must be > 0 for Rectifier (got {a!r})")


def _check_folds_and_sampling(v: dict[str, Any], err: _Errors) -> None:
    """Cross-validation and class sampling settings that need each other."""
    if v["class_sampling_factors"] is not None and not v["balance_classes"]:
        err.add("class_sampling_factors", "class_sampling_factors requires balance_classes=True")
    if v["fold_column"] is not None and v["nfolds"] != 0:
        err.add("fold_column", "give either fold_column or nfolds, not both")
    if v["fold_assignment"] != "AUTO" and v["nfolds"] == 0:
        err.add("fold_assignment", "fold_assignment requires nfolds >= 2")
    if v["checkpoint"] is not None and (v["nfolds"] != 0 or v["fold_column"] is not None):
        err.add("nfolds" if v["nfolds"] else "fold_column", CV_ON_CHECKPOINT)


def _check_classification(v: dict[str, Any], n_classes: int | None, err: _Errors) -> None:
    """A categorical response: the losses, distributions and stopping metrics it allows."""
    loss, dist, metric = v["loss"], v["distribution"], v["stopping_metric"]
    if loss not in ("Automatic", "CrossEntropy", "Quadratic"):
        err.add("loss", f"loss '{loss}' is not allowed for classification; use Automatic, CrossEntropy or Quadratic")
    if dist not in ("AUTO", "bernoulli", "multinomial"):
        err.add("distribution", f"distribution '{dist}' is not allowed for classification")
    if dist == "bernoulli" and n_classes is not None and n_classes != 2:
        err.add("distribution", f"distribution 'bernoulli' needs 2 classes, the response has {n_classes}")
    if metric in REGRESSION_ONLY_METRICS:
        err.add("stopping_metric", f"stopping_metric '{metric}' is for regression only")
    # AUC/AUCPR of several classes: H2O-3 computes them with an auc_type (MultinomialAUC)
    several_classes_auc = metric in ("AUC", "AUCPR") and v["auc_type"] not in ("AUTO", "NONE")
    if metric in BINOMIAL_ONLY_METRICS and n_classes is not None and n_classes != 2 and not several_classes_auc:
        hint = (
            "; or set auc_type (MACRO_OVR, WEIGHTED_OVR, MACRO_OVO, WEIGHTED_OVO)" if metric != "lift_top_group" else ""
        )
        err.add("stopping_metric", f"stopping_metric '{metric}' needs a binary response ({n_classes} classes){hint}")
    if (
        v["class_sampling_factors"] is not None
        and n_classes is not None
        and len(v["class_sampling_factors"]) != n_classes
    ):
        err.add(
            "class_sampling_factors",
            f"class_sampling_factors needs {n_classes} entries, got {len(v['class_sampling_factors'])}",
        )


def _check_regression(v: dict[str, Any], err: _Errors) -> None:
    """A numeric response: no classification-only loss, distribution, balancing or stopping metric."""
    loss, dist, metric = v["loss"], v["distribution"], v["stopping_metric"]
    if loss == "CrossEntropy":
        err.add("loss", "loss 'CrossEntropy' needs a categorical response")
    if dist in ("bernoulli", "multinomial"):
        err.add("distribution", f"distribution '{dist}' needs a categorical response")
    if v["balance_classes"]:
        err.add("balance_classes", "balance_classes requires classification")
    if metric in CLASSIFICATION_ONLY_METRICS:
        err.add("stopping_metric", f"stopping_metric '{metric}' is for classification only")


# Parameters H2O-3 reports as given in model.parms' actual_value although its trainer reads a resolved
# value (measured on H2O-3 3.46.0.12: tests/test_params.py::test_reported_actual_values_are_h2o3s).
_REPORTED_AS_GIVEN = (
    "loss",  # "Automatic" stays "Automatic"
    "hidden_dropout_ratios",  # None for *WithDropout, though 0.5 per layer is used
    "replicate_training_data",  # True on one node
    "single_node_mode",
    "score_each_iteration",  # not forced by reproducible
    "train_samples_per_iteration",  # -2 stays -2 under reproducible
)


def reported_actual_values(given: DeepLearningParameters, effective: DeepLearningParameters) -> dict[str, Any]:
    """Every parameter's ``actual_value`` as H2O-3 reports it in ``model.parms``: the effective value
    training used, except what H2O-3 reports as given (above, and the knobs of the optimizer not in
    use), fold_assignment None without cross-validation, and stopping_metric None for a
    cross-validated main model (it trains with stopping_rounds 0). ``model.effective`` keeps what
    training read."""
    out = effective.to_dict()
    unused = ()
    if effective.optimizer == "AUTO":  # H2O-3's optimizers; Adam is hpcdl's own
        unused = _MANUAL_RATE_PARAMS if effective.adaptive_rate else ("rho", "epsilon")
    for name in (*_REPORTED_AS_GIVEN, *unused):
        out[name] = _copy(given[name])
    cross_validated = bool(given.nfolds or given.fold_column)
    if not cross_validated:
        out["fold_assignment"] = None
    elif effective.stopping_rounds == 0:
        out["stopping_metric"] = None
    return out


def _set_off_default(v: dict[str, Any], user_given: frozenset[str], name: str) -> bool:
    """Given with a value other than its default (a round trip of every value gives defaults too)."""
    return name in user_given and v[name] != _BY_NAME[name].default


def _check_adam(v: dict[str, Any], user_given: frozenset[str], err: _Errors) -> None:
    """optimizer='Adam': its own knobs in range, none of the H2O knobs it replaces."""
    for name, why in _NOT_WITH_ADAM.items():
        if _set_off_default(v, user_given, name):
            err.add(name, f"{name} cannot be used with optimizer='Adam': {why}")
    for name in ("rate", "rate_decay", "epsilon"):
        if v[name] <= 0:
            err.add(name, f"{name} must be > 0 with optimizer='Adam' (got {v[name]!r})")


def resolved_loss(loss: str, distribution: str) -> str:
    """``loss``, or for ``Automatic`` the loss that ``distribution`` implies."""
    return LOSS_BY_DISTRIBUTION.get(distribution, loss) if loss == "Automatic" else loss


def record_from_dict(values: Mapping[str, Any], user_given: Iterable[str] = ()) -> DeepLearningParameters:
    """Effective parameters as plain values (a model file's JSON) as the record training used. A file
    written before a parameter existed lacks it: it gets the default of ``PARAMETERS``, here and nowhere
    else (a name no parameter has any more is dropped). Not validated again: they were checked when
    the model was trained."""
    v = {p.name: _copy(values[p.name]) if p.name in values else _copy(p.default) for p in PARAMETERS}
    return DeepLearningParameters._unchecked(v, frozenset(user_given) & frozenset(v))


def _rebuild(values: dict[str, Any], user_given: frozenset[str]) -> DeepLearningParameters:
    return DeepLearningParameters._unchecked(values, user_given)


class _Errors:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, name: str, message: str) -> None:
        self.items.append((name, message))

    def raise_if_any(self) -> None:
        if self.items:
            msg = "; ".join(m for _, m in self.items)
            raise ParameterError(msg, self.items[0][0])


def _copy(x: Any) -> Any:
    return list(x) if isinstance(x, list) else x


# --------------------------------------------------------------------------- #
# Checkpoints and CV
# --------------------------------------------------------------------------- #


def check_checkpoint_change(old: DeepLearningParameters, new: DeepLearningParameters) -> None:
    """Raise listing every F parameter that differs between ``old`` and ``new``.

    Compare like with like: both user-given parameters (as H2O does), or both
    effective parameters.
    """
    changed = [p.name for p in PARAMETERS if p.checkpoint == "F" and old._values[p.name] != new._values[p.name]]
    if changed:
        msg = "; ".join(
            f"cannot change '{n}' on checkpoint restart: was {old._values[n]!r}, now {new._values[n]!r}"
            for n in changed
        )
        raise ParameterError(msg, changed[0])


def _check_special_columns(v: dict, classification: bool | None, err: _Errors) -> None:
    """weights_column / offset_column against each other, the fold column and the problem type: one
    message for every entry point (the frame checks are prep.check_special_columns)."""
    roles = {k: v[k] for k in ("weights_column", "offset_column", "fold_column") if v[k] is not None}
    for i, (a, col) in enumerate(roles.items()):
        for b, other in list(roles.items())[i + 1 :]:
            if col == other:
                err.add(b, f"{b}={col!r} is also the {a}; each column has one role")
    offset = v["offset_column"]
    classifies = classification is True or v["distribution"] in ("bernoulli", "multinomial")
    if offset is not None and (v["autoencoder"] or classifies):
        err.add("offset_column", f"offset_column={offset!r}: {OFFSET_REGRESSION_ONLY}")


CV_ON_CHECKPOINT = "cross-validation is not allowed on a checkpoint restart (nfolds must be 0, fold_column unset)"


def check_no_cross_validation(params: DeepLearningParameters) -> None:
    """A checkpoint restart continues one model: no folds (also when the checkpoint is a Model object,
    which is not a parameter value)."""
    if params.nfolds or params.fold_column:
        raise ParameterError(CV_ON_CHECKPOINT, "nfolds" if params.nfolds else "fold_column")


# --------------------------------------------------------------------------- #
# Documentation
# --------------------------------------------------------------------------- #


def _default_text(p: Param) -> str:
    d = p.default
    if d is None:
        return "None"
    if isinstance(d, float) and d == math.inf:
        return "+inf"
    if isinstance(d, float):
        return _num(d) if 1e-3 <= abs(d) < 1e5 or d == 0 else f"{d:g}"
    return str(d)


def parameters_markdown() -> str:
    """The parameter table of docs/parameters.md, generated from ``PARAMETERS``."""
    lines = [
        "| name | default | range / choices | meaning | checkpoint | aliases |",
        "|---|---|---|---|---|---|",
    ]
    for p in PARAMETERS:
        cells = [
            f"`{p.name}`",
            _default_text(p),
            p.describe_range(),
            p.doc,
            p.checkpoint,
            ", ".join(f"`{a}`" for a in p.aliases),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("*", "\\*") for c in cells) + " |")
    return "\n".join(lines) + "\n"


_BEGIN, _END = "<!-- BEGIN GENERATED: hpcdl.params.parameters_markdown() -->", "<!-- END GENERATED -->"


def update_parameters_doc(path: str) -> None:
    """Rewrite the generated table between the markers of ``path`` (docs/parameters.md)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head, rest = text.split(_BEGIN, 1)
    _, tail = rest.split(_END, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{_BEGIN}\n{parameters_markdown()}{_END}{tail}")


if __name__ == "__main__":  # python -m hpcdl.params docs/parameters.md
    import sys

    update_parameters_doc(sys.argv[1] if len(sys.argv) > 1 else "docs/parameters.md")
