"""Output policies withhold exactly what they say, keep predict_proba's shape, and never change
the predicted label."""

from __future__ import annotations

import numpy as np
import pytest

from pipeshield.gateway.output_policy import FULL, STANDARD_POLICIES, HardenedTarget, OutputPolicy

P = np.array([[0.1234, 0.6543, 0.2223], [0.5, 0.25, 0.25]])


def test_each_policy_reveals_what_its_name_says() -> None:
    assert np.array_equal(FULL.apply(P), P) and FULL.name == "full"
    assert OutputPolicy(decimals=2).apply(P).tolist() == [[0.12, 0.65, 0.22], [0.5, 0.25, 0.25]]
    top1 = OutputPolicy(top_k=1)
    assert top1.apply(P).tolist() == [[0.0, 0.6543, 0.0], [0.5, 0.0, 0.0]] and top1.name == "top-1"
    assert OutputPolicy(top_k=2, decimals=1).apply(P).tolist() == [[0.0, 0.7, 0.2], [0.5, 0.2, 0.0]]
    label = OutputPolicy(label_only=True)
    assert label.apply(P).tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]] and label.name == "label-only"
    assert [p.name for p in STANDARD_POLICIES] == ["round-2", "top-1", "label-only"]
    assert OutputPolicy(top_k=3, decimals=4).describe() == "the top 3 scores rounded to 4 decimals"


def test_the_label_never_changes_under_any_policy() -> None:
    """Strict: ties at the rounded top and all-zero rows (decimals=0) keep the model's label too."""
    rng = np.random.default_rng(0)
    scores = [
        rng.dirichlet(np.ones(10), size=500),
        rng.dirichlet(np.full(10, 50.0), size=200),  # flat rows: every score near 0.1
        np.array([[0.3446, 0.3449, 0.3105], [0.12, 0.44, 0.44], [0.004, 0.003, 0.993]]),
    ]
    policies = [*STANDARD_POLICIES, OutputPolicy(decimals=0), OutputPolicy(decimals=1), OutputPolicy(decimals=2),
                OutputPolicy(top_k=1, decimals=0), OutputPolicy(top_k=2, decimals=1), OutputPolicy(top_k=3)]
    for p in scores:
        for policy in policies:
            out = policy.apply(p)
            assert out.shape == p.shape
            assert np.array_equal(out.argmax(axis=1), p.argmax(axis=1)), policy.name


def test_a_rounding_tie_shows_the_predicted_class_one_unit_above() -> None:
    # 0.3446 and 0.3449 both round to 0.34: the predicted class (column 1) is shown as 0.35
    assert OutputPolicy(decimals=2).apply([[0.3446, 0.3449, 0.3105]]).tolist() == [[0.34, 0.35, 0.31]]
    # decimals=0 rounds every score of a flat row to 0: the predicted class is shown as 1
    assert OutputPolicy(decimals=0).apply([[0.3, 0.4, 0.3]]).tolist() == [[0.0, 1.0, 0.0]]
    # where rounding keeps the label, nothing is adjusted
    assert OutputPolicy(decimals=0).apply([[0.2, 0.8]]).tolist() == [[0.0, 1.0]]


def test_hardened_target_wraps_any_target() -> None:
    class T:
        name, classes = "m", np.array(["cat", "dog", "eel"])

        def predict_proba(self, x: np.ndarray) -> np.ndarray:
            return P[: len(x)]

    h = HardenedTarget(T(), OutputPolicy(label_only=True))
    assert h.name == "m[label-only]" and not h.white_box
    assert h.predict_proba(np.zeros((2, 3))).tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    assert h.predict(np.zeros((2, 3))).tolist() == ["dog", "cat"]


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        OutputPolicy(top_k=0)
    with pytest.raises(ValueError, match="decimals must be between 0 and 15"):
        OutputPolicy(decimals=-1)
    with pytest.raises(ValueError, match="rows of class scores"):
        FULL.apply(np.zeros(3))
    with pytest.raises(ValueError, match="top_k must be an integer"):
        OutputPolicy(top_k=True)
    with pytest.raises(ValueError, match="top_k must be an integer"):
        OutputPolicy(top_k=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="decimals must be an integer"):
        OutputPolicy(decimals="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ambiguous"):
        OutputPolicy(label_only=True, top_k=1)
    with pytest.raises(ValueError, match="ambiguous"):
        OutputPolicy(label_only=True, decimals=2)
    assert OutputPolicy(top_k=np.int64(2)).top_k == 2
