"""Subcommands contributed by feature rooms: each module here has ``register(subparsers)``.

``hpcdl.cli`` imports every module listed in MODULES and lets it add its
subcommands, so features (model store, anomaly, grid, export, UI) keep their
command-line code next to their own feature without editing cli.py.
"""

MODULES = ("models", "anomaly", "grid", "export", "ui", "bench", "slurm")
