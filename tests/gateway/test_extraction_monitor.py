"""PRADA monitoring: the growing-set arithmetic on hand-made points, bounded memory, and planted
ground truth -- a Jacobian-augmentation campaign from the extraction engine is flagged within a few
hundred queries, uniform random queries by the coverage alarm, benign test-set traffic by neither."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from pipeshield.gateway.extraction_monitor import ExtractionMonitor, MonitorSettings


def test_growing_set_follows_the_paper() -> None:
    monitor = ExtractionMonitor(MonitorSettings(min_samples=3, window=10))
    # class 0: first point only enters the set; then distances 3, 4 (both join: threshold 0 -> ...)
    monitor.observe("k", [[0.0, 0.0]], [0])
    monitor.observe("k", [[3.0, 0.0], [3.0, 4.0]], [0, 0])
    state = monitor._keys["k"]
    members = state.classes[0]
    assert list(state.distances) == [3.0, 4.0] and members.size == 3
    # threshold = max(0, mean - std) of member distances [3, 4] = 3.5 - 0.5
    assert members.threshold == pytest.approx(3.0)
    monitor.observe("k", [[3.0, 1.0]], [0])  # distance 1 <= 3: recorded, not added
    assert list(state.distances)[-1] == 1.0 and members.size == 3
    monitor.observe("k", [[10.0, 10.0]], [1])  # a new class starts its own set
    assert len(state.distances) == 3 and state.classes[1].size == 1 and state.queries == 5


def test_memory_is_bounded() -> None:
    settings = MonitorSettings(max_set_per_class=5, window=150, max_keys=2)
    monitor = ExtractionMonitor(settings)
    rng = np.random.default_rng(0)
    monitor.observe("a", rng.normal(size=(400, 4)) * np.arange(1, 401)[:, None], np.zeros(400))
    state = monitor._keys["a"]
    assert state.classes[0].points.shape == (5, 4) and state.classes[0].size == 5
    assert len(state.distances) == 150 and state.queries == 400
    monitor.observe("b", [[0.0] * 4], [0])
    monitor.observe("c", [[0.0] * 4], [0])
    assert list(monitor._keys) == ["b", "c"] and monitor.statistic("a") is None  # LRU forgot "a"


def test_bad_input_is_refused() -> None:
    monitor = ExtractionMonitor()
    with pytest.raises(ValueError, match="2 inputs but 1 predicted"):
        monitor.observe("k", [[0.0], [1.0]], [0])
    with pytest.raises(ValueError, match="finite"):
        monitor.observe("k", [[np.nan]], [0])
    monitor.observe("k", [[0.0, 1.0]], [0])
    with pytest.raises(ValueError, match="sent 3 features, earlier 2"):
        monitor.observe("k", [[0.0, 1.0, 2.0]], [0])
    with pytest.raises(ValueError, match="delta must be in"):
        MonitorSettings(delta=1.5)
    with pytest.raises(ValueError, match="window must be an integer above min_samples"):
        MonitorSettings(min_samples=100, window=50)


def test_a_replayed_step_size_is_flagged() -> None:
    """Equal distances (a thief walking a grid with one step) are far from normal."""
    monitor = ExtractionMonitor(MonitorSettings(min_samples=20, window=50))
    grid = np.arange(30, dtype=float)[:, None] * np.ones((1, 3))
    alert = monitor.observe("k", grid, np.zeros(30))
    assert alert is not None and alert.statistic < 0.9 and alert.first and alert.detector == "prada"
    again = monitor.observe("k", grid[-1:] + 1.0, [0])
    assert again is not None and not again.first and again.queries_seen == 31


@pytest.fixture(scope="module")
def digits() -> dict[str, Any]:
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    order = np.random.default_rng(0).permutation(len(x))
    tr, pool, te = order[:700], order[700:1200], order[1200:]
    victim = LogisticRegression(max_iter=500).fit(x[tr], y[tr])
    return {"victim": victim, "pool": x[pool], "test": x[te]}


def _campaign(victim: Any, method: str, budget: int, **kwargs: Any) -> np.ndarray:
    from pipeshield.attacks.extraction import extract

    sent: list[np.ndarray] = []

    def oracle(z: np.ndarray) -> np.ndarray:
        sent.append(np.array(z, dtype=float))
        return np.asarray(victim.predict_proba(z))

    extract(
        oracle,
        n_features=64,
        method=method,
        budget=budget,
        seed=0,
        n_eval=1,
        checkpoints=[budget],
        **kwargs,
    )
    return np.concatenate(sent)[1:]  # the first row labels the 1-row evaluation set


def _first_alert(
    monitor: ExtractionMonitor, stream: np.ndarray, labels: np.ndarray, step: int = 10
) -> Any:
    for start in range(0, len(stream), step):
        alert = monitor.observe("thief", stream[start : start + step], labels[start : start + step])
        if alert is not None:
            return alert
    return None


def test_jacobian_campaign_is_flagged_within_a_few_hundred_queries(digits: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    victim = digits["victim"]
    stream = _campaign(
        victim,
        "jacobian",
        300,
        pool=digits["pool"],
        options={"n_seed": 10, "epochs": 5, "max_rounds": 6},
    )
    monitor = ExtractionMonitor(MonitorSettings(bounds=(0.0, 1.0)))
    alert = _first_alert(monitor, stream, victim.predict(stream))
    assert alert is not None and alert.detector == "prada"
    assert alert.statistic < alert.threshold == 0.9 and alert.queries_seen <= 300
    assert (
        alert.coverage is not None and alert.to_dict()["coverage"]["queries"] == alert.queries_seen
    )


def test_uniform_queries_trip_the_coverage_alarm_not_prada(digits: dict[str, Any]) -> None:
    victim = digits["victim"]
    stream = np.random.default_rng(1).uniform(0.0, 1.0, size=(300, 64))
    labels = victim.predict(stream)
    prada_only = ExtractionMonitor(MonitorSettings(bounds=(0.0, 1.0)))
    assert _first_alert(prada_only, stream, labels) is None  # PRADA's blind spot, documented
    both = ExtractionMonitor(MonitorSettings(bounds=(0.0, 1.0), max_cell_fraction=0.9))
    alert = _first_alert(both, stream, labels)
    assert alert is not None and alert.detector == "coverage" and alert.statistic > 0.9
    assert alert.queries_seen <= 150


def test_benign_test_set_traffic_raises_no_alarm(digits: dict[str, Any]) -> None:
    victim = digits["victim"]
    for seed in range(3):
        stream = digits["test"][np.random.default_rng(seed).permutation(len(digits["test"]))[:400]]
        monitor = ExtractionMonitor(MonitorSettings(bounds=(0.0, 1.0), max_cell_fraction=0.9))
        assert _first_alert(monitor, stream, victim.predict(stream), step=1) is None
        w = monitor.statistic("thief")
        coverage = monitor.coverage("thief")
        assert w is not None and w > 0.9 and coverage is not None and coverage.cell_fraction < 0.9
