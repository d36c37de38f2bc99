"""``hpcdl ui DIR``: browse finished jobs, saved models and their frames in a web browser."""

from __future__ import annotations

import os
import sys


def cmd_ui(args) -> int:
    from ..ui import DEFAULT_HOST, serve_directory  # lazy: cli.py imports every command module at start-up

    if not os.path.isdir(args.dir):
        raise ValueError(f"{args.dir}: no such directory (give a job output dir like runs/ or a dir of model files)")
    host = args.bind or DEFAULT_HOST
    server = serve_directory(args.dir, host, args.port, verbose=args.verbose)
    exposed = (
        ""
        if server.loopback_only
        else (
            f"  WARNING: bound to {host}: anyone who can reach this machine on port {server.server_address[1]} "
            "can read these models, frame summaries and downloads (no login)"
        )
    )
    print(f"hpcdl ui: serving {os.path.abspath(args.dir)} read-only at {server.url}  (Ctrl-C stops)", flush=True)
    if exposed:
        print(exposed, file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def register(subparsers) -> None:
    s = subparsers.add_parser("ui", help="web view of finished jobs, saved models and frames (read-only)")
    s.add_argument("dir", help="a job output dir (e.g. runs/) or a directory of model .h5 files")
    s.add_argument("--port", type=int, default=54321, help="port to listen on (default 54321; 0 = any free port)")
    s.add_argument(
        "--bind",
        metavar="ADDR",
        default=None,
        help="address to listen on (default 127.0.0.1: this machine only); 0.0.0.0 exposes the "
        "pages and downloads to the network",
    )
    s.add_argument("--verbose", action="store_true", help="log every request")
    s.set_defaults(func=cmd_ui)
