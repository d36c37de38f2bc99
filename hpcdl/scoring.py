"""When the next scoring is due under ``score_progress`` (an hpcdl extension): the cadence follows the
curve of the stopping metric instead of H2O's fixed ``score_interval``.

A pure function of the recent scorings, so that the rule is tested on its own and the Monitor
(hpcdl/monitor.py) only asks it. The rule (docs/scoring.md, "When scoring happens"): after each
scoring, wait until the stopping metric is expected to have moved by ``step`` (a fraction of its
latest value) at the pace of the last few scorings, less the metric's own scatter between
scorings (a noisy metric may show a move of ``step`` at the very next scoring, so it is scored
as often as H2O's limits allow); never less than ``score_interval`` nor less than the last
scoring's duration over ``score_duty_cycle`` (H2O's two limits, kept as floors), and never more
than ``MAX_STRETCH`` times that floor (a flat curve is still watched).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAX_STRETCH = 8.0  # the longest wait, as a multiple of the shortest one H2O's limits allow
WINDOW = 3  # the pace is the least-squares slope over the last WINDOW scorings, the scatter the spread about it


def shortest_wait(interval: float, duty_cycle: float, last_duration: float) -> float:
    """H2O's floors: ``score_interval``, and the wait that keeps the last scoring within the duty cycle."""
    if duty_cycle <= 0:
        return math.inf  # H2O: a duty cycle of 0 never allows a scoring that is not forced
    return max(interval, last_duration / duty_cycle)


def _finite(times: Sequence[float], losses: Sequence[float], last: int) -> list[tuple[float, float]]:
    return [(t, y) for t, y in zip(times, losses) if math.isfinite(t) and math.isfinite(y)][-last:]


def _line(pts: list[tuple[float, float]]) -> tuple[float, float, float] | None:
    """(slope, mean time, mean loss) of the least-squares line; None for fewer than 2 points or equal times."""
    if len(pts) < 2:
        return None
    mt = sum(t for t, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    var = sum((t - mt) ** 2 for t, _ in pts)
    if var <= 0:
        return None
    return sum((t - mt) * (y - my) for t, y in pts) / var, mt, my


def relative_pace(times: Sequence[float], losses: Sequence[float]) -> float | None:
    """|d loss / dt| / |latest loss| over the last WINDOW (time, loss) points: the fraction of its value
    the metric moves per second. None when it cannot be told (fewer than 2 finite points, equal times,
    or a latest loss of 0)."""
    pts = _finite(times, losses, WINDOW)
    line = _line(pts)
    if line is None or pts[-1][1] == 0:
        return None
    return abs(line[0]) / abs(pts[-1][1])


def relative_scatter(times: Sequence[float], losses: Sequence[float]) -> float:
    """The metric's noise between scorings, relative to |latest loss|: the residual standard deviation
    (n - 2 degrees of freedom) about the least-squares line of the last WINDOW points; 0 while it
    cannot be told (fewer than 3 finite points, equal times, a latest loss of 0)."""
    pts = _finite(times, losses, WINDOW)
    line = _line(pts)
    if line is None or len(pts) < 3 or pts[-1][1] == 0:
        return 0.0
    slope, mt, my = line
    ssr = sum((y - my - slope * (t - mt)) ** 2 for t, y in pts)
    return math.sqrt(ssr / (len(pts) - 2)) / abs(pts[-1][1])


def progress_wait(
    times: Sequence[float],
    losses: Sequence[float],
    *,
    step: float,
    interval: float,
    duty_cycle: float,
    last_duration: float,
) -> float:
    """Seconds from the last scoring's start to the next one: what is left of ``step`` after the
    metric's relative scatter, over its relative pace, kept within [shortest, MAX_STRETCH x shortest];
    the shortest wait until the pace is known or while the scatter alone reaches ``step``."""
    floor = shortest_wait(interval, duty_cycle, last_duration)
    if not math.isfinite(floor):
        return floor
    floor = max(floor, 1e-3)  # a stretch of a zero floor (score_interval=0, instant scoring) is no limit
    pace = relative_pace(times, losses)
    left = step - relative_scatter(times, losses)
    if pace is None or left <= 0:
        return floor
    if pace == 0:
        return MAX_STRETCH * floor
    return min(max(left / pace, floor), MAX_STRETCH * floor)
