"""Variable-importance bar chart (H2O Flow's varimp plot); matplotlib is imported only when drawing."""

from __future__ import annotations

import numpy as np

from .plotting import _format_of, _pyplot, save_figure


def plot_varimp(table: list[dict], path: str, *, top: int = 20, title: str | None = None) -> str:
    """Horizontal bars of the scaled importance of the ``top`` variables, the most important on top.

    ``table``: rows as Model.varimp_table() returns them (variable, relative_importance,
    scaled_importance, percentage), sorted by decreasing importance. Written atomically.
    """
    if not table:
        raise ValueError("no variable importances to plot")
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    fmt = _format_of(path)
    plt = _pyplot()
    rows = table[:top]
    names = [str(r["variable"]) for r in rows][::-1]
    values = np.array([float(r["scaled_importance"]) for r in rows])[::-1]
    fig, ax = plt.subplots(figsize=(7.5, max(2.5, 0.32 * len(rows) + 1.2)))
    try:
        ax.barh(np.arange(len(rows)), values, color="tab:blue")
        ax.set_yticks(np.arange(len(rows)))
        ax.set_yticklabels(names, fontsize=8)
        ax.set_xlim(0, 1.05)
        ax.set_xlabel("scaled importance")
        shown = f"top {len(rows)} of {len(table)}" if len(table) > len(rows) else f"all {len(table)}"
        ax.set_title(title or f"Variable importances ({shown})")
        ax.grid(True, axis="x", alpha=0.3)
        fig.tight_layout()
        save_figure(fig, path, fmt)
    finally:
        plt.close(fig)
    return path
