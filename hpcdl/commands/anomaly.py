"""``hpcdl anomaly`` and ``hpcdl deepfeatures``: score a frame with a saved model.

``anomaly`` writes H2O's ``h2o.anomaly`` output (``Reconstruction.MSE`` per row, or
``reconstr_<col>.SE`` per expanded column with ``--per-feature``), prints the rows
above a threshold (or the largest errors) and can plot the error per row like the
booklet's ``plot.ts(recon_error)``. ``deepfeatures`` writes a hidden layer's
activations (``h2o.deepfeatures``). See docs/autoencoder.md.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..comm import world
from ..fsutil import check_output
from ..output import ERROR_COLUMN, TOP_ROWS, format_error_table, say, write_columns_csv
from ..plotting import check_plot, plot_reconstruction_error


def _open_frame(path: str, header: str):
    from ..frame import import_file  # lazy: cli.py imports every command module at start-up

    kw = {} if header == "auto" else {"header": header == "yes"}
    return import_file(path, **kw)


def _load_autoencoder(path: str):
    from ..model import load_model  # lazy: cli.py imports every command module at start-up

    model = load_model(path)
    if not model.dinfo.autoencoder:
        raise ValueError(
            f"{path}: model {model.model_id} is a {model.kind} model; anomaly scores need an "
            "autoencoder (trained with autoencoder=true)"
        )
    return model


def resolve_threshold(errors: np.ndarray, threshold: float | None, quantile: float | None) -> float | None:
    """The error threshold: given directly, or the ``quantile`` of these errors (linear interpolation)."""
    if threshold is not None:
        if not math.isfinite(threshold):
            raise ValueError(f"--threshold must be a finite number, got {threshold}")
        return float(threshold)
    if quantile is not None:
        if not 0.0 <= quantile <= 1.0:
            raise ValueError(f"--quantile must be in [0, 1], got {quantile}")
        return float(np.quantile(errors, quantile))
    return None


def error_summary(errors: np.ndarray) -> str:
    e = np.asarray(errors, dtype=np.float64)
    if e.size == 0:
        return "0 rows"
    q = np.quantile(e, [0.5, 0.9, 0.99])
    return (
        f"{e.size} rows; {ERROR_COLUMN}: mean {e.mean():.6g}, median {q[0]:.6g}, "
        f"90% {q[1]:.6g}, 99% {q[2]:.6g}, max {e.max():.6g} (row {int(np.argmax(e)) + 1})"
    )


def _check_outputs(args, *extra_inputs: str) -> None:
    """Every output of the command against the overwrite rules, before any work (docs/outputs.md)."""

    inputs = [args.model, args.frame, *extra_inputs]
    check_output(args.out, inputs=inputs, force=args.force, what="table", stdout_ok=True)
    if getattr(args, "plot", None):
        check_output(args.plot, inputs=inputs, force=args.force, what="plot")
        if args.out != "-" and os.path.realpath(args.plot) == os.path.realpath(args.out):
            raise ValueError(f"--plot and --out both name {args.out}; give the plot its own file")


def _score_setup(args, load):
    """Check the outputs, load the model and the frame, check again against the frame file."""
    from ..model import input_paths  # lazy: cli.py imports every command module at start-up

    _check_outputs(args)
    model = load(args.model)
    frame = _open_frame(args.frame, args.header)
    _check_outputs(args, *input_paths(frame))
    return model, frame


def cmd_anomaly(args) -> int:

    if world().rank != 0:  # scoring is cheap and serial: rank 0 does it, other ranks have nothing to do
        return 0
    if args.top < 0:
        raise ValueError(f"--top must be >= 0, got {args.top}")
    if args.plot:
        check_plot(args.plot)  # fail before writing anything
    model, frame = _score_setup(args, _load_autoencoder)
    result = model.anomaly(frame, per_feature=args.per_feature)
    columns = result.read()
    if args.per_feature:
        per_feature = np.column_stack(list(columns.values())) if columns else np.zeros((frame.nrow, 0))
        errors = per_feature.mean(axis=1)  # the row MSE is the mean of the per-feature squared errors
    else:
        errors = columns[ERROR_COLUMN]
    threshold = resolve_threshold(errors, args.threshold, args.quantile)
    write_columns_csv(args.out, columns)
    what = f"{result.ncol} per-feature squared-error columns" if args.per_feature else ERROR_COLUMN
    lines = [f"{args.out}: {frame.nrow} rows ({what}) for model {model.model_id}", error_summary(errors)]
    if threshold is not None and args.quantile is not None:
        lines.append(f"threshold: {threshold:.6g} (quantile {args.quantile:g} of these errors)")
    lines.append(format_error_table(errors, threshold, limit=args.top))
    if args.plot:
        plot_reconstruction_error(
            errors,
            args.plot,
            threshold=threshold,
            title=f"{model.model_id}: reconstruction error of {os.path.basename(args.frame)}",
        )
        lines.append(f"plot: {args.plot}")
    say(args.out, "\n".join(lines))
    return 0


def cmd_deepfeatures(args) -> int:
    from ..model import load_model  # lazy: cli.py imports every command module at start-up

    if world().rank != 0:
        return 0
    model, frame = _score_setup(args, load_model)
    feats = model.deepfeatures(frame, args.layer)
    write_columns_csv(args.out, feats)
    names = feats.names
    say(
        args.out,
        f"{args.out}: {frame.nrow} rows x {len(names)} features of hidden layer {args.layer} "
        f"({names[0]} .. {names[-1]})",
    )
    return 0


def register(subparsers) -> None:
    s = subparsers.add_parser(
        "anomaly",
        help="reconstruction error of an autoencoder per row (h2o.anomaly), with threshold and plot",
        description="Score FRAME with the autoencoder MODEL: per-row Reconstruction.MSE in the model's "
        "normalized, expanded input space (or per-feature squared errors), written as CSV.",
    )
    s.add_argument("model", help="saved autoencoder model (.h5)")
    s.add_argument("frame", help="frame to score: CSV file or hpcdl .h5 frame")
    s.add_argument("--out", required=True, help="CSV file for the errors ('-': standard output)")
    s.add_argument("--force", action="store_true", help="replace an existing --out/--plot file (never an input)")
    s.add_argument("--plot", help="also draw the error per row (.png/.pdf/.svg; needs matplotlib: hpcdl[plot])")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--threshold", type=float, help="flag rows whose error is above VALUE")
    g.add_argument(
        "--quantile", type=float, metavar="Q", help="flag rows above the Q quantile (0..1) of this frame's errors"
    )
    s.add_argument(
        "--per-feature",
        action="store_true",
        help="write one squared-error column per expanded input (reconstr_<col>.SE); "
        "threshold, listing and plot use their row mean",
    )
    s.add_argument("--top", type=int, default=TOP_ROWS, help=f"rows to list at most (default {TOP_ROWS})")
    s.add_argument("--header", choices=("auto", "yes", "no"), default="auto", help="CSV header (default: guess)")
    s.set_defaults(func=cmd_anomaly)

    s = subparsers.add_parser("deepfeatures", help="hidden-layer activations per row (h2o.deepfeatures)")
    s.add_argument("model", help="saved model (.h5), autoencoder or supervised")
    s.add_argument("frame", help="frame to score: CSV file or hpcdl .h5 frame")
    s.add_argument(
        "--layer",
        type=int,
        required=True,
        help="hidden layer, 0-based like h2o's Python API (columns are named DF.L<layer+1>.C<j>)",
    )
    s.add_argument("--out", required=True, help="CSV file for the features ('-': standard output)")
    s.add_argument("--force", action="store_true", help="replace an existing --out file (never an input)")
    s.add_argument("--header", choices=("auto", "yes", "no"), default="auto", help="CSV header (default: guess)")
    s.set_defaults(func=cmd_deepfeatures)
