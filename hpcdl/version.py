"""The package's version: the one place it is written (setup.cfg reads it with ``attr:``; model
files, exports and ``hpcdl --version`` report it)."""

__version__ = "0.1.0"
