"""A stand-in for H2O-3's ``h2o-py/tests`` package, as the pyunit scripts import it
(``from tests import pyunit_utils``, ``import tests; tests.locate(...)``): H2O-3's package
exports pyunit_utils' names, and so does this one (only those run.py's scripts need)."""

from .pyunit_utils import locate, run_tests, standalone_test  # noqa: F401
