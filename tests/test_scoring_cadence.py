"""score_progress's cadence rule (hpcdl/scoring.py) as a pure function, against waits worked out by hand,
and the Monitor using it in a short run."""

import math

import numpy as np
import pytest

from hpcdl import scoring


def wait(times, losses, step=0.05, interval=0.1, duty_cycle=0.1, last_duration=0.001):
    return scoring.progress_wait(
        times, losses, step=step, interval=interval, duty_cycle=duty_cycle, last_duration=last_duration
    )


def test_unknown_pace_waits_as_h2o():
    # one scoring: no slope yet; the floor is max(score_interval, duration / duty cycle)
    assert wait([0.5], [1.0], interval=0.25, last_duration=0.01) == pytest.approx(0.25)
    assert wait([0.5], [1.0], interval=0.25, last_duration=0.04) == pytest.approx(0.4)


def test_linear_curve_waits_for_the_step():
    assert scoring.relative_scatter([0, 1, 2], [1.0, 0.9, 0.8]) == pytest.approx(0.0, abs=1e-12)
    # loss 1.0, 0.9, 0.8 one second apart: -0.1 per second, 12.5% of the latest 0.8 per second;
    # a step of 5% is then 0.4 s away
    assert wait([0, 1, 2], [1.0, 0.9, 0.8]) == pytest.approx(0.05 / (0.1 / 0.8))


def test_fast_curve_is_held_by_the_duty_cycle_and_the_interval():
    # 0.4 s by the step, but a 0.05 s scoring within a 10% duty cycle needs 0.5 s
    assert wait([0, 1, 2], [1.0, 0.9, 0.8], last_duration=0.05) == pytest.approx(0.5)
    assert wait([0, 1, 2], [1.0, 0.9, 0.8], interval=0.7) == pytest.approx(0.7)


def test_flat_curve_is_stretched_to_the_limit():
    assert wait([0, 1, 2], [0.5, 0.5, 0.5]) == pytest.approx(scoring.MAX_STRETCH * 0.1)
    # nearly flat: 1e-4 per second of 0.5 -> 250 s by the step, capped
    assert wait([0, 1, 2], [0.5001, 0.50005, 0.5]) == pytest.approx(scoring.MAX_STRETCH * 0.1)


def test_only_the_recent_window_sets_the_pace():
    # a steep fall long ago, then the last three scorings flat
    times, losses = [0, 1, 2, 3, 4], [3.0, 1.0, 0.5, 0.5, 0.5]
    assert wait(times, losses) == pytest.approx(scoring.MAX_STRETCH * 0.1)
    assert wait(times[:3], losses[:3]) == pytest.approx(0.1)  # while falling: the floor


def test_a_noisy_plateau_is_scored_at_the_floor():
    # validation error of a race on its plateau: no trend, but scorings 0.4% apart (3% of 0.12): the next
    # scoring may already show a move of 0.5%, so the wait is the floor, not the stretch of a flat curve
    times, errors = [0.75, 1.2, 1.65], [0.1213, 0.1267, 0.1212]
    assert wait(times, errors, step=0.005) == pytest.approx(0.1)
    # by hand: the least-squares line is 0.12307 at t = 1.2 with slope -0.00011 per second, residuals
    # -0.00182, 0.00363, -0.00182; sd = sqrt(sum r^2 / (3 - 2)) = 0.00445, 3.67% of 0.1212
    assert scoring.relative_scatter(times, errors) == pytest.approx(0.00445 / 0.1212, rel=2e-3)
    # a scatter short of the step only shortens the wait: 1.0, 0.9, 0.8 +- 0.001 at 12.5%/s of 0.8
    noisy = [1.0, 0.902, 0.8]  # slope -0.1, residuals -0.00067, 0.00133, -0.00067: sd 0.00163, 0.204% of 0.8
    sd = math.sqrt(0.000667**2 * 2 + 0.001333**2) / 0.8
    assert scoring.relative_scatter([0, 1, 2], noisy) == pytest.approx(sd, rel=1e-3)
    assert wait([0, 1, 2], noisy) == pytest.approx((0.05 - sd) / (0.1 / 0.8))


def test_rising_loss_is_movement_and_nan_is_skipped():
    assert wait([0, 1, 2], [0.8, 0.9, 1.0]) == pytest.approx(0.05 / (0.1 / 1.0))
    assert wait([0, 1, 1.5, 2], [1.0, 0.9, math.nan, 0.8]) == pytest.approx(0.05 / (0.1 / 0.8))


def test_degenerate_inputs():
    assert wait([0, 1], [1.0, 0.0]) == pytest.approx(0.1)  # a latest loss of 0: no relative pace
    assert wait([1, 1], [1.0, 0.5]) == pytest.approx(0.1)  # two scorings at the same time
    assert wait([0, 1, 2], [1.0, 0.9, 0.8], duty_cycle=0.0) == math.inf  # H2O: duty cycle 0 never scores
    # negative losses (lift as -lift): the pace is relative to |latest|
    assert wait([0, 1, 2], [-1.0, -1.1, -1.2]) == pytest.approx(0.05 / (0.1 / 1.2))


def test_h2o_limits_always_hold():
    rng = np.random.default_rng(5)
    for _ in range(500):
        n = int(rng.integers(1, 6))
        times = np.cumsum(rng.uniform(0.01, 2.0, n))
        losses = rng.uniform(0.0, 2.0, n) * rng.choice([1, -1])
        interval, duty, dur = rng.uniform(0, 5), rng.uniform(0.01, 1), rng.uniform(0, 1)
        w = wait(
            list(times),
            list(losses),
            step=rng.uniform(0.001, 0.5),
            interval=interval,
            duty_cycle=duty,
            last_duration=dur,
        )
        floor = max(interval, dur / duty, 1e-3)
        assert w >= interval and dur / w <= duty * (1 + 1e-12)  # score_interval and the duty cycle's ceiling
        assert w <= scoring.MAX_STRETCH * floor * (1 + 1e-12)


def test_monitor_follows_the_curve_and_counts_scoring_time():
    import pandas as pd

    import hpcdl
    from hpcdl.frame import Frame

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, "a", "b")
    frame = Frame.from_pandas(pd.DataFrame({f"x{i}": X[:, i] for i in range(4)} | {"y": y}))
    common = dict(x=[f"x{i}" for i in range(4)], y="y", training_frame=frame, validation_frame=frame, hidden=[8])
    common |= dict(epochs=20, seed=1, threads=1, train_samples_per_iteration=100, stopping_rounds=0)
    # score_interval 0 and duty cycle 1: H2O's cadence scores after every iteration; the progress
    # cadence waits for the curve to move 50% at its pace, so it scores fewer times
    h2o = hpcdl.deeplearning(**common, score_interval=0, score_duty_cycle=1.0)
    progress = hpcdl.deeplearning(**common, score_interval=0, score_duty_cycle=1.0, score_progress=0.5)
    assert len(h2o.scoring_events) == h2o.run_info["iterations"]
    assert 3 <= len(progress.scoring_events) < progress.run_info["iterations"]
    for m in (h2o, progress):
        assert 0 < m.run_info["scoring_seconds_total"] <= m.run_info["wall_seconds"]
