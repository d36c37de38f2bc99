"""What a standalone scorer needs from a model (docs/export.md), as plain numbers and arrays.

Both exporters (ONNX graph, Python file) read only a :class:`ScorerSpec`, so
they cannot drift apart, and every check that can make an export wrong lives here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..model import probability_names

# Distributions whose link is the identity: the network output is the prediction
# (after de-standardizing). Anything else would need a link inverse the scorer lacks.
IDENTITY_LINK_DISTRIBUTIONS = ("AUTO", "gaussian", "laplace", "quantile", "huber", "bernoulli", "multinomial")
HIDDEN_ACTIVATIONS = ("Tanh", "Rectifier", "Maxout")


class ExportError(ValueError):
    """The model cannot be exported faithfully; the message says why and what to change."""


@dataclass
class Categorical:
    name: str
    levels: list[str]  # training levels; code i = levels[i]
    offset: int  # first input of this column's one-hot block
    width: int  # slots in the block, the NA slot (last) included

    def slot_of_code(self, code: int, use_all_factor_levels: bool) -> int | None:
        """Slot inside the block that level ``code`` (or -1 = NA/unseen) lights; None = all zero."""
        if code < 0:
            return self.width - 1
        if use_all_factor_levels:
            return code
        return None if code == 0 else code - 1  # level 0 is the all-zero reference


@dataclass
class Numeric:
    name: str
    impute: float  # value used for NA (training mean)
    sub: float  # input = (x - sub) * mul
    mul: float


@dataclass
class Layer:
    weights: np.ndarray  # float32 (rows, inputs); Maxout rows 2j, 2j+1 are unit j's channels
    biases: np.ndarray  # float32 (rows,)
    activation: str  # Tanh, Rectifier, Maxout (hidden or autoencoder output), Softmax, Linear
    scale: float  # inference dropout scaling (1 - hidden_dropout_ratio); 1 for the output layer


@dataclass
class ScorerSpec:
    model_id: str
    kind: str  # binomial, multinomial, regression, autoencoder
    categoricals: list[Categorical]
    numerics: list[Numeric]
    use_all_factor_levels: bool
    n_inputs: int
    input_names: list[str]  # expanded input names (one-hot slots, then numerics)
    layers: list[Layer]
    response: str | None
    response_domain: list[str] | None
    threshold: float | None  # binomial: label = 1 when p1 >= threshold (model.label_threshold())
    prior_weights: list[float] | None  # balance_classes: p_k ~ p_k * prior_k / sampled_prior_k
    y_sub: float
    y_mul: float
    output_columns: list[str] = field(default_factory=list)

    @property
    def predictors(self) -> list[str]:
        return [c.name for c in self.categoricals] + [n.name for n in self.numerics]

    @property
    def n_parameters(self) -> int:
        return sum(layer.weights.size + layer.biases.size for layer in self.layers)


def scorer_spec(model) -> ScorerSpec:
    """Collect everything scoring needs; raise ExportError for what an export cannot reproduce."""
    d = model.dinfo
    where = f"model {model.model_id}"
    _check_exportable(model, where)
    cats, nums = _inputs(d, where)
    layers = _layers(model.net, model.effective, where)
    kind = model.kind
    threshold = float(model.label_threshold()) if kind == "binomial" else None
    return ScorerSpec(
        model_id=model.model_id,
        kind=kind,
        categoricals=cats,
        numerics=nums,
        use_all_factor_levels=bool(d.use_all_factor_levels),
        n_inputs=int(d.n_inputs),
        input_names=list(d.input_names),
        layers=layers,
        response=d.response,
        response_domain=None if d.response_domain is None else [str(v) for v in d.response_domain],
        threshold=threshold,
        prior_weights=_prior_weights(model),
        y_sub=float(d.y_sub),
        y_mul=float(d.y_mul),
        output_columns=_output_columns(kind, d),
    )


def _check_exportable(model, where: str) -> None:
    """What an export cannot reproduce: each refusal says why and what to change."""
    d, eff, net = model.dinfo, model.effective, model.net
    if d.hash_buckets:
        raise ExportError(
            f"{where}: categorical hashing (max_categorical_features={d.hash_buckets}) cannot be exported "
            f"(H2O's POJO/MOJO refuse it too); retrain with max_categorical_features >= "
            f"{int(sum(d.cat_widths))} (the one-hot width) to export"
        )
    if eff.offset_column:
        raise ExportError(
            f"{where}: offset_column is not supported by export (H2O's POJO/MOJO ignore offsets; "
            "hpcdl refuses rather than write a scorer that predicts differently)"
        )
    dist = eff.distribution
    if dist not in IDENTITY_LINK_DISTRIBUTIONS:
        raise ExportError(
            f"{where}: distribution={dist!r} is not supported by export "
            f"(supported: {', '.join(IDENTITY_LINK_DISTRIBUTIONS)})"
        )
    if (d.unseen_level_policy or "NA") != "NA":
        raise ExportError(
            f"{where}: unseen_level_policy={d.unseen_level_policy!r} is not supported by export "
            "(only 'NA': unseen levels go to the NA slot)"
        )
    if net.activation not in HIDDEN_ACTIVATIONS:
        raise ExportError(f"{where}: activation {net.activation!r} is not supported by export")
    if not (np.all(np.isfinite(net.W)) and np.all(np.isfinite(net.B))):
        raise ExportError(f"{where}: the model is unstable (non-finite weights or biases) and cannot be exported")


def _inputs(d, where: str) -> tuple[list[Categorical], list[Numeric]]:
    """The predictors as the scorer reads them: one-hot blocks, then standardized numerics."""
    cats = [
        Categorical(c, [str(v) for v in d.domains[c]], int(d.cat_offsets[k]), int(d.cat_widths[k]))
        for k, c in enumerate(d.cat_cols)
    ]
    nums = [
        Numeric(c, float(d.num_impute[j]), float(d.norm_sub[j]), float(d.norm_mul[j])) for j, c in enumerate(d.num_cols)
    ]
    if not all(math.isfinite(v) for n in nums for v in (n.impute, n.sub, n.mul)):
        raise ExportError(f"{where}: non-finite imputation/standardization constants; cannot export")
    return cats, nums


def _layers(net, eff, where: str) -> list[Layer]:
    """The layers in float32, each with its activation and inference-mode dropout scale."""
    n_hidden = net.n_layers - 1
    ratios = list(eff.hidden_dropout_ratios or [0.0] * n_hidden)
    if len(ratios) != n_hidden:
        raise ExportError(f"{where}: hidden_dropout_ratios has {len(ratios)} entries for {n_hidden} hidden layers")
    layers = []
    for l in range(net.n_layers):
        last = l == net.n_layers - 1
        if not last or net.output == "autoencoder":
            act = net.activation  # the autoencoder output uses the hidden activation
        else:
            act = {"softmax": "Softmax", "linear": "Linear"}[net.output]
        layers.append(
            Layer(
                weights=np.array(net.weights(l), dtype=np.float32),
                biases=np.array(net.biases(l), dtype=np.float32),
                activation=act,
                scale=1.0 if last else 1.0 - float(ratios[l]),
            )
        )
        if act == "Maxout" and layers[-1].weights.shape[0] != 2 * int(net.units[l + 1]):
            raise ExportError(
                f"{where}: Maxout layer {l} has {layers[-1].weights.shape[0]} rows, "
                f"expected 2 x {int(net.units[l + 1])}"
            )
    return layers


def _prior_weights(model) -> list[float] | None:
    """balance_classes: the factors that bring probabilities back to the training class priors."""
    d = model.dinfo
    prior_weights = None
    prior, sampled = model.run_info.get("class_prior"), model.run_info.get("class_sampled_prior")
    if d.classification and prior is not None and sampled is not None:
        prior, sampled = np.asarray(prior, dtype=np.float64), np.asarray(sampled, dtype=np.float64)
        w = np.divide(prior, sampled, out=np.zeros_like(prior), where=sampled > 0)
        prior_weights = [float(v) for v in w]
    return prior_weights


def _output_columns(kind: str, d) -> list[str]:
    """The columns a scorer's predictions have, named as predict() names them."""
    if kind == "autoencoder":
        return [f"reconstr_{n}" for n in d.input_names]
    if kind == "regression":
        return ["predict"]
    return ["predict"] + probability_names(d.response_domain)  # p0, p1 for integer labels, as predict()
