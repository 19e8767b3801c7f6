"""Bad input fails early with a message that names the problem, and the facade stays light."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import pipeshield.attacks.extraction as extraction
from pipeshield.attacks.extraction import extract


def test_unknown_method(logistic: LogisticRegression) -> None:
    with pytest.raises(ValueError, match=r"unknown extraction method 'steal'.*equation_solving"):
        extract(logistic, n_features=64, method="steal", budget=100)


def test_budget_below_d_plus_1_says_how_many(logistic: LogisticRegression, counting: Any) -> None:
    victim = counting(logistic)
    with pytest.raises(ValueError, match=r"at least 65 queries for n_features=64.*budget is 64"):
        extract(victim, n_features=64, method="equation_solving", budget=64)
    assert victim.rows == 0  # refused before any query


def test_equation_solving_needs_probabilities(logistic: LogisticRegression) -> None:
    with pytest.raises(ValueError, match="needs the victim's probabilities"):
        extract(logistic, n_features=64, method="equation_solving", budget=65, labels_only=True)


@pytest.mark.parametrize("n_features", [63, 65])
def test_declared_width_mismatch(logistic: LogisticRegression, n_features: int) -> None:
    with pytest.raises(ValueError, match=rf"n_features={n_features} but the victim expects 64"):
        extract(logistic, n_features=n_features, method="knockoff", budget=10)


def test_callable_victim_of_another_width(logistic: LogisticRegression) -> None:
    def victim(x: np.ndarray) -> Any:
        return logistic.predict_proba(x)  # sklearn rejects 32 features

    with pytest.raises(ValueError, match="rejected inputs of n_features=32"):
        extract(victim, n_features=32, method="knockoff", budget=10)


@pytest.mark.parametrize("what", ["pool", "x_test"])
def test_inputs_of_another_width(logistic: LogisticRegression, what: str) -> None:
    with pytest.raises(ValueError, match=rf"{what} has 10 features per input but n_features=64"):
        extract(logistic, n_features=64, method="knockoff", budget=10, **{what: np.zeros((5, 10))})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 0}, "budget must be a positive integer"),
        ({"checkpoints": [10, 500]}, r"checkpoints \[500\] are outside \[1, 100\]"),
        ({"options": {"lamda": 0.1}}, r"unknown options \['lamda'\] for knockoff"),
        ({"y_test": [1, 2]}, "y_test needs x_test"),
        ({"bounds": (0.0, np.ones(3))}, "upper bound has 3 values but n_features=64"),
        ({"classes": [0, 1]}, "classes has 2 labels but the victim returns 10 columns"),
        ({"victim_labels": [0, 1]}, "victim_labels needs x_test"),
        ({"x_test": np.zeros((3, 64)), "victim_labels": [0, 1]}, "x_test has 3 rows but victim_labels has 2"),
        ({"x_test": np.zeros((2, 64)), "victim_labels": [0, 99]}, "victim_labels holds 99"),
    ],
)
def test_other_bad_input(
    logistic: LogisticRegression, kwargs: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"n_features": 64, "method": "knockoff", "budget": 100, **kwargs}
    with pytest.raises(ValueError, match=message):
        extract(logistic, **args)


def test_not_a_victim() -> None:
    with pytest.raises(TypeError, match="callable on flat rows or have predict_proba"):
        extract(42, n_features=2, method="knockoff", budget=10)


def test_public_names_resolve() -> None:
    for name in extraction.__all__:
        assert getattr(extraction, name) is not None, name
    assert set(extraction.METHODS) == {"equation_solving", "jacobian", "knockoff"}
    assert callable(extraction.transferability)
    with pytest.raises(AttributeError, match="no_such"):
        extraction.no_such  # noqa: B018


def test_import_does_not_load_torch() -> None:
    code = ("import sys, pipeshield.attacks.extraction, pipeshield.attacks.extraction.check as c; "
            "assert c.ExtractionSettings(budget='standard').query_budget == 2000; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_known_victim_labels_spare_the_evaluation_queries(logistic: LogisticRegression, counting: Any,
                                                         digits: dict[str, np.ndarray]) -> None:
    from pipeshield.attacks.extraction.api import label_inputs

    victim = counting(logistic)
    x = digits["x_test"]
    classes, labels = label_inputs(victim, x, n_features=64)
    assert victim.rows == len(x) and np.array_equal(labels, logistic.predict(x))
    first = extract(victim, n_features=64, method="equation_solving", budget=65, x_test=x)
    before = victim.rows
    again = extract(victim, n_features=64, method="equation_solving", budget=65, x_test=x, classes=classes,
                    victim_labels=labels)
    assert victim.rows - before == 65 and again.evaluation_queries == 0 < first.evaluation_queries == len(x)
    assert again.fidelity == first.fidelity
