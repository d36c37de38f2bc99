"""Frames: HDF5 column files, their readers (CSV, IDX, numpy/pandas) and summaries."""

from .h5frame import Frame, FrameError, FrameWriter, frame_from_numpy, shard_range

__all__ = ["Frame", "FrameError", "FrameWriter", "frame_from_numpy", "shard_range"]
