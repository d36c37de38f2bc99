"""Python export: one self-contained, numpy-only .py scorer a person can read (like H2O's POJO).

The written file holds the model's constants (levels, imputation and
standardization numbers, weights) and a few plain functions: ``expand`` (columns ->
network inputs), ``forward`` (the network in inference mode), ``predict(rows)``
and a ``__main__`` that scores a CSV to stdout. Weights are embedded as literals
or, for big models, stored in a sibling ``.npz`` (numpy's own format, no pickle).
"""

from __future__ import annotations

import datetime as _dt
import os

import numpy as np

from .. import model as _model
from ..frame.csv import DEFAULT_NA_STRINGS
from ..fsutil import atomic_path, check_output
from .spec import ExportError, ScorerSpec, scorer_spec

WEIGHT_MODES = ("auto", "embed", "npz")
EMBED_MAX_PARAMETERS = 50_000  # "auto": above this the weights go to a sibling .npz


def _na_strings() -> list[str]:
    return sorted(DEFAULT_NA_STRINGS)


def _f32(v) -> str:
    """A float32 as text that reads back to the same float32 (9 significant digits)."""
    return f"{float(v):.9g}"


def _array_literal(name: str, arr: np.ndarray, comment: str) -> str:
    if arr.ndim == 1:
        body = ", ".join(_f32(v) for v in arr)
        return f"# {comment}\n{name} = np.array([{body}], dtype=np.float32)\n"
    rows = "\n".join("    [" + ", ".join(_f32(v) for v in row) + "]," for row in arr)
    return f"# {comment}\n{name} = np.array([\n{rows}\n], dtype=np.float32)\n"


def _layer_comment(spec: ScorerSpec, l: int) -> str:
    layer = spec.layers[l]
    rows, cols = layer.weights.shape
    units = rows // 2 if layer.activation == "Maxout" else rows
    what = "output" if l == len(spec.layers) - 1 else f"hidden layer {l + 1}"
    maxout = " (rows 2j, 2j+1: unit j's two channels)" if layer.activation == "Maxout" else ""
    return f"layer {l}: {cols} inputs -> {what}, {units} {layer.activation} units; weights {rows} x {cols}{maxout}"


_HEADER = '''#!/usr/bin/env python3
"""Standalone scorer for the hpcdl Deep Learning model {model_id} ({kind}).

Written by hpcdl {version} on {date} (hpcdl export --format python). It needs only
Python 3 and numpy: everything the model does to a row is spelled out below.

    python {filename} input.csv > predictions.csv
    >>> from {module} import predict
    >>> predict([{example}])

Inputs (one per predictor; other columns are ignored):
  categoricals  level strings. A value that is not a training level (a level
                unseen in training, or missing) lights the column's NA slot.
  numerics      numbers. Missing (None, NaN, or one of NA_STRINGS) is replaced
                by the training mean.
In a list of row dicts a missing key is a missing value; a dict of columns must
have every predictor. Outputs: {outputs}.
"""

import csv
import math
import os
import sys

import numpy as np

MODEL_ID = {model_id!r}
KIND = {kind!r}
RESPONSE = {response!r}
OUTPUT_COLUMNS = {output_columns!r}

# Text read as a missing value (hpcdl's CSV import defaults); a CSV's fields are trimmed first.
NA_STRINGS = frozenset({na_strings!r})

# ---------------------------------------------------------------------------------------
# Preprocessing: the model's own (H2O's DataInfo). The network input is the one-hot
# blocks of the categoricals, then the standardized numerics.
# ---------------------------------------------------------------------------------------
# Categorical predictors: (name, training levels, first input of its block, block width).
# The last slot of each block is the NA slot (missing or unseen level).
USE_ALL_FACTOR_LEVELS = {use_all!r}  # False: the first level is the all-zero reference
CATEGORICALS = [
{categoricals}]
# Numeric predictors: (name, value used when missing, subtract, multiply):
# input = (x - subtract) * multiply.
NUMERICS = [
{numerics}]
N_INPUTS = {n_inputs}
PREDICTORS = [c[0] for c in CATEGORICALS] + [c[0] for c in NUMERICS]
'''

_NETWORK_NPZ = """
# ---------------------------------------------------------------------------------------
# The network: weights and biases live beside this file in {npz!r} (numpy .npz).
# LAYERS[l] = (activation, weights [rows x inputs], biases [rows], dropout scale).
# Maxout layers have two rows per unit (2j, 2j+1: its two channels).
# ---------------------------------------------------------------------------------------
with np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), {npz!r}), allow_pickle=False) as _npz:
    LAYERS = [
{layers}    ]
"""

_NETWORK_EMBED_TAIL = """
# LAYERS[l] = (activation, weights [rows x inputs], biases [rows], dropout scale); the
# dropout scale (1 - hidden_dropout_ratio) multiplies a hidden layer's activations.
LAYERS = [
{layers}]
"""

_FUNCTIONS = '''

def _level(value):
    """A categorical value as a level string, None when missing."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            return str(int(value))
    return str(value)


def _numbers(name, values):
    """A numeric column as float64, NaN when missing; a clear error for text that is no number."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, str) and v.strip() in NA_STRINGS):
            out[i] = math.nan
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"column {{name!r}}, row {{i + 1}}: {{v!r}} is not a number") from None
    return out


def columns_of(rows):
    """A list of row dicts, or a dict of columns, -> {{predictor: list of values}}."""
    if isinstance(rows, dict):
        missing = [p for p in PREDICTORS if p not in rows]
        if missing:
            raise KeyError(f"column(s) {{missing}} used by the model are missing")
        cols = {{p: np.asarray(rows[p], dtype=object).reshape(-1).tolist() for p in PREDICTORS}}
        lengths = {{len(v) for v in cols.values()}}
        if len(lengths) > 1:
            raise ValueError(f"columns have different lengths: {{sorted(lengths)}}")
        return cols
    rows = list(rows)
    return {{p: [row.get(p) for row in rows] for p in PREDICTORS}}


def expand(columns):
    """Columns -> the network input matrix (rows x N_INPUTS), float32 like the trainer."""
    n = len(columns[PREDICTORS[0]])
    X = np.zeros((n, N_INPUTS), dtype=np.float32)
    for name, levels, first, width in CATEGORICALS:
        code_of = {{level: code for code, level in enumerate(levels)}}
        for i, value in enumerate(columns[name]):
            code = code_of.get(_level(value), -1)  # -1: missing or unseen level
            if code < 0:
                X[i, first + width - 1] = 1.0  # the NA slot
            elif USE_ALL_FACTOR_LEVELS:
                X[i, first + code] = 1.0
            elif code > 0:  # level 0 is the reference: all zeros
                X[i, first + code - 1] = 1.0
    base = N_INPUTS - len(NUMERICS)
    for j, (name, missing_value, subtract, multiply) in enumerate(NUMERICS):
        x = _numbers(name, columns[name])
        x = np.where(np.isnan(x), missing_value, x)
        X[:, base + j] = (x - subtract) * multiply
    return X


def forward(X):
    """The network in inference mode: float32 arithmetic, result as float64."""
    a = X
    for activation, weights, biases, dropout_scale in LAYERS:
        z = a @ weights.T + biases
        if activation == "Tanh":
            a = np.tanh(z)
        elif activation == "Rectifier":
            a = np.maximum(z, np.float32(0.0))
        elif activation == "Maxout":  # the larger of each unit's two channels
            a = z.reshape(len(z), -1, 2).max(axis=2)
        elif activation == "Softmax":
            e = np.exp(z.astype(np.float64) - z.max(axis=1, keepdims=True))
            a = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        else:  # Linear
            a = z
        if dropout_scale != 1.0:
            a = a * np.float32(dropout_scale)
    return a.astype(np.float64)
'''

_OUTPUT_CLASSIFICATION = '''
# ---------------------------------------------------------------------------------------
# Network outputs -> predictions
# ---------------------------------------------------------------------------------------
CLASSES = {classes!r}
{threshold_line}
# balance_classes: probabilities are corrected back to the training class priors,
# p_k ~ p_k * PRIOR_WEIGHTS[k] (prior_k / balanced prior_k), then renormalized.
PRIOR_WEIGHTS = {prior_weights!r}


def to_predictions(out):
    """Class probabilities -> predict (label), then one probability column per class."""
    probs = out
    if PRIOR_WEIGHTS is not None:
        p = probs * np.asarray(PRIOR_WEIGHTS)
        total = p.sum(axis=1, keepdims=True)
        probs = np.divide(p, total, out=np.full_like(p, 1.0 / p.shape[1]), where=total > 0)
{label_code}
    result = {{"predict": np.array([CLASSES[k] for k in labels], dtype=object)}}
    for k, name in enumerate(OUTPUT_COLUMNS[1:]):  # one per class, named as the model's predict() names them
        result[name] = probs[:, k]
    return result
'''

_LABEL_BINOMIAL = """    labels = (probs[:, 1] >= THRESHOLD).astype(int)"""
_LABEL_MULTINOMIAL = """    labels = probs.argmax(axis=1)  # ties: the first class"""

_OUTPUT_REGRESSION = """
# ---------------------------------------------------------------------------------------
# Network output -> prediction on the response's scale: output / Y_MUL + Y_SUB
# ---------------------------------------------------------------------------------------
Y_SUB = {y_sub!r}
Y_MUL = {y_mul!r}


def to_predictions(out):
    return {{"predict": out[:, 0] / Y_MUL + Y_SUB}}
"""

_OUTPUT_AUTOENCODER = """
# ---------------------------------------------------------------------------------------
# Network output -> reconstruction: one column per network input; the numeric inputs
# back on their original scale (output / multiply + subtract).
# ---------------------------------------------------------------------------------------
def to_predictions(out):
    out = out.copy()
    base = N_INPUTS - len(NUMERICS)
    for j, (_name, _missing_value, subtract, multiply) in enumerate(NUMERICS):
        out[:, base + j] = out[:, base + j] / multiply + subtract
    return {{name: out[:, k] for k, name in enumerate(OUTPUT_COLUMNS)}}
"""

_FOOTER = '''

def predict(rows):
    """Score rows (a list of dicts, or a dict of columns): {{output column: numpy array}}."""
    columns = columns_of(rows)
    if not columns[PREDICTORS[0]]:
        return {{name: np.array([]) for name in OUTPUT_COLUMNS}}
    return to_predictions(forward(expand(columns)))


_LEVELS = {{name: set(levels) for name, levels, _first, _width in CATEGORICALS}}


def read_csv(path):
    """A CSV file with a header line (or "-" for stdin) -> {{predictor: list of strings or None}}."""
    fh = sys.stdin if path == "-" else open(path, newline="", encoding="utf-8-sig")
    try:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        missing = [p for p in PREDICTORS if p not in header]
        if missing:
            raise KeyError(f"{{path}}: column(s) {{missing}} used by the model are missing (header: {{header}})")
        where = [header.index(p) for p in PREDICTORS]
        columns = {{p: [] for p in PREDICTORS}}
        for line, record in enumerate(reader, start=2):
            if not record or not any(field.strip() for field in record):
                continue  # blank line
            if len(record) != len(header):
                raise ValueError(f"{{path}}, line {{line}}: {{len(record)}} fields, the header has {{len(header)}}")
            for p, k in zip(PREDICTORS, where):
                field = record[k].strip()
                columns[p].append(None if field in NA_STRINGS and field not in _LEVELS.get(p, ()) else field)
        return columns
    finally:
        if fh is not sys.stdin:
            fh.close()



def _cell(v):
    if isinstance(v, (float, np.floating)):
        return "" if math.isnan(v) else repr(float(v))
    return v


def main(argv):
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(f"usage: python {{os.path.basename(sys.argv[0])}} input.csv > predictions.csv", file=sys.stderr)
        return 2
    try:
        result = predict(read_csv(argv[0]))
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: {{exc}}", file=sys.stderr)
        return 1
    writer = csv.writer(sys.stdout, lineterminator="\\n")
    writer.writerow(OUTPUT_COLUMNS)
    n = len(result[OUTPUT_COLUMNS[0]])
    for i in range(n):
        writer.writerow([_cell(result[c][i]) for c in OUTPUT_COLUMNS])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''


def render_python(spec: ScorerSpec, *, filename: str, npz_name: str | None) -> str:
    """The scorer's source text; weights embedded unless ``npz_name`` is given."""
    cats = "".join(f"    ({c.name!r}, {c.levels!r}, {c.offset}, {c.width}),\n" for c in spec.categoricals)
    nums = "".join(f"    ({n.name!r}, {n.impute!r}, {n.sub!r}, {n.mul!r}),\n" for n in spec.numerics)
    example = ", ".join(f"{c.name!r}: {c.levels[0]!r}" for c in spec.categoricals[:2])
    example += (", " if example and spec.numerics else "") + ", ".join(
        f"{n.name!r}: {n.impute:.4g}" for n in spec.numerics[:2]
    )
    outputs = {
        "regression": "predict (the response)",
        "autoencoder": "reconstr_<input> per network input (numerics on their original scale)",
    }.get(spec.kind, "predict (the label), then the probability of each class")
    module = os.path.splitext(filename)[0]
    parts = [
        _HEADER.format(
            model_id=spec.model_id,
            kind=spec.kind,
            version=_model.__version__,
            date=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            filename=filename,
            module=module if module.isidentifier() else "scorer",
            example="{" + example + "}",
            outputs=outputs,
            response=spec.response,
            output_columns=spec.output_columns,
            na_strings=sorted(_na_strings()),
            use_all=spec.use_all_factor_levels,
            categoricals=cats,
            numerics=nums,
            n_inputs=spec.n_inputs,
        )
    ]
    if npz_name:
        layers = "".join(
            f"        ({layer.activation!r}, _npz['weights_{l}'], _npz['biases_{l}'], {layer.scale!r}),\n"
            for l, layer in enumerate(spec.layers)
        )
        parts.append(_NETWORK_NPZ.format(npz=npz_name, layers=layers))
    else:
        parts.append(
            "\n# " + "-" * 87 + "\n# The network (float32 weights; rows = units of the next layer, columns = inputs).\n"
            "# " + "-" * 87 + "\n"
        )
        for l, layer in enumerate(spec.layers):
            parts.append(_array_literal(f"WEIGHTS_{l}", layer.weights, _layer_comment(spec, l)))
            parts.append(_array_literal(f"BIASES_{l}", layer.biases, f"layer {l} biases"))
        layers = "".join(
            f"    ({layer.activation!r}, WEIGHTS_{l}, BIASES_{l}, {layer.scale!r}),\n"
            for l, layer in enumerate(spec.layers)
        )
        parts.append(_NETWORK_EMBED_TAIL.format(layers=layers))
    parts.append(_FUNCTIONS.format())
    if spec.kind == "regression":
        parts.append(_OUTPUT_REGRESSION.format(y_sub=spec.y_sub, y_mul=spec.y_mul))
    elif spec.kind == "autoencoder":
        parts.append(_OUTPUT_AUTOENCODER.format())
    else:
        binomial = spec.kind == "binomial"
        threshold_line = (
            f"THRESHOLD = {spec.threshold!r}  # label = CLASSES[1] when its probability >= THRESHOLD (model.label_threshold())"
            if binomial
            else ""
        )
        parts.append(
            _OUTPUT_CLASSIFICATION.format(
                classes=spec.response_domain,
                threshold_line=threshold_line,
                prior_weights=spec.prior_weights,
                label_code=_LABEL_BINOMIAL if binomial else _LABEL_MULTINOMIAL,
            )
        )
    parts.append(_FOOTER.format())
    return "".join(parts)


def export_python(
    model, path: str | os.PathLike, *, weights: str = "auto", force: bool = False, inputs=()
) -> list[str]:
    """Write the scorer ``path`` (.py) and, when weights go there, ``<stem>.npz``; returns the files."""
    path = os.fspath(path)
    if weights not in WEIGHT_MODES:
        raise ExportError(f"weights must be one of {WEIGHT_MODES}, got {weights!r}")
    if not path.endswith(".py"):
        raise ExportError(f"{path}: the Python scorer's file name must end in .py")
    spec = scorer_spec(model)
    use_npz = weights == "npz" or (weights == "auto" and spec.n_parameters > EMBED_MAX_PARAMETERS)
    npz_path = os.path.splitext(path)[0] + ".npz" if use_npz else None
    targets = [path] + ([npz_path] if npz_path else [])
    for target in targets:
        check_output(target, inputs=inputs, force=force, what="Python scorer")
    source = render_python(
        spec, filename=os.path.basename(path), npz_name=os.path.basename(npz_path) if npz_path else None
    )
    compile(source, path, "exec")  # a generated file that does not parse is a bug: fail before writing
    if npz_path:
        arrays = {}
        for l, layer in enumerate(spec.layers):
            arrays[f"weights_{l}"] = layer.weights
            arrays[f"biases_{l}"] = layer.biases
        # Both files appear together: the .npz is renamed into place after the .py.
        with atomic_path(npz_path) as tmp_npz, atomic_path(path) as tmp_py:
            with open(tmp_npz, "wb") as fh:
                np.savez(fh, **arrays)
            with open(tmp_py, "w", encoding="utf-8") as fh:
                fh.write(source)
    else:
        with atomic_path(path) as tmp_py, open(tmp_py, "w", encoding="utf-8") as fh:
            fh.write(source)
    return targets
