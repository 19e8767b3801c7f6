"""The extraction monitor's cheaper hot path: the Shapiro-Wilk test every ``test_every`` distances,
and O(1) growing-set thresholds; the alarm it raises is the per-query test's, at most
``test_every - 1`` queries later."""

from __future__ import annotations

import numpy as np
import pytest

from pipeshield.gateway.extraction_monitor import ExtractionMonitor, MonitorSettings


def _grid_walk(n: int) -> np.ndarray:
    """A thief stepping one fixed distance at a time: every minimum distance is equal."""
    return np.arange(n, dtype=float)[:, None] * np.ones((1, 3))


@pytest.mark.parametrize("every", [1, 4, 8, 25])
def test_the_w_judged_is_never_more_than_test_every_minus_one_distances_old(every: int) -> None:
    """Between tests a key keeps its last W; the W it is judged by is always the W a per-query test
    gave at most ``test_every - 1`` distances ago (so an alarm comes at most that many queries late)."""
    rng = np.random.default_rng(0)
    benign = rng.normal(size=(150, 3))
    steps = rng.normal(size=(200, 3))
    walk = benign[-1] + np.cumsum(0.05 * steps / np.linalg.norm(steps, axis=1, keepdims=True), axis=0)
    rows = np.vstack([benign, walk])  # benign traffic, then a constant-step walk (Jacobian-like)
    eager = ExtractionMonitor(MonitorSettings(min_samples=100, window=120, test_every=1))
    lazy = ExtractionMonitor(MonitorSettings(min_samples=100, window=120, test_every=every))
    history: list[float | None] = []
    alarms = {"eager": 0, "lazy": 0}
    for i in range(len(rows)):
        alarms["eager"] += eager.observe("k", rows[i:i + 1], [0]) is not None
        alarm = lazy.observe("k", rows[i:i + 1], [0])
        alarms["lazy"] += alarm is not None
        history.append(eager._keys["k"].w)
        state = lazy._keys["k"]
        if state.w is None:
            continue
        assert state.untested < every
        assert state.w == history[-1 - state.untested]  # the eager W of that moment, exactly
        if alarm is not None:
            assert alarm.statistic == state.w < 0.9
    assert alarms["eager"] > 0 and alarms["lazy"] > 0  # the walk does alarm


def test_a_replayed_step_size_alarms_and_keeps_alarming_between_tests() -> None:
    monitor = ExtractionMonitor(MonitorSettings(min_samples=20, window=50, test_every=8))
    alerts = [monitor.observe("k", _grid_walk(60)[i:i + 1], [0]) for i in range(60)]
    first = next(i for i, a in enumerate(alerts) if a is not None)
    assert first == 21  # the first test runs as soon as min_samples is passed
    assert all(a is not None and a.statistic < 0.9 for a in alerts[first:])


def test_benign_traffic_stays_quiet_and_the_statistic_matches_a_fresh_test() -> None:
    rng = np.random.default_rng(1)
    monitor = ExtractionMonitor(MonitorSettings(min_samples=100, window=400))
    x = rng.normal(size=(600, 8))
    assert all(monitor.observe("k", x[i:i + 1], [i % 3]) is None for i in range(600))
    from scipy.stats import shapiro

    d = np.fromiter(monitor._keys["k"].distances, dtype=float)
    kept = d[np.abs(d - d.mean()) <= 3 * d.std()]
    assert monitor.statistic("k") == pytest.approx(shapiro(kept).statistic)


def test_running_thresholds_equal_the_recomputed_ones() -> None:
    rng = np.random.default_rng(2)
    monitor = ExtractionMonitor(MonitorSettings(max_set_per_class=20, min_samples=10, window=50))
    for i in range(400):
        monitor.observe("k", rng.normal(size=(1, 4)), [i % 2])
    for members in monitor._keys["k"].classes.values():
        kept = np.fromiter(members.member_distances, dtype=float)
        assert members.total == pytest.approx(kept.sum()) and members.total_sq == pytest.approx((kept ** 2).sum())
        assert members.threshold >= kept.mean() - kept.std() - 1e-9


def test_test_every_is_validated() -> None:
    with pytest.raises(ValueError, match="test_every must be an integer >= 1"):
        MonitorSettings(test_every=0)
