"""The ``hpcdl`` command: thin wrappers that parse arguments and call the public API."""

from __future__ import annotations

import argparse
import os
import sys

from .output import print_json

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REQUEUE = 3  # training stopped by SIGTERM/SIGUSR1 after writing a checkpoint (Slurm scripts requeue)


def _early_thread_setup(argv: list[str]) -> None:
    """NUMBA_NUM_THREADS must be set before numba is imported; honour --threads early."""
    for i, arg in enumerate(argv):
        value = None
        if arg == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--threads="):
            value = arg.split("=", 1)[1]
        if value and value.isdigit() and int(value) > 0:
            os.environ["NUMBA_NUM_THREADS"] = value
            os.environ["HPCDL_THREADS"] = value  # explicit: outranks the Slurm allocation (train.resolve_threads)
    # A threading layer that never forks after threads start (safe beside MPI).
    os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")


# -- subcommands -----------------------------------------------------------
def cmd_import(args) -> int:
    from . import frame as fr

    if args.mnist_dir:
        train, test = fr.import_mnist_dir(args.mnist_dir, args.out or ".")
        print(f"{train.path}: {train.nrow} rows x {train.ncol} columns")
        print(f"{test.path}: {test.nrow} rows x {test.ncol} columns")
        return 0
    if args.labels:
        f = fr.import_idx(args.file, args.labels, destination=args.out)
    else:
        col_types = dict(item.split("=", 1) for item in args.col_type or [])
        header = {"auto": None, "yes": True, "no": False}[args.header]
        f = fr.import_file(
            args.file,
            destination=args.out,
            header=header,
            sep=args.sep,
            col_types=col_types or None,
            na_strings=args.na or None,
        )
    print(f"{f.path}: {f.nrow} rows x {f.ncol} columns")
    if args.summary:
        print(fr.format_summary(fr.frame_summary(f)))
    return 0


def cmd_summary(args) -> int:
    from . import frame as fr

    s = fr.frame_summary(fr.get_frame(args.frame))
    if args.json:
        print_json(s)
    else:
        print(fr.format_summary(s))
    return 0


def cmd_train(args) -> int:
    from .jobs import Job, load_job
    from .runner import run_job

    overrides = list(args.set or [])
    if args.job:
        job = load_job(args.job, overrides)
    else:
        if not args.training_frame:
            raise SystemExit("hpcdl train: give a job file or --training-frame (see hpcdl train -h)")
        from .jobs import apply_overrides

        job = Job(
            path=os.path.join(os.getcwd(), "cli-job.toml"),
            name=args.name or "model",
            output_dir=os.path.abspath(args.output_dir or os.path.join("runs", args.name or "model")),
            data={
                "training_frame": os.path.abspath(args.training_frame),
                "validation_frame": os.path.abspath(args.validation_frame) if args.validation_frame else None,
                "y": args.y,
                "x": args.x or None,
                "ignored_columns": args.ignored_columns or None,
            },
        )
        apply_overrides(job, overrides)
    if args.threads:
        job.threads = args.threads
    if args.output_dir:
        job.output_dir = os.path.abspath(args.output_dir)
    if args.ui:
        job.ui, job.port = True, args.port
    if args.bind:
        job.ui_bind = args.bind
    if args.quiet:
        job.quiet = True
    return run_job(job, resume=args.resume, as_json=args.json)


def cmd_predict(args) -> int:
    from .frame import import_file
    from .model import load_model
    from .output import write_columns_csv

    model = load_model(args.model)
    preds = model.predict(import_file(args.frame))
    write_columns_csv(args.out, preds)
    print(f"{args.out}: {preds.nrow} predictions ({', '.join(preds.names[:6])}{', ...' if preds.ncol > 6 else ''})")
    return 0


def cmd_show(args) -> int:
    from .model import load_model

    model = load_model(args.model)
    if args.json:
        print_json(
            {
                "model_id": model.model_id,
                "parameters": model.effective,
                "run_info": model.run_info,
                "training_metrics": model.training_metrics,
                "validation_metrics": model.validation_metrics,
                "scoring_history": model.scoring_history,
                "variable_importances": model.variable_importances,
            }
        )
    else:
        print(model)
    return 0


def cmd_demo(args) -> int:
    from .runner import demo

    return demo(threads=args.threads, as_json=args.json)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hpcdl", description="MPI + Numba HOGWILD! deep learning with H2O's options.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("import", help="import a CSV or IDX file as an HDF5 frame")
    s.add_argument("file", nargs="?", help="CSV (optionally .gz) or IDX images file")
    s.add_argument("--out", help="frame file to write (default: a cache directory)")
    s.add_argument("--labels", help="IDX labels file (with an IDX images file)")
    s.add_argument("--mnist-dir", help="directory with the four MNIST/Fashion-MNIST IDX files; --out is a directory")
    s.add_argument("--header", choices=("auto", "yes", "no"), default="auto")
    s.add_argument("--sep", help="field separator (default: detect)")
    s.add_argument("--na", action="append", help="extra NA string (repeatable)")
    s.add_argument("--col-type", action="append", metavar="NAME=TYPE", help="force a column type (repeatable)")
    s.add_argument("--summary", action="store_true", help="print the summary after importing")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("summary", help="summarize a frame (type, quartiles, mean, NAs, levels)")
    s.add_argument("frame")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_summary)

    s = sub.add_parser("train", help="train a model from a job file (or from options)")
    s.add_argument("job", nargs="?", help="TOML job file (see jobs/)")
    s.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a parameter (or data.KEY / job.KEY); value in TOML syntax, e.g. hidden=[50,50]",
    )
    s.add_argument("--training-frame")
    s.add_argument("--validation-frame")
    s.add_argument("--y")
    s.add_argument("--x", nargs="*")
    s.add_argument("--ignored-columns", nargs="*")
    s.add_argument("--name")
    s.add_argument("--output-dir")
    s.add_argument("--threads", type=int, help="threads per rank")
    s.add_argument("--resume", action="store_true", help="continue from the job's newest complete checkpoint")
    s.add_argument("--ui", action="store_true", help="serve the live training view (rank 0)")
    s.add_argument("--port", type=int, default=54321)
    s.add_argument("--bind", default=None, help="web view address (default 127.0.0.1; see README before widening)")
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("predict", help="score a frame with a saved model")
    s.add_argument("model")
    s.add_argument("frame")
    s.add_argument("--out", required=True, help="CSV file for the predictions")
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("show", help="print a saved model (parameters, metrics, history)")
    s.add_argument("model")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("demo", help="train on prostate.csv (CAPSULE) like H2O's demo and print the model")
    s.add_argument("--threads", type=int)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_demo)

    import importlib

    from .commands import MODULES

    for name in MODULES:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.commands.{name}":
                raise
            continue
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _early_thread_setup(argv)
    args = build_parser().parse_args(argv)
    from .comm import install_abort_on_error, world

    install_abort_on_error()
    comm = world()
    try:
        code = args.func(args)
    except (ValueError, OSError, RuntimeError, KeyError) as exc:
        # User-facing errors (bad file, bad parameter, diverged training): one clear message.
        where = f" (rank {comm.rank} of {comm.size})" if comm.size > 1 else ""
        print(f"hpcdl {args.command}: error{where}: {exc}", file=sys.stderr)
        sys.stderr.flush()
        if comm.size > 1:
            comm.abort(EXIT_ERROR)
        return EXIT_ERROR
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
