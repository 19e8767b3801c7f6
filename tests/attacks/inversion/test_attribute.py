"""Attribute inference on a planted table: the sensitive column ``s`` drives the label by a known
rule (with 20% label noise), the other columns are independent of it. A model that memorised its
members gives their ``s`` away; a model that never saw ``s`` gives nothing beyond the baseline."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from pipeshield.attacks.inversion import attribute_inference
from pipeshield.gateway.output_policy import HardenedTarget, OutputPolicy

S = 2  # the sensitive column (conftest's planted table)


@pytest.fixture(scope="module")
def table(planted: dict[str, Any]) -> dict[str, Any]:
    assert planted["sensitive"] == S
    memoriser = RandomForestClassifier(100, bootstrap=False, max_features=0.5, random_state=0)
    return {**planted, "memoriser": memoriser.fit(planted["xm"], planted["ym"])}


class WithoutSensitive:
    """A model trained without the sensitive column (it drops it from every query)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.model = RandomForestClassifier(100, random_state=0).fit(np.delete(x, S, axis=1), y)
        self.classes_ = self.model.classes_

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_proba(np.delete(x, S, axis=1)))


def test_a_memorising_model_leaks_the_sensitive_value_of_its_members(table: dict[str, Any]) -> None:
    r = attribute_inference(table["memoriser"], table["xm"], table["ym"], table["xn"], table["yn"], sensitive=S)
    assert r.kind == "categorical" and r.candidates == (0.0, 1.0, 2.0)
    assert r.members.attack_accuracy >= 0.85
    assert r.members.advantage >= 0.3  # clearly beyond the no-access baseline
    assert r.nonmembers.advantage < r.members.advantage - 0.2  # the leak is about members
    assert r.queries == (400 + 400) * 3
    assert abs(sum(r.prior) - 1) < 1e-9
    assert json.loads(json.dumps(r.to_dict()))["members"]["advantage"] == round(r.members.advantage, 6)


def test_a_model_that_ignores_the_sensitive_column_gives_no_advantage(table: dict[str, Any]) -> None:
    model = WithoutSensitive(table["xm"], table["ym"])
    r = attribute_inference(model, table["xm"], table["ym"], table["xn"], table["yn"], sensitive=S)
    assert r.members.advantage <= 0.02 and r.nonmembers.advantage <= 0.02
    # every candidate explains the label equally well: the prior decides, i.e. the majority value
    assert r.members.attack_accuracy == pytest.approx(r.members.majority_accuracy)


def test_label_only_output_cuts_the_leak(table: dict[str, Any]) -> None:
    args = (table["xm"], table["ym"], table["xn"], table["yn"])
    full = attribute_inference(table["memoriser"], *args, sensitive=S)
    label = attribute_inference(HardenedTarget(table["memoriser"], OutputPolicy(label_only=True)), *args, sensitive=S)
    assert label.members.advantage < full.members.advantage - 0.2


def test_a_numeric_column_is_binned_and_scored_by_bin(table: dict[str, Any]) -> None:
    r = attribute_inference(table["memoriser"], table["xm"], table["ym"], table["xn"], table["yn"], sensitive=0, bins=4)
    assert r.kind == "binned" and len(r.candidates) == 4
    assert list(r.candidates) == sorted(r.candidates)
    assert 0.0 <= r.members.majority_accuracy <= 0.35  # quartiles: about a quarter each


def test_bad_input_raises_value_error(table: dict[str, Any]) -> None:
    m = table["memoriser"]
    with pytest.raises(ValueError, match="sensitive"):
        attribute_inference(m, table["xm"], table["ym"], table["xn"], table["yn"], sensitive=9)
    with pytest.raises(ValueError, match="one label per row"):
        attribute_inference(m, table["xm"], table["ym"][:3], table["xn"], table["yn"], sensitive=S)
    with pytest.raises(ValueError, match="y_members: label .* is not one of the model's classes"):
        attribute_inference(m, table["xm"], table["ym"] + 5, table["xn"], table["yn"], sensitive=S)
