"""ONNX export: one graph from the raw columns to H2O's predictions (docs/export.md).

Inputs, one per predictor (batch of N rows, 1-D):
  categorical -> tensor(string) [N], the level strings; any string that is not a
                 training level (an unseen level, "", "NA") lights the NA slot;
  numeric     -> tensor(double) [N], NaN = missing (imputed with the training mean).
Outputs: ``predict`` (string label [N] for classification, double value [N] for
regression) and ``probabilities`` (double [N, classes]); or ``reconstruction``
(double [N, inputs]) for an autoencoder. Column meanings are in the metadata.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .. import model
from ..fsutil import atomic_path, check_output
from .spec import ExportError, ScorerSpec, scorer_spec

OPSET = 17  # default domain; ReduceMax still takes `axes` as an attribute here
ML_OPSET = 3  # ai.onnx.ml: LabelEncoder-2 (string -> int64 with a default)


def _onnx():
    try:  # optional (pip install 'hpcdl[export]'): imported when a graph is built
        import onnx  # optional, and slow to import: only when a graph is built
        from onnx import TensorProto, helper, numpy_helper  # as above
    except ImportError as exc:
        raise ExportError(
            "ONNX export needs the 'onnx' package: pip install 'hpcdl[export]' (or pip install onnx onnxruntime)"
        ) from exc
    return onnx, TensorProto, helper, numpy_helper


class _Graph:
    """A tiny builder: unique names, constants as initializers, nodes in order."""

    def __init__(self, helper, numpy_helper):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.initializers = [], []
        self._n = 0

    def name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, stem: str, value) -> str:
        name = self.name(stem)
        arr = np.asarray(value)
        if arr.dtype.kind in "OUS":
            tensor = self.helper.make_tensor(name, 8, arr.shape, [str(v).encode() for v in arr.ravel()])  # 8 = STRING
        else:
            tensor = self.numpy_helper.from_array(arr, name)
        self.initializers.append(tensor)
        return name

    def op(
        self,
        op_type: str,
        inputs: list[str],
        stem: str | None = None,
        output: str | None = None,
        domain: str = "",
        **attrs,
    ) -> str:
        out = output or self.name(stem or op_type.lower())
        self.nodes.append(
            self.helper.make_node(op_type, inputs, [out], name=self.name(op_type), domain=domain, **attrs)
        )
        return out


def build_onnx(spec: ScorerSpec):
    """The ONNX ModelProto for a scorer spec (checked with onnx.checker)."""
    onnx, TensorProto, helper, numpy_helper = _onnx()
    g = _Graph(helper, numpy_helper)
    inputs, blocks = [], []
    axis1 = g.const("axis1", np.array([1], dtype=np.int64))
    _categorical_inputs(g, spec, TensorProto, inputs, blocks)
    _numeric_inputs(g, spec, TensorProto, axis1, inputs, blocks)
    a = g.op("Concat", blocks, "network_input", axis=1) if len(blocks) > 1 else blocks[0]
    out = g.op("Cast", [_network(g, spec, a)], "network_output", to=TensorProto.DOUBLE)
    outputs = _prediction_outputs(g, spec, TensorProto, axis1, out)
    graph = helper.make_graph(g.nodes, f"hpcdl_{spec.kind}", inputs, outputs, initializer=g.initializers)
    proto = helper.make_model(
        graph,
        producer_name="hpcdl",
        producer_version=_version(),
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        doc_string=_doc(spec),
    )
    proto.ir_version = min(proto.ir_version, 8)  # opset 17 needs IR 8; older runtimes refuse newer IRs
    helper.set_model_props(proto, _metadata(spec))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _categorical_inputs(g: _Graph, spec: ScorerSpec, TensorProto, inputs: list, blocks: list) -> None:
    """One string input per categorical; its one-hot block of the network input."""
    helper = g.helper
    # level string -> code (unknown -> NA code L) -> row of a one-hot table.
    for cat in spec.categoricals:
        inputs.append(helper.make_tensor_value_info(cat.name, TensorProto.STRING, ["N"]))
        n_levels = len(cat.levels)
        code = g.op(
            "LabelEncoder",
            [cat.name],
            f"{cat.name}_code",
            domain="ai.onnx.ml",
            keys_strings=list(cat.levels),
            values_int64s=list(range(n_levels)),
            default_int64=n_levels,
        )
        table = np.zeros((n_levels + 1, cat.width), dtype=np.float32)  # row = code, last row = NA/unseen
        for c in range(-1, n_levels):
            slot = cat.slot_of_code(c, spec.use_all_factor_levels)
            if slot is not None:
                table[c if c >= 0 else n_levels, slot] = 1.0
        blocks.append(g.op("Gather", [g.const(f"{cat.name}_onehot", table), code], f"{cat.name}_onehot", axis=0))


def _numeric_inputs(g: _Graph, spec: ScorerSpec, TensorProto, axis1: str, inputs: list, blocks: list) -> None:
    """One double input per numeric; their standardized float32 block of the network input."""
    helper = g.helper
    # NaN -> training mean, then (x - sub) * mul in double, then float32 like the trainer.
    if spec.numerics:
        cols = []
        for num in spec.numerics:
            inputs.append(helper.make_tensor_value_info(num.name, TensorProto.DOUBLE, ["N"]))
            cols.append(g.op("Unsqueeze", [num.name, axis1], f"{num.name}_col"))
        x = g.op("Concat", cols, "numerics", axis=1) if len(cols) > 1 else cols[0]
        impute = g.const("impute", np.array([[n.impute for n in spec.numerics]], dtype=np.float64))
        x = g.op("Where", [g.op("IsNaN", [x]), impute, x], "imputed")
        x = g.op("Sub", [x, g.const("norm_sub", np.array([[n.sub for n in spec.numerics]], dtype=np.float64))])
        x = g.op("Mul", [x, g.const("norm_mul", np.array([[n.mul for n in spec.numerics]], dtype=np.float64))])
        blocks.append(g.op("Cast", [x], "numerics_std", to=TensorProto.FLOAT))


def _network(g: _Graph, spec: ScorerSpec, a: str) -> str:
    """The layers on the network input ``a``, float32 like the trainer's kernels; returns the output."""
    for l, layer in enumerate(spec.layers):
        z = g.op(
            "Gemm",
            [a, g.const(f"weight_layer{l}", layer.weights), g.const(f"bias_layer{l}", layer.biases)],
            f"z{l}",
            transB=1,
        )
        if layer.activation == "Tanh":
            a = g.op("Tanh", [z], f"a{l}")
        elif layer.activation == "Rectifier":
            a = g.op("Relu", [z], f"a{l}")
        elif layer.activation == "Maxout":  # rows 2j, 2j+1 are unit j's two channels
            units = layer.weights.shape[0] // 2
            pairs = g.op("Reshape", [z, g.const("maxout_shape", np.array([-1, units, 2], dtype=np.int64))])
            a = g.op("ReduceMax", [pairs], f"a{l}", axes=[2], keepdims=0)
        elif layer.activation == "Softmax":
            a = g.op("Softmax", [z], f"a{l}", axis=1)
        elif layer.activation == "Linear":
            a = z
        else:  # pragma: no cover - scorer_spec only produces the names above
            raise ExportError(f"layer {l}: activation {layer.activation!r} cannot be exported")
        if layer.scale != 1.0:  # inference-mode dropout: scale hidden units by (1 - ratio)
            a = g.op("Mul", [a, g.const(f"dropout_scale{l}", np.array(layer.scale, dtype=np.float32))], f"a{l}_scaled")
    return a


def _prediction_outputs(g: _Graph, spec: ScorerSpec, TensorProto, axis1: str, out: str) -> list:
    """H2O's predictions from the network output (double): predict, probabilities or reconstruction."""
    helper = g.helper
    outputs = []
    if spec.kind == "regression":
        v = g.op("Reshape", [out, g.const("flat", np.array([-1], dtype=np.int64))])
        v = g.op("Div", [v, g.const("y_mul", np.array(spec.y_mul, dtype=np.float64))])
        g.op("Add", [v, g.const("y_sub", np.array(spec.y_sub, dtype=np.float64))], output="predict")
        outputs.append(helper.make_tensor_value_info("predict", TensorProto.DOUBLE, ["N"]))
    elif spec.kind == "autoencoder":
        divisor = np.ones((1, spec.n_inputs))
        shift = np.zeros((1, spec.n_inputs))
        base = spec.n_inputs - len(spec.numerics)
        for j, num in enumerate(spec.numerics):  # numerics back on their original scale
            divisor[0, base + j], shift[0, base + j] = num.mul, num.sub
        v = g.op("Div", [out, g.const("reconstr_mul", divisor)])
        g.op("Add", [v, g.const("reconstr_sub", shift)], output="reconstruction")
        outputs.append(helper.make_tensor_value_info("reconstruction", TensorProto.DOUBLE, ["N", spec.n_inputs]))
    else:
        k = len(spec.response_domain)
        p = out
        if spec.prior_weights is not None:  # balance_classes: back to the training class priors
            p = g.op("Mul", [p, g.const("prior_weights", np.array([spec.prior_weights], dtype=np.float64))])
            s = g.op("ReduceSum", [p, axis1], "prior_sum", keepdims=1)
            ok = g.op("Greater", [s, g.const("zero", np.array(0.0))])
            p = g.op("Where", [ok, g.op("Div", [p, s]), g.const("uniform", np.array(1.0 / k))])
        g.op("Identity", [p], output="probabilities")
        if spec.kind == "binomial":
            p1 = g.op("Gather", ["probabilities", g.const("class1", np.array(1, dtype=np.int64))], "p1", axis=1)
            hit = g.op("GreaterOrEqual", [p1, g.const("threshold", np.array(spec.threshold, dtype=np.float64))])
            idx = g.op("Cast", [hit], "label_index", to=TensorProto.INT64)
        else:
            idx = g.op("ArgMax", ["probabilities"], "label_index", axis=1, keepdims=0)
        g.op(
            "Gather", [g.const("classes", np.array(spec.response_domain, dtype=object)), idx], output="predict", axis=0
        )
        outputs.append(helper.make_tensor_value_info("predict", TensorProto.STRING, ["N"]))
        outputs.append(helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, ["N", k]))
    return outputs


def _metadata(spec: ScorerSpec) -> dict[str, str]:
    """What the graph's outputs and inputs mean, for a scorer that reads the file alone."""
    meta = {
        "model_id": spec.model_id,
        "kind": spec.kind,
        "response": spec.response or "",
        "output_columns": json.dumps(spec.output_columns),
        "categorical_inputs": json.dumps({c.name: c.levels for c in spec.categoricals}),
        "numeric_inputs": json.dumps([n.name for n in spec.numerics]),
    }
    if spec.kind in ("binomial", "multinomial"):
        meta["classes"] = json.dumps(spec.response_domain)
    if spec.threshold is not None:
        meta["threshold"] = repr(spec.threshold)
    return meta


def _version() -> str:
    return model.__version__


def _doc(spec: ScorerSpec) -> str:
    outs = {
        "regression": "predict: double [N] on the response's scale",
        "autoencoder": "reconstruction: double [N, inputs], columns = metadata output_columns",
    }.get(spec.kind, "predict: string label [N]; probabilities: double [N, classes] (metadata classes)")
    return (
        f"hpcdl Deep Learning model {spec.model_id} ({spec.kind}). Inputs: one 1-D tensor per predictor; "
        "categoricals as level strings (anything not a training level -> the NA slot), numerics as double "
        f"(NaN = missing, imputed with the training mean). Outputs: {outs}."
    )


def export_onnx(model, path: str | os.PathLike, *, force: bool = False, inputs=()) -> str:
    """Write ``model`` as an ONNX file at ``path`` (atomically); returns the path."""
    path = check_output(path, inputs=inputs, force=force, what="ONNX model")
    proto = build_onnx(scorer_spec(model))
    data = proto.SerializeToString()
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
    return path
