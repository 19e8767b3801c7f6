"""Equation solving (Tramer et al. 2016) against logistic regressions whose parameters we know."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from pipeshield.attacks.extraction import LinearSubstitute, extract, solve_logistic


def _differences(coef: np.ndarray, intercept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parameters relative to class 0: what the softmax leaves identifiable."""
    return coef - coef[0], intercept - intercept[0]


def test_exact_recovery_from_d_plus_1_queries(
    digits: dict[str, np.ndarray], logistic: LogisticRegression, counting: Any
) -> None:
    victim = counting(logistic)
    res = extract(
        victim,
        n_features=64,
        method="equation_solving",
        budget=65,
        x_test=digits["x_test"],
        y_test=digits["y_test"],
        classes=logistic.classes_,
    )
    assert res.queries == 65 and res.fidelity == {65: 1.0}
    assert victim.rows == 65 + res.evaluation_queries
    assert res.accuracy[65] == pytest.approx(logistic.score(digits["x_test"], digits["y_test"]))
    sub = res.substitute
    assert isinstance(sub, LinearSubstitute) and sub.rank == sub.unknowns == 9 * 65
    w, b = _differences(sub.coef_, sub.intercept_)
    w0, b0 = _differences(logistic.coef_, logistic.intercept_)
    np.testing.assert_allclose(w, w0, atol=1e-8)
    np.testing.assert_allclose(b, b0, atol=1e-8)
    np.testing.assert_allclose(
        sub.predict_proba(digits["x_test"]), logistic.predict_proba(digits["x_test"]), atol=1e-9
    )


def test_binary_logistic_regression_is_recovered_exactly(digits: dict[str, np.ndarray]) -> None:
    keep = np.isin(digits["y_train"], (3, 8))
    model = LogisticRegression(max_iter=2000).fit(digits["x_train"][keep], digits["y_train"][keep])
    res = extract(
        model, n_features=64, method="equation_solving", budget=65, x_test=digits["x_test"]
    )
    assert res.fidelity == {65: 1.0}
    assert res.classes.tolist() == [3, 8]  # read from the victim's classes_
    sub = res.substitute
    assert isinstance(sub, LinearSubstitute)
    np.testing.assert_allclose(sub.coef_[1] - sub.coef_[0], model.coef_[0], atol=1e-8)
    np.testing.assert_allclose(
        sub.intercept_[1] - sub.intercept_[0], model.intercept_[0], atol=1e-8
    )


def test_single_column_binary_output_is_read_as_p_class_1(digits: dict[str, np.ndarray]) -> None:
    keep = np.isin(digits["y_train"], (0, 1))
    model = LogisticRegression(max_iter=2000).fit(digits["x_train"][keep], digits["y_train"][keep])
    res = extract(
        lambda x: model.predict_proba(x)[:, 1],
        n_features=64,
        method="equation_solving",
        budget=65,
        x_test=digits["x_test"],
    )
    assert res.fidelity == {65: 1.0}


@pytest.mark.parametrize(("decimals", "at_65", "at_500"), [(3, 0.97, 0.999), (2, 0.8, 0.99)])
def test_rounded_probabilities_need_more_queries(
    digits: dict[str, np.ndarray],
    logistic: LogisticRegression,
    counting: Any,
    decimals: int,
    at_65: float,
    at_500: float,
) -> None:
    # measured, seeds 0-2: 3 decimals 0.85-0.95 agreement from 65 queries, 1.0 from 200 and 500;
    # 2 decimals 0.64-0.76 from 65, 0.993-0.995 from 200, 0.998-1.0 from 500
    victim = counting(logistic, decimals=decimals)
    res = extract(
        victim,
        n_features=64,
        method="equation_solving",
        budget=500,
        x_test=digits["x_test"],
        checkpoints=[65, 200, 500],
    )
    assert res.queries == 500 and victim.rows == 500 + res.evaluation_queries
    assert res.fidelity[65] < at_65  # d + 1 rounded answers are not enough...
    assert res.fidelity[500] >= at_500  # ...least squares over more of them are


def test_a_target_with_named_classes(
    digits: dict[str, np.ndarray], logistic: LogisticRegression
) -> None:
    """A pipeshield Target: predict_proba on flat rows, label values in ``classes``."""

    class Target:
        name = "digits-lr"
        white_box = False
        classes = np.array([f"digit-{c}" for c in range(10)])

        def predict_proba(self, x: np.ndarray) -> Any:
            return logistic.predict_proba(x)

    res = extract(
        Target(),
        n_features=64,
        method="equation_solving",
        budget=65,
        x_test=digits["x_test"],
        y_test=np.array([f"digit-{c}" for c in digits["y_test"]]),
    )
    assert res.fidelity == {65: 1.0}
    assert res.substitute.predict(digits["x_test"][:3]).tolist()[0].startswith("digit-")
    assert res.accuracy[65] == pytest.approx(logistic.score(digits["x_test"], digits["y_test"]))


def test_solve_logistic_directly_matches_extract(logistic: LogisticRegression) -> None:
    x = np.random.default_rng(1).uniform(0, 1, size=(65, 64))
    sub = solve_logistic(x, logistic.predict_proba(x), logistic.classes_)
    z = np.random.default_rng(2).uniform(0, 1, size=(50, 64))
    assert (sub.predict(z) == logistic.predict(z)).all()
