"""``hpcdl export MODEL --format onnx|python --out FILE``: a model for production scoring (docs/export.md)."""

from __future__ import annotations


def cmd_export(args) -> int:
    from ..export import export_model  # lazy: cli.py imports every command module at start-up

    written = export_model(args.model, args.out, args.format, force=args.force, weights=args.weights)
    for path in written:
        print(path)
    return 0


def register(subparsers) -> None:
    s = subparsers.add_parser(
        "export",
        help="export a saved model as ONNX or as a standalone numpy-only Python scorer",
        description="Write a scorer that applies the model's own preprocessing (imputation, standardization, "
        "one-hot with the NA slot for missing and unseen levels) and the network, and needs nothing "
        "from hpcdl. ONNX needs the onnx package (pip install 'hpcdl[export]').",
    )
    s.add_argument("model", help="saved model file (.h5)")
    s.add_argument("--format", choices=("onnx", "python"), default="onnx")
    s.add_argument("--out", required=True, help="file to write (.onnx, or .py for --format python)")
    s.add_argument(
        "--weights",
        choices=("auto", "embed", "npz"),
        default="auto",
        help="python format: weights as literals in the .py (embed), in a sibling .npz, or embed "
        "up to 50,000 parameters (auto)",
    )
    s.add_argument("--force", action="store_true", help="overwrite existing files")
    s.set_defaults(func=cmd_export)
