"""``H2OFrame``: H2O-3's frame class name, for scripts that build frames from Python data.

``H2OFrame(python_obj, ...)`` returns a :class:`~hpcdl.frame.Frame` made by
:meth:`Frame.from_python <hpcdl.frame.ops.FrameOps.from_python>`, and every frame (also
one from ``import_file``) is an instance of ``H2OFrame``, so ``isinstance(x, H2OFrame)``
holds for any frame as it does in H2O-3.
"""

from __future__ import annotations

from collections.abc import Sequence

from .h5frame import Frame


class _AnyFrame(type):
    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Frame)

    def __subclasscheck__(cls, sub) -> bool:
        return issubclass(sub, Frame)


class H2OFrame(metaclass=_AnyFrame):
    """Make a frame of Python data, as ``h2o.H2OFrame``: a pandas DataFrame, a numpy array, a dict of
    columns, a list of rows or a flat list (one column). See ``Frame.from_python``."""

    def __new__(
        cls,
        python_obj=None,
        destination_frame: str | None = None,
        header: int = 0,
        separator: str = ",",
        column_names: Sequence[str] | None = None,
        column_types=None,
        na_strings=None,
        skipped_columns: Sequence[int] | None = None,
        force_col_types: bool = False,
    ) -> Frame:
        if python_obj is None:
            raise ValueError("H2OFrame(): give the data (a pandas DataFrame, numpy array, dict or list of rows)")
        return Frame.from_python(
            python_obj,
            destination_frame=destination_frame,
            header=header,
            separator=separator,
            column_names=column_names,
            column_types=column_types,
            na_strings=na_strings,
            skipped_columns=skipped_columns,
            force_col_types=force_col_types,
        )

    from_python = staticmethod(Frame.from_python)
    from_pandas = staticmethod(Frame.from_pandas)
