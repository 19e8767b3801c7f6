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


def test_the_label_never_changes_except_by_a_rounding_tie() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10), size=500)
    for policy in STANDARD_POLICIES:
        out = policy.apply(p)
        moved = out.argmax(axis=1) != p.argmax(axis=1)
        top = np.sort(out, axis=1)[:, -2:]
        assert not (moved & (top[:, 0] != top[:, 1])).any(), policy.name  # only where rounding tied


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
