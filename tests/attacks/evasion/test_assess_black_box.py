"""Black-box assessment: Square, HopSkipJump and transfer against scikit-learn models, every query
counted, and the data domain obeyed (planted: models whose only lever is a frozen or an integer
feature, so an attack that respects the domain cannot win and one that ignores it always can)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from pipeshield.attacks.evasion.assess_black_box import QUERIES, assess_black_box
from pipeshield.attacks.evasion.domain import Domain
from pipeshield.core.pipeline import DomainSpec


class Box:
    """A scikit-learn model seen only through predict_proba, as a Target."""

    white_box = False

    def __init__(self, model: Any) -> None:
        self.model, self.name, self.classes = model, "m", model.classes_
        self.asked = 0

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.asked += len(x)
        return np.asarray(self.model.predict_proba(x))


@pytest.fixture(scope="module")
def digits() -> tuple[Box, np.ndarray, np.ndarray]:
    d = load_digits()
    x, y = (d.data / 16).astype(np.float32), d.target
    model = LogisticRegression(max_iter=400).fit(x[:1000], y[:1000])
    return Box(model), x[1000:1060], y[1000:1060]


def test_linear_digits_model_collapses_and_queries_are_counted(digits: tuple[Box, np.ndarray, np.ndarray]) -> None:
    target, x, y = digits
    target.asked = 0
    a = assess_black_box(target, x, y, eps_grid=[0.0, 0.1, 0.3], domain=Domain.box(64, (0.0, 1.0)),
                         budget="quick", input_shape=(1, 8, 8))
    assert a.settings["attacks"] == ["square", "hop-skip-jump"]
    assert a.ensemble[0] == a.clean_accuracy > 0.9
    assert a.ensemble[2] < 0.1  # eps 0.3 on [0, 1] pixels: an undefended linear model has no chance
    for name, col in a.robust_accuracy.items():
        assert all(e <= r + 1e-12 for e, r in zip(a.ensemble, col)), name
        assert list(col) == sorted(col, reverse=True)
    q = a.settings["queries"]
    correct = int(round(a.clean_accuracy * len(x)))
    assert q["hop-skip-jump"]["max_per_input"] <= QUERIES["quick"]["hop-skip-jump"]
    assert q["square"]["max_per_input"] <= 2 * QUERIES["quick"]["square"]  # two epsilons > 0
    # every query the attacks made reached the target: counted = asked, minus the clean pass
    assert q["square"]["total"] + q["hop-skip-jump"]["total"] == target.asked - len(x)
    assert q["square"]["median_per_input"] > 0 and correct > 0
    json.dumps(a.to_dict())


def test_transfer_from_a_distilled_surrogate(digits: tuple[Box, np.ndarray, np.ndarray]) -> None:
    from pipeshield.attacks.evasion.transfer import train_surrogate

    target, x, y = digits
    pool = (load_digits().data[:600] / 16).astype(np.float32)
    surrogate = train_surrogate(target, pool, input_shape=(1, 8, 8), seed=0)
    a = assess_black_box(target, x, y, eps_grid=[0.0, 0.3], domain=Domain.box(64, (0.0, 1.0)),
                         budget="quick", input_shape=(1, 8, 8), surrogate=surrogate, label_only=True)
    assert a.settings["attacks"] == ["transfer", "hop-skip-jump"]  # label-only: no Square
    assert a.robust_accuracy["transfer"][1] < 0.3
    assert a.settings["queries"]["transfer"]["surrogate_training"] == 600


def _lever_model(kind: str) -> tuple[Box, np.ndarray, np.ndarray]:
    """Labels decided by feature 0 alone: > 0.5 (a category flag) or > 2.5 (a count)."""
    rng = np.random.default_rng(0)
    n = 400
    if kind == "flag":
        lever = rng.integers(0, 2, n).astype(np.float32)
        y = (lever > 0.5).astype(int)
    else:
        lever = rng.choice([1.0, 2.0, 3.0, 4.0], n).astype(np.float32)
        y = (lever > 2.5).astype(int)
    x = np.column_stack([lever, rng.random((n, 3)).astype(np.float32)])
    model = LogisticRegression(C=100.0, max_iter=1000).fit(x, y)
    assert model.score(x, y) == 1.0
    return Box(model), x[:60], y[:60]


def test_a_frozen_categorical_feature_is_never_changed() -> None:
    target, x, y = _lever_model("flag")
    names = ("flag", "a", "b", "c")
    free = Domain.from_spec(DomainSpec(clip=(0.0, 1.0)), names, "d")
    frozen = Domain.from_spec(DomainSpec(clip=(0.0, 1.0), categorical=["flag"]), names, "d")
    loose = assess_black_box(target, x, y, eps_grid=[1.0], domain=free, budget="quick")
    tight = assess_black_box(target, x, y, eps_grid=[1.0], domain=frozen, budget="quick")
    assert loose.ensemble[0] < 0.1  # flipping the flag flips the label
    assert tight.ensemble[0] == 1.0  # and it is the only lever
    assert tight.settings["domain"]["frozen"] == ["flag"]


def test_integer_features_stay_whole() -> None:
    target, x, y = _lever_model("count")
    names = ("count", "a", "b", "c")
    # eps 0.6 moves the count from 2 to 2.6 (over the 2.5 threshold) but to no other whole number
    real = Domain.from_spec(DomainSpec(bounds={"count": (0.0, 10.0)}), names, "d")
    whole = Domain.from_spec(DomainSpec(bounds={"count": (0.0, 10.0)}, integer=["count"]), names, "d")
    loose = assess_black_box(target, x, y, eps_grid=[0.6], domain=real, budget="quick", norm="linf")
    tight = assess_black_box(target, x, y, eps_grid=[0.6], domain=whole, budget="quick", norm="linf")
    near = np.isin(x[:, 0], [2.0, 3.0]).mean()  # only counts next to the threshold can be flipped
    assert loose.ensemble[0] == pytest.approx(1.0 - near, abs=0.02)
    assert tight.ensemble[0] == 1.0
    # at eps 1.0 a whole step is allowed: 2 -> 3 and 3 -> 2 flip again
    tight1 = assess_black_box(target, x, y, eps_grid=[1.0], domain=whole, budget="quick", norm="linf")
    assert tight1.ensemble[0] == pytest.approx(1.0 - near, abs=0.02)


def test_bad_input_is_refused(digits: tuple[Box, np.ndarray, np.ndarray]) -> None:
    target, x, y = digits
    with pytest.raises(ValueError, match="60 inputs but 3 labels"):
        assess_black_box(target, x, y[:3], eps_grid=[0.1])
    with pytest.raises(ValueError, match="eps_grid"):
        assess_black_box(target, x, y, eps_grid=[])
    with pytest.raises(ValueError, match="unknown norm"):
        assess_black_box(target, x, y, eps_grid=[0.1], norm="l1")
