"""What goes wrong with frames: the error every frame module raises and the import warning.

At the bottom of the frame package (it imports nothing of it), so that the frame
file layer, the importers and the H2OFrame operations all raise the same
:class:`FrameError`.
"""

from __future__ import annotations

import os
import sys
import warnings


class FrameError(ValueError):
    """A frame file or its input is unusable; the message names file, row and column."""


class FrameImportWarning(UserWarning):
    """Data an import read in a way the user should know (a fallback encoding, values read as NA)."""


def warn_import(message: str) -> None:
    """A FrameImportWarning attributed to the first caller outside hpcdl (the user's line)."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    level, caller = 2, sys._getframe(1)
    while caller is not None and caller.f_code.co_filename.startswith(package_dir):
        caller, level = caller.f_back, level + 1
    warnings.warn(message, FrameImportWarning, stacklevel=level)
