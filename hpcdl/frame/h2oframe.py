"""``H2OFrame``: H2O-3's frame class name, for scripts that build frames from Python data.

``H2OFrame(python_obj, ...)`` returns a :class:`~hpcdl.frame.Frame` made by
:meth:`Frame.from_python <hpcdl.frame.ops.FrameOps.from_python>`, and every frame (also
one from ``import_file``) is an instance of ``H2OFrame``, so ``isinstance(x, H2OFrame)``
holds for any frame as it does in H2O-3.
"""

from __future__ import annotations

from .h5frame import Frame


class _AnyFrame(type):
    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Frame)

    def __subclasscheck__(cls, sub) -> bool:
        return issubclass(sub, Frame)


class H2OFrame(metaclass=_AnyFrame):
    """Make a frame of Python data, as ``h2o.H2OFrame``: a pandas DataFrame, a numpy array, a dict of
    columns, a list of rows or a flat list (one column). See ``Frame.from_python``."""

    def __new__(cls, python_obj=None, *args, **kwargs) -> Frame:
        """``H2OFrame(python_obj, destination_frame=None, header=0, separator=",", column_names=None,
        column_types=None, na_strings=None, skipped_columns=None, force_col_types=False)``."""
        if python_obj is None:
            raise ValueError("H2OFrame(): give the data (a pandas DataFrame, numpy array, dict or list of rows)")
        return Frame.from_python(python_obj, *args, **kwargs)

    from_python = staticmethod(Frame.from_python)
    from_pandas = staticmethod(Frame.from_pandas)
