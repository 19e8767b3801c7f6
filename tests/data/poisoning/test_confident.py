"""Confident learning against planted label flips (random on sklearn data, targeted in the demo)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeshield.data.poisoning import PoisonData, ScanConfig, detection_metrics, run_detectors
from pipeshield.data.poisoning.confident import (
    calibrate_joint,
    confident_joint,
    confident_learning_from_probs,
    find_label_issues,
    per_class_thresholds,
)


def test_confident_joint_by_hand() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7], [0.7, 0.3]])
    t = per_class_thresholds(labels, probs)
    assert t.tolist() == pytest.approx([(0.9 + 0.8 + 0.2) / 3, (0.9 + 0.7 + 0.3) / 3])
    cj = confident_joint(labels, probs)
    # row 2 (labelled 0) is confidently 1; row 5 (labelled 1) is confidently 0
    assert cj.counts.tolist() == [[2, 1], [1, 2]]
    cal = calibrate_joint(cj.counts, labels)
    assert cal.sum(axis=1).tolist() == [3, 3]
    issues = find_label_issues(labels, probs)
    assert np.flatnonzero(issues).tolist() == [2, 5]
    result = confident_learning_from_probs(labels, probs)
    assert result.ranked.tolist() == [2, 5] and result.suggested is not None
    assert result.suggested[[2, 5]].tolist() == [1, 0]


def _flip(y: np.ndarray, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = len(np.unique(y))
    idx = rng.choice(len(y), int(rate * len(y)), replace=False)
    noisy = y.copy()
    noisy[idx] = (y[idx] + rng.integers(1, k, len(idx))) % k
    truth = np.zeros(len(y), dtype=bool)
    truth[idx] = True
    return noisy, truth


# Floors a little under the measured F1 (digits 0.921, breast cancer 0.895; bench/poison_detection.py).
@pytest.mark.parametrize(("name", "floor"), [("digits", 0.88), ("breast_cancer", 0.85)])
def test_random_flips_f1(name: str, floor: float) -> None:
    from sklearn import datasets

    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    noisy, truth = _flip(y, 0.10, seed=0)
    data = PoisonData(x.astype(np.float32), noisy, np.unique(y), source=name)
    result = run_detectors(data, ScanConfig(), ["confident-learning"])["confident-learning"]
    m = result.metrics(truth)
    assert m.f1 >= floor, m
    # suggested labels fix most of the flips it found
    found = result.flagged & truth
    assert result.suggested is not None
    assert (result.suggested[found] == y[found]).mean() > 0.9


def test_demo_targeted_flips_recall(demo_digits) -> None:  # type: ignore[no-untyped-def]
    d = demo_digits
    data = PoisonData(d.x, d.y, np.arange(10), source="demo")
    result = run_detectors(data, ScanConfig(), ["confident-learning"])["confident-learning"]
    m = detection_metrics(result.flagged, d.flips)
    assert m.recall >= 0.8, m
    assert 1 in result.suspicious_classes  # the sevens were relabelled as ones


def test_one_round_is_the_published_algorithm() -> None:
    """A second round only adds rows: round one's issues are all still reported."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    noisy, _ = _flip(y, 0.10, seed=1)
    data = PoisonData(x.astype(np.float32), noisy, np.unique(y))
    one = run_detectors(data, ScanConfig(cl_rounds=1), ["confident-learning"])["confident-learning"]
    two = run_detectors(data, ScanConfig(cl_rounds=2), ["confident-learning"])["confident-learning"]
    assert not (one.flagged & ~two.flagged).any()
