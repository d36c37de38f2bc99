"""``hpcdl grid JOB|DIR`` (grid search from a job file, or a saved grid's summary) and
``hpcdl varimp MODEL`` (variable importances, optionally as a bar chart)."""

from __future__ import annotations

import os
import sys

from ..comm import world
from ..fsutil import check_output
from ..jobs import JobError, load_job, parse_value
from ..output import print_json
from ..plot_varimp import plot_varimp
from ..plotting import check_plot


def _split_overrides(items: list[str]) -> tuple[list[str], dict, dict]:
    """--set grid.KEY=[...] and search_criteria.KEY=V go to those tables; the rest to the job."""

    rest, grid, criteria = [], {}, {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if key.startswith("grid.") and sep:
            grid[key[5:].strip()] = parse_value(value.strip())
        elif key.startswith("search_criteria.") and sep:
            criteria[key[16:].strip()] = parse_value(value.strip())
        elif key.startswith(("grid.", "search_criteria.")):
            raise JobError(f"--set {item!r}: expected KEY=VALUE")
        else:
            rest.append(item)
    return rest, grid, criteria


def cmd_grid(args) -> int:
    from ..grid import load_grid  # lazy: cli.py imports every command module at start-up

    if os.path.isdir(args.target):
        g = load_grid(args.target)
        if args.sort_by:
            g = g.sorted_by(args.sort_by, decreasing=args.decreasing)
        if args.json:
            print_json({"grid_id": g.grid_id, "sort_by": g.sort_metric, "models": g.summary_table()})
        else:
            print(g)
        return 0
    from ..runner import Status, run_job  # lazy: cli.py imports every command module at start-up

    rest, grid, criteria = _split_overrides(args.set)
    job = load_job(args.target, rest)
    job.grid.update(grid)
    job.search_criteria.update(criteria)
    if not job.grid:
        raise JobError(
            f"{args.target}: no [grid] table (parameters given as lists of values); "
            "use `hpcdl train` for a single model"
        )
    if args.threads:
        job.threads = args.threads
    if args.parallelism:
        job.parallelism = args.parallelism
    if args.output_dir:
        job.output_dir = os.path.abspath(args.output_dir)
    if args.quiet:
        job.quiet = True
    outcome = run_job(job, as_json=args.json)
    if outcome.status is not Status.FINISHED:
        if world().rank == 0:
            print(f"hpcdl grid: error: {outcome.message}", file=sys.stderr)
        return 1
    return 0


def cmd_varimp(args) -> int:
    from ..model import format_table, load_model  # lazy: cli.py imports every command module at start-up

    model = load_model(args.model)
    table = model.varimp_table()
    if not table:
        raise ValueError(f"{args.model}: the model has no variable importances")
    if args.top < 1:
        raise ValueError(f"--top must be >= 1, got {args.top}")
    if args.plot:
        check_plot(args.plot)
        check_output(args.plot, inputs=[args.model], force=args.force, what="plot")
    if args.json:
        print_json(table[: args.top])
    else:
        shown = f"top {args.top} of {len(table)}" if len(table) > args.top else f"{len(table)}"
        print(
            format_table(
                table[: args.top],
                ["variable", "relative_importance", "scaled_importance", "percentage"],
                f"Variable Importances of {model.model_id} ({shown}):",
            )
        )
    if args.plot:
        plot_varimp(table, args.plot, top=args.top, title=f"Variable importances: {model.model_id}")
        print(f"plot written: {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0


def register(subparsers) -> None:
    s = subparsers.add_parser(
        "grid",
        help="grid search from a job file's [grid] table, or show a saved grid",
        description="Train one model per combination of the [grid] values (or random "
        "combinations, [search_criteria]); with a directory, print a saved "
        "grid's summary. See docs/model-selection.md.",
    )
    s.add_argument("target", help="job file with a [grid] table, or a saved grid directory (runs/NAME/grid)")
    s.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a parameter, data./job. key, grid.NAME=[values] or search_criteria.KEY=value",
    )
    s.add_argument("--threads", type=int, help="threads per rank")
    s.add_argument("--parallelism", type=int, help="groups of ranks that train different models at once")
    s.add_argument("--output-dir")
    s.add_argument("--sort-by", help="metric to order a saved grid by (logloss, AUC, RMSE, r2, ...)")
    s.add_argument("--decreasing", action="store_true", help="with --sort-by: largest first")
    s.add_argument("--quiet", action="store_true")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_grid)

    v = subparsers.add_parser("varimp", help="variable importances of a saved model (table, JSON or bar chart)")
    v.add_argument("model")
    v.add_argument("--top", type=int, default=20, help="how many variables to show (default 20)")
    v.add_argument("--plot", metavar="FILE", help="bar chart of the top variables (.png, .pdf, .svg)")
    v.add_argument("--force", action="store_true", help="replace an existing --plot file")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_varimp)
