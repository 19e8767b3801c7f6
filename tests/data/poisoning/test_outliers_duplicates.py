"""Outliers and near-duplicate clusters against planted rows."""

from __future__ import annotations

import numpy as np

from pipeshield.data.poisoning import PoisonData, ScanConfig, detection_metrics, run_detectors


def _base(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def test_planted_copies_and_conflicting_duplicates() -> None:
    x, y = _base()
    x[250:256] = x[10]  # six copies of row 10 (same label): weight stuffing
    y[250:256] = y[10]
    x[290] = x[20]  # the same input under the other label: a flip by definition
    y[290] = 1 - y[20]
    res = run_detectors(PoisonData(x, y, np.array([0, 1])), ScanConfig(), ["near-duplicates"])["near-duplicates"]
    flagged = set(np.flatnonzero(res.flagged).tolist())
    assert set(range(250, 256)) <= flagged  # every copy but the first (row 10)
    assert 10 not in flagged
    assert {20, 290} <= flagged  # a tie of one label each: both rows
    assert res.details["n_groups"] == 2


def test_planted_outliers() -> None:
    x, y = _base()
    truth = np.zeros(len(x), dtype=bool)
    truth[[5, 50, 150]] = True
    x[truth] = 25.0
    x[truth, 1] = [-30.0, 30.0, 60.0]  # far from everything, and from each other
    res = run_detectors(PoisonData(x, y, np.array([0, 1])), ScanConfig(), ["outliers"])["outliers"]
    m = detection_metrics(res.flagged, truth)
    assert m.recall == 1.0 and m.fpr <= 0.01, m
