"""Plots (matplotlib, an optional dependency: ``pip install hpcdl[plot]``).

matplotlib is imported only when a plot is drawn, with the non-interactive Agg
backend, so hpcdl runs on compute nodes without a display or matplotlib.
"""

from __future__ import annotations

import os

import numpy as np

from .fsutil import atomic_path


class PlotError(RuntimeError):
    """A plot cannot be drawn (matplotlib missing, bad output name)."""


def _pyplot():
    try:
        import matplotlib  # optional (hpcdl[plot])
    except ImportError as exc:
        raise PlotError(
            "plotting needs matplotlib, which is not installed; install it with "
            "`pip install 'hpcdl[plot]'` (or `pip install matplotlib`)"
        ) from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # after use('Agg'): no display needed

    return plt


def _format_of(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in ("png", "pdf", "svg", "jpg", "jpeg"):
        raise PlotError(f"{path}: plot file must end in .png, .pdf, .svg or .jpg")
    return "jpeg" if ext == "jpg" else ext


def save_figure(fig, path: str, fmt: str) -> None:
    """Write a matplotlib figure atomically (never a half-written image)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=120)


def check_plot(path: str) -> None:
    """Raise PlotError now if ``path`` cannot be drawn (unknown extension, matplotlib missing)."""
    _format_of(path)
    _pyplot()


def plot_reconstruction_error(
    errors, path: str, *, threshold: float | None = None, title: str | None = None, ylabel: str = "Reconstruction.MSE"
) -> str:
    """Reconstruction error per row as a line (the booklet's ``plot.ts(recon_error)``).

    Rows with an error above ``threshold`` are marked in red and labelled with their
    1-based row number; the threshold is drawn as a dashed line. Written atomically.
    """
    errors = np.asarray(errors, dtype=np.float64).reshape(-1)
    fmt = _format_of(path)
    plt = _pyplot()
    rows = np.arange(1, len(errors) + 1)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    try:
        ax.plot(rows, errors, color="black", linewidth=1.0, marker="o", markersize=2.5, label=ylabel)
        if threshold is not None:
            ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1.0, label=f"threshold {threshold:.4g}")
            above = errors > threshold
            if above.any():
                ax.scatter(
                    rows[above],
                    errors[above],
                    color="tab:red",
                    zorder=3,
                    s=30,
                    label=f"{int(above.sum())} row(s) above",
                )
                for r, e in zip(rows[above], errors[above]):
                    ax.annotate(str(r), (r, e), textcoords="offset points", xytext=(4, 4), fontsize=8, color="tab:red")
        ax.set_xlabel("row (1-based)")
        ax.set_ylabel(ylabel)
        ax.set_title(title or "Reconstruction error per row")
        ax.legend(loc="best", fontsize=8)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        save_figure(fig, path, fmt)
    finally:
        plt.close(fig)
    return path
