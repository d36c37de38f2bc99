"""When the next scoring is due under ``score_progress`` (an hpcdl extension): the cadence follows the
curve of the stopping metric instead of H2O's fixed ``score_interval``.

A pure function of the recent scorings, so that the rule is tested on its own and the Monitor
(hpcdl/train.py) only asks it. The rule (docs/scoring.md, "When scoring happens"): after each
scoring, wait until the stopping metric is expected to have moved by ``step`` (a fraction of its
latest value) at the pace of the last few scorings; never less than ``score_interval`` nor less
than the last scoring's duration over ``score_duty_cycle`` (H2O's two limits, kept as floors), and
never more than ``MAX_STRETCH`` times that floor (a flat curve is still watched).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAX_STRETCH = 8.0  # the longest wait, as a multiple of the shortest one H2O's limits allow
WINDOW = 3  # the pace is the least-squares slope over the last WINDOW scorings


def shortest_wait(interval: float, duty_cycle: float, last_duration: float) -> float:
    """H2O's floors: ``score_interval``, and the wait that keeps the last scoring within the duty cycle."""
    if duty_cycle <= 0:
        return math.inf  # H2O: a duty cycle of 0 never allows a scoring that is not forced
    return max(interval, last_duration / duty_cycle)


def relative_pace(times: Sequence[float], losses: Sequence[float]) -> float | None:
    """|d loss / dt| / |latest loss| over the last WINDOW (time, loss) points: the fraction of its value
    the metric moves per second. None when it cannot be told (fewer than 2 finite points, equal times,
    or a latest loss of 0)."""
    pts = [(t, y) for t, y in zip(times, losses) if math.isfinite(t) and math.isfinite(y)][-WINDOW:]
    if len(pts) < 2 or pts[-1][1] == 0:
        return None
    mt = sum(t for t, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    var = sum((t - mt) ** 2 for t, _ in pts)
    if var <= 0:
        return None
    slope = sum((t - mt) * (y - my) for t, y in pts) / var
    return abs(slope) / abs(pts[-1][1])


def progress_wait(
    times: Sequence[float],
    losses: Sequence[float],
    *,
    step: float,
    interval: float,
    duty_cycle: float,
    last_duration: float,
) -> float:
    """Seconds from the last scoring's start to the next one: ``step`` over the metric's relative pace,
    kept within [shortest, MAX_STRETCH x shortest]; the shortest wait until the pace is known."""
    floor = shortest_wait(interval, duty_cycle, last_duration)
    if not math.isfinite(floor):
        return floor
    floor = max(floor, 1e-3)  # a stretch of a zero floor (score_interval=0, instant scoring) is no limit
    pace = relative_pace(times, losses)
    if pace is None:
        return floor
    if pace == 0:
        return MAX_STRETCH * floor
    return min(max(step / pace, floor), MAX_STRETCH * floor)
