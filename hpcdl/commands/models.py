"""``hpcdl models``: a directory of saved models, addressed by key (docs/model-format.md).

    hpcdl models list DIR                 every model file in DIR: key, kind, epochs, metric
    hpcdl models show KEY [--dir DIR]     parameters, metrics, scoring history (h2o.getModel)
    hpcdl models save SRC DEST [--force]  copy a model into a directory or file (h2o.saveModel)
    hpcdl models load PATH                check that a model file loads (h2o.loadModel)

KEY is a model id or a file name in ``--dir`` (default: the current
directory), or a path to a model file. ``hpcdl show``, ``hpcdl save`` and
``hpcdl load`` are the same commands (the same functions and options).
"""

from __future__ import annotations

import glob
import os
import sys

from ..output import print_json
from ..runstate import RunState
from ..store import ModelFileError, read_model_summary


def _model_files(directory: str) -> list[str]:
    """The ``.h5`` files in ``directory`` and its subfolders (a run's checkpoints, ``h2o.save_model``'s
    ``models/`` folder), and HDF5 files without an extension (what older hpcdl's save_model wrote)."""
    from ..frame.cache import _is_frame_file  # an HDF5 signature check

    if not os.path.isdir(directory):
        raise ModelFileError(f"{directory}: no such model directory")
    found = []
    for path in glob.glob(os.path.join(glob.escape(directory), "**", "*"), recursive=True):
        name = os.path.basename(path)
        if os.path.isfile(path) and (name.endswith(".h5") or ("." not in name and _is_frame_file(path))):
            found.append(path)
    return sorted(found)


def _kind(summary: dict) -> str:
    d = summary["datainfo"]
    if d.get("autoencoder"):
        return "autoencoder"
    if not d.get("classification"):
        return "regression"
    return "binomial" if len(d.get("response_domain") or []) == 2 else "multinomial"


def _headline_metric(summary: dict) -> tuple[str, float | None]:
    metrics = summary["metrics"].get("validation") or summary["metrics"].get("training") or {}
    for key in ("logloss", "mean_residual_deviance", "MSE"):
        if metrics.get(key) is not None:
            source = "valid" if summary["metrics"].get("validation") else "train"
            return f"{source} {key}", metrics[key]
    return "", None


def list_models(directory: str) -> tuple[list[dict], list[str]]:
    """(one row per readable model file, one message per file that is not a readable model)."""

    rows, problems = [], []
    for path in _model_files(directory):
        try:
            s = read_model_summary(path)
        except ModelFileError as exc:
            if "an HDF5 file without format" not in str(exc):  # frames and other HDF5 files may share the directory
                problems.append(str(exc))
            continue
        run = RunState.from_extra(s["extra"])
        metric, value = _headline_metric(s)
        rows.append(
            {
                "key": s["model_id"],
                "file": os.path.relpath(path, directory),
                "kind": _kind(s),
                "response": s["datainfo"].get("response") or "",
                "epochs": run.epochs,
                "stop_reason": run.stop_reason.value if run.stop_reason else "",
                "metric": metric,
                "value": value,
                "created": s["created"],
                "format_version": s["format_version"],
            }
        )
    return rows, problems


def find_model(key: str, directory: str = ".") -> str:
    """The file of model ``key``: a path, a file name in ``directory``, or a model id saved there."""

    for candidate in (key, os.path.join(directory, key), os.path.join(directory, key + ".h5")):
        if os.path.isfile(candidate):
            return candidate
    if not os.path.isdir(directory):
        raise ModelFileError(f"model {key!r}: no such file, and {directory} is not a directory")
    matches = []
    for path in _model_files(directory):
        try:
            if read_model_summary(path)["model_id"] == key:
                matches.append(path)
        except ModelFileError:
            continue
    if not matches:
        raise ModelFileError(
            f"model {key!r}: not found in {directory} (no such file or model id; see: hpcdl models list {directory})"
        )
    if len(matches) > 1:
        raise ModelFileError(
            f"model {key!r}: several files in {directory} hold it: "
            f"{[os.path.relpath(m, directory) for m in matches]}; give the file name"
        )
    return matches[0]


def cmd_list(args) -> int:
    from ..model import format_table  # lazy: cli.py imports every command module at start-up

    rows, problems = list_models(args.dir)
    if args.json:
        print_json({"directory": args.dir, "models": rows, "unreadable": problems})
    elif rows:
        print(
            format_table(
                rows,
                ["key", "file", "kind", "response", "epochs", "metric", "value", "created"],
                f"{len(rows)} model(s) in {args.dir}:",
            )
        )
    else:
        print(f"no models in {args.dir}")
    for message in problems:
        print(f"hpcdl models list: warning: {message}", file=sys.stderr)
    return 0


def cmd_show(args) -> int:
    from ..model import format_table, load_model  # lazy: cli.py imports every command module at start-up

    path = find_model(args.key, args.dir)
    model = load_model(path)
    if args.json:
        print_json(
            {
                "model_id": model.model_id,
                "path": path,
                "kind": model.kind,
                "parameters": model.params.to_dict(user_given_only=True),
                "effective_parameters": model.effective.to_dict(),
                "run_info": model.run_info,
                "training_metrics": model.training_metrics,
                "validation_metrics": model.validation_metrics,
                "scoring_history": model.scoring_events,
                "variable_importances": model.variable_importances,
            }
        )
        return 0
    print(f"{path}: model {model.model_id}")
    given = model.params.to_dict(user_given_only=True)
    rows = [
        {"parameter": k, "given": given.get(k, ""), "effective": v}
        for k, v in sorted(model.effective.to_dict().items())
        if k in given or v != model.params.to_dict().get(k)
    ]
    print(
        format_table(
            rows, ["parameter", "given", "effective"], "Parameters (given by the user or changed from the default):"
        )
    )
    print()
    print(model)
    return 0


def cmd_save(args) -> int:
    from ..model import load_model  # lazy: cli.py imports every command module at start-up

    source = find_model(args.model, args.dir)
    model = load_model(source)
    path = model.save(args.dest, force=args.force, inputs=[source])  # never over the file it copies
    print(f"model {model.model_id} saved: {path}")
    return 0


def cmd_load(args) -> int:
    from ..model import load_model  # lazy: cli.py imports every command module at start-up

    path = find_model(args.model, args.dir)
    model = load_model(path)
    print(
        f"{path}: model {model.model_id} loads: {model.kind}, {model.epochs_trained:.4g} epochs, "
        f"{model.net.W.size + model.net.B.size:,} weights/biases"
    )
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list, show, save and check saved models (a model directory)")
    sub = p.add_subparsers(dest="models_command", required=True)

    s = sub.add_parser("list", help="list the models in a directory")
    s.add_argument("dir", nargs="?", default=".", help="model directory (default: the current directory)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)

    for parent in (sub, subparsers):  # `hpcdl models show` and the short `hpcdl show` (likewise save, load)
        _add_show(parent.add_parser("show", help="a model's parameters, metrics and scoring history (h2o.getModel)"))
        _add_save(
            parent.add_parser("save", help="copy a model to a file or directory (refuses to overwrite without --force)")
        )
        _add_load(parent.add_parser("load", help="check that a model file loads (clear error if not)"))


def _add_show(s) -> None:
    s.add_argument("key", help="model id or file name in --dir, or a path to a model file")
    s.add_argument("--dir", default=".", help="model directory (default: the current directory)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)


def _add_save(s) -> None:
    s.add_argument("model", help="model id or file name in --dir, or a path")
    s.add_argument("dest", help="destination file, or a directory (file <model_id>.h5 there)")
    s.add_argument("--dir", default=".", help="model directory to find MODEL in")
    s.add_argument("--force", action="store_true", help="replace an existing file (never the source model)")
    s.set_defaults(func=cmd_save)


def _add_load(s) -> None:
    s.add_argument("model", help="model id or file name in --dir, or a path")
    s.add_argument("--dir", default=".")
    s.set_defaults(func=cmd_load)
