"""A ``kernels.Hyper`` for tests of the kernels themselves.

``Hyper`` has no defaults of its own: a run's is built from its parameters' record
(``model.hyper_from_params``). These tests start from the record of the parameters' defaults
(with the cross-entropy loss and no hidden layers' dropout) and change what they test.
"""

from dataclasses import replace

from hpcdl.kernels import Hyper
from hpcdl.model import hyper_from_params
from hpcdl.params import record_from_dict

BASE = hyper_from_params(record_from_dict({"loss": "CrossEntropy", "hidden": []}))


def make_hyper(**changes) -> Hyper:
    """BASE with ``changes`` (kernel settings by Hyper's field names)."""
    return replace(BASE, **changes)
