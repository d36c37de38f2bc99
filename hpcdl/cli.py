"""The ``hpcdl`` command: thin wrappers that parse arguments and call the public API."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import select
import shlex
import signal
import sys
import warnings

from . import __version__
from .comm import Comm, agree, install_abort_on_error, is_agreed, world
from .fsutil import check_output
from .output import print_json, say, write_columns_csv

EXIT_ERROR = 1
EXIT_REQUEUE = 3  # training stopped by SIGTERM/SIGUSR1 after writing a checkpoint (Slurm scripts requeue)
EXIT_INTERRUPTED = 130  # training stopped by Ctrl-C (SIGINT), as shells report 128 + SIGINT


def _early_thread_setup(argv: list[str]) -> dict[str, str | None]:
    """Honour --threads before numba starts its threads; returns the variables it replaced, for
    main() to put back (a program or test calling main() in-process keeps its environment).

    NUMBA_NUM_THREADS is set only while numba's thread pool is not yet launched (numba reads it
    again at each compile until then): later it can no longer take effect, and numba refuses to
    compile anything new once it differs from the launched pool."""
    value = None
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--threads="):
            value = arg.split("=", 1)[1]
    wanted = {"NUMBA_THREADING_LAYER": os.environ.get("NUMBA_THREADING_LAYER", "workqueue")}
    if value and value.isdigit() and int(value) > 0:
        wanted["HPCDL_THREADS"] = value  # explicit: outranks the Slurm allocation (threads.resolve_threads)
        if not _numba_threads_launched():
            wanted["NUMBA_NUM_THREADS"] = value
    # The threading layer default (workqueue) never forks after threads start: safe beside MPI.
    replaced = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    return replaced


def _numba_threads_launched() -> bool:
    if "numba" not in sys.modules:
        return False
    from numba.np.ufunc import parallel  # numba is loaded (checked above): this only names its module

    return bool(parallel._is_initialized)


def _restore_env(replaced: dict[str, str | None]) -> None:
    for name, value in replaced.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# -- subcommands -----------------------------------------------------------
def col_type_option(item: str) -> tuple[str, str]:
    """One ``--col-type NAME=TYPE`` (argparse type: a malformed one is a usage error naming the option)."""
    name, eq, typ = item.partition("=")
    if not eq or not name or not typ:
        raise argparse.ArgumentTypeError(
            f"{item!r}: expected NAME=TYPE, e.g. --col-type CAPSULE=enum (types: numeric, int, enum, time)"
        )
    return name, typ


def cmd_import(args) -> int:
    from . import frame as fr  # frame loads h5py and pyarrow: not at CLI start-up
    from . import import_file  # as above (hpcdl's lazy name, the frame package)

    if world().rank != 0:  # one writer per output file: rank 0 imports, other ranks have nothing to do
        return 0
    if args.mnist_dir:
        train, test = fr.import_mnist_dir(args.mnist_dir, args.out or ".", force=args.force)
        print(f"{train.path}: {train.nrow} rows x {train.ncol} columns")
        print(f"{test.path}: {test.nrow} rows x {test.ncol} columns")
        return 0
    if not args.file:
        raise ValueError("give a file to import (or --mnist-dir DIR); see hpcdl import -h")
    if args.labels:
        kw = {"labels_path": args.labels}
    else:
        kw = {
            "header": {"auto": None, "yes": True, "no": False}[args.header],
            "sep": args.sep,
            "col_types": dict(args.col_type) if args.col_type else None,
            "na_strings": args.na or None,
            "parse_type": args.parse_type,
        }
    f = import_file(args.file, destination=args.out, force=args.force, **kw)
    print(f"{f.path}: {f.nrow} rows x {f.ncol} columns")
    if args.summary:
        print(fr.format_summary(fr.frame_summary(f)))
    return 0


def cmd_summary(args) -> int:
    from . import frame as fr  # frame loads h5py and pyarrow: not at CLI start-up

    s = fr.frame_summary(fr.get_frame(args.frame))
    if args.json:
        print_json(s)
    else:
        print(fr.format_summary(s))
    return 0


def cmd_train(args) -> int:
    from .jobs import JobError  # jobs reads TOML: only the train command loads it

    try:
        job = agree(world(), lambda: _train_job_from_args(args), JobError)  # every rank reads the job file
        from .runner import run_job  # runner loads Numba, h5py and pyarrow: not at CLI start-up

        outcome = run_job(job, resume=args.resume, fresh=args.fresh, as_json=args.json, hooks=args.hooks)
    except KeyboardInterrupt:  # a second Ctrl-C (the first stops after the iteration): at once, no traceback
        return _interrupted(args, world())
    return report_outcome(outcome, world(), args.json, resume_command(args))


def _train_job_from_args(args):
    from .jobs import Job, JobError, apply_overrides, check_job, load_job  # only train reads a job

    overrides = list(args.set or [])
    if args.job:
        job = load_job(args.job, overrides)
    else:
        if not args.training_frame:
            raise JobError("give a job file or --training-frame (see hpcdl train -h)")
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
            from_file=False,
        )
        apply_overrides(job, overrides)
        check_job(job)
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
    return job


def resume_command(args) -> str:
    """The command that continues this run: the same arguments, --resume instead of --fresh."""
    parts = ["hpcdl", "train"] + ([args.job] if args.job else [])
    for option in ("training_frame", "validation_frame", "y", "name", "output_dir", "threads"):
        value = getattr(args, option)
        if value:
            parts += [f"--{option.replace('_', '-')}", str(value)]
    for option in ("x", "ignored_columns"):
        if getattr(args, option):
            parts += [f"--{option.replace('_', '-')}", *getattr(args, option)]
    for item in args.set or []:
        parts += ["--set", item]
    parts += [flag for flag, given in (("--quiet", args.quiet), ("--json", args.json)) if given]
    return shlex.join([*parts, "--resume"])


def report_outcome(outcome, comm: Comm, as_json: bool, resume: str | None) -> int:
    """The one place a training outcome becomes an exit code (and its last line, on rank 0)."""
    from .runner import Status  # runner loads Numba, h5py and pyarrow: not at CLI start-up

    if outcome.status is Status.STOPPED:
        code = EXIT_INTERRUPTED if outcome.signal == signal.SIGINT else EXIT_REQUEUE
        if comm.rank == 0:
            _report_stop(outcome, code, as_json, resume)
        return code
    if outcome.status is not Status.FINISHED:
        if comm.rank == 0:
            print(f"hpcdl train: error: {outcome.message}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def _report_stop(outcome, code: int, as_json: bool, resume: str | None) -> None:
    name = signal.Signals(outcome.signal).name if outcome.signal else "signal"
    done = f"{outcome.model.run.epochs:.3f} of {outcome.model.effective.epochs:g} epochs"
    if not outcome.checkpoint:
        resume = None
        line = "no checkpoint could be written (see the warnings above): the training so far is lost"
    else:
        line = f"checkpoint {outcome.checkpoint}" + (f"; continue with: {resume}" if resume else "")
    print(
        f"hpcdl: stopped by a signal ({name}) after {done}; {line} (exit code {code})",
        file=sys.stderr if as_json else sys.stdout,
        flush=True,
    )
    if as_json:  # scripts reading stdout learn where to resume from, not just the exit code
        print_json(
            {
                "stopped_by_signal": True,
                "signal": name,
                "exit_code": code,
                "checkpoint": outcome.checkpoint,
                "resume_command": resume,
                "model_id": outcome.model.model_id,
                "run_info": outcome.model.run_info,
                "scoring_history": outcome.model.scoring_events,
            }
        )


def _interrupted(args, comm: Comm) -> int:
    """A second Ctrl-C: say what is left to resume from, and end every rank."""
    if comm.rank == 0:
        from .lifecycle import checkpoint_files  # lifecycle loads Numba, h5py, pyarrow

        job = args.job or "the job"
        newest = None
        with contextlib.suppress(Exception):  # the job may not have been read yet
            newest = (checkpoint_files(_train_job_from_args(args).checkpoint_dir) or [None])[-1]
        where = (
            f"the newest checkpoint is {newest}; continue with: {resume_command(args)}" if newest else "no checkpoint"
        )
        print(f"hpcdl train: interrupted: {job} stopped at once; {where}", file=sys.stderr, flush=True)
    if comm.size > 1:
        comm.abort(EXIT_INTERRUPTED)
    return EXIT_INTERRUPTED


def cmd_predict(args) -> int:
    from .frame import import_file  # frame loads h5py and pyarrow: not at CLI start-up
    from .model import input_paths, load_model  # model loads Numba: not at CLI start-up

    if world().rank != 0:  # scoring is serial: rank 0 writes the one output file
        return 0
    inputs = [args.model, args.frame]
    check_output(args.out, inputs=inputs, force=args.force, what="predictions", stdout_ok=True)  # before any work
    model = load_model(args.model)
    frame = import_file(args.frame)
    check_output(args.out, inputs=inputs + input_paths(frame), force=args.force, what="predictions", stdout_ok=True)
    preds = model.predict(frame)
    write_columns_csv(args.out, preds)
    names = ", ".join(preds.names[:6]) + (", ..." if preds.ncol > 6 else "")
    say(args.out, f"{args.out}: {preds.nrow} predictions ({names})")
    return 0


def cmd_demo(args) -> int:
    from .runner import demo  # runner loads Numba, h5py and pyarrow: not at CLI start-up

    return report_outcome(demo(threads=args.threads, as_json=args.json), world(), args.json, None)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hpcdl", description="MPI + Numba HOGWILD! deep learning with H2O's options.")
    p.add_argument("--version", action="version", version=build_version())
    sub = p.add_subparsers(dest="command", required=True)
    _add_import(sub)
    s = sub.add_parser("summary", help="summarize a frame (type, quartiles, mean, NAs, levels)")
    s.add_argument("frame")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_summary)
    _add_train(sub)
    s = sub.add_parser("predict", help="score a frame with a saved model")
    s.add_argument("model")
    s.add_argument("frame")
    s.add_argument("--out", required=True, help="CSV file for the predictions ('-': standard output)")
    s.add_argument("--force", action="store_true", help="replace an existing --out file (never an input)")
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("demo", help="train on prostate.csv (CAPSULE) like H2O's demo and print the model")
    s.add_argument("--threads", type=int)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_demo)
    _add_command_modules(sub)
    return p


def _add_import(sub) -> None:
    s = sub.add_parser("import", help="import a CSV, Parquet, SVMLight or IDX file as an HDF5 frame")
    s.add_argument("file", nargs="?", help="CSV or SVMLight text (optionally .gz/.bz2), Parquet, or IDX images file")
    s.add_argument(
        "--out", help="frame file (or existing directory) to write (default: a cache directory); see docs/outputs.md"
    )
    s.add_argument("--force", action="store_true", help="replace an existing --out file (never the input)")
    s.add_argument("--labels", help="IDX labels file (with an IDX images file)")
    s.add_argument("--mnist-dir", help="directory with the four MNIST/Fashion-MNIST IDX files; --out is a directory")
    s.add_argument("--header", choices=("auto", "yes", "no"), default="auto")
    s.add_argument("--sep", help="field separator (default: detect)")
    s.add_argument("--na", action="append", help="extra NA string (repeatable)")
    s.add_argument(
        "--col-type",
        action="append",
        type=col_type_option,
        metavar="NAME=TYPE",
        help="force a column type (repeatable)",
    )
    s.add_argument(
        "--parse-type",
        type=str.lower,
        choices=("csv", "parquet", "svmlight"),
        help="the file's format (H2O-3's parse_type; default: decided by its content)",
    )
    s.add_argument("--summary", action="store_true", help="print the summary after importing")
    s.set_defaults(func=cmd_import)


def _add_train(sub) -> None:
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
    again = s.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue from the job's newest complete checkpoint (none yet: start from scratch)",
    )
    again.add_argument(
        "--fresh",
        action="store_true",
        help="start over although the output directory holds an unfinished run's checkpoints "
        "(they are moved to checkpoints.old-<time>/, not deleted)",
    )
    s.add_argument("--ui", action="store_true", help="serve the live training view (rank 0)")
    s.add_argument("--port", type=int, default=54321)
    s.add_argument("--bind", default=None, help="web view address (default 127.0.0.1; see README before widening)")
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.set_defaults(func=cmd_train)


def _add_command_modules(sub) -> None:
    """The subcommands that live in modules of their own (hpcdl/commands/)."""
    from .commands import MODULES  # the list only: each module is imported below, by name

    for name in MODULES:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.commands.{name}":
                raise
            continue
        module.register(sub)


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what cat, seq or grep give when the reader of their output leaves


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line a user reads (``hpcdl: warning: ...``), not a source location and code line."""
    try:
        print(f"hpcdl: warning: {message}", file=file or sys.stderr, flush=True)
    except OSError:  # nowhere to warn to
        pass


def _stdout_closed() -> bool:
    """Whether standard output's reader has gone (``hpcdl summary f.h5 | head``), not some other pipe.

    A pipe whose reading end is closed polls as an error (POLLERR) on its writing end."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no real stdout (captured): cannot tell, so not ours
        return False


def _quiet_broken_pipe() -> int:
    """The reader of our output left: stop silently, like cat or grep.

    Exit status 141 (128 + SIGPIPE) as those tools give it: an interactive
    ``| head`` shows nothing (the shell reports head's status), and a script with
    ``set -o pipefail`` learns that the output was cut short (e.g. a training run
    that stopped), as it would with any Unix tool. Standard output is pointed at
    /dev/null so that Python's final flush at exit cannot fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def build_version() -> str:
    return f"hpcdl {__version__}"


def main(argv: list[str] | None = None, *, hooks=()) -> int:
    """The command line; ``hooks``: trainer hooks (hpcdl.train.TrainHook) added to a training job's
    own, for programs that drive the command (tests inject failures this way)."""
    argv = sys.argv[1:] if argv is None else argv
    replaced = _early_thread_setup(argv)
    try:
        return _run(build_parser().parse_args(argv), hooks)
    finally:
        _restore_env(replaced)


def _run(args, hooks) -> int:
    args.hooks = list(hooks)

    install_abort_on_error()
    comm = world()
    shown, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        code = args.func(args)
        sys.stdout.flush()  # a reader that left shows here, not in Python's own flush at exit
    except BrokenPipeError as exc:
        if not _stdout_closed():
            return _fail(args, comm, exc)
        code = _quiet_broken_pipe()
        if comm.size > 1:
            comm.abort(code)
        return code
    except (ValueError, OSError, RuntimeError, KeyError) as exc:
        return _fail(args, comm, exc)
    finally:
        warnings.showwarning = shown  # main() called in-process (tests) leaves warnings as it found them
    return int(code or 0)


def _fail(args, comm: Comm, exc: BaseException) -> int:
    """User-facing errors (bad file, bad parameter, full disk, diverged training): one clear line.

    Under MPI an error every rank raised alike (``comm.is_agreed``: the ranks agreed on it) is
    printed once, by rank 0, and every rank exits 1; an error of one rank is printed with its rank
    and ends all ranks (MPI_Abort), since the others may be waiting for it in a collective."""
    if comm.size > 1 and is_agreed(exc):
        if comm.rank == 0:
            print(f"hpcdl {args.command}: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    where = f" (rank {comm.rank} of {comm.size})" if comm.size > 1 else ""
    print(f"hpcdl {args.command}: error{where}: {exc}", file=sys.stderr, flush=True)
    if comm.size > 1:
        comm.abort(EXIT_ERROR)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
