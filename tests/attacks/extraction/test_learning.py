"""Learning-based theft (Knockoff, Jacobian augmentation) against a digits MLP, and what the
stolen copy buys: transferable adversarial examples."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from pipeshield.attacks.extraction import ExtractionResult, extract, transferability

CHECKPOINTS = [25, 50, 100, 200, 400]


@pytest.fixture(scope="module")
def runs(
    digits: dict[str, np.ndarray], mlp: MLPClassifier
) -> dict[tuple[str, bool], ExtractionResult]:
    """Both methods, probabilities and labels only, 400 queries each from the public pool."""
    return {
        (method, labels_only): extract(
            mlp,
            n_features=64,
            method=method,
            budget=400,
            pool=digits["pool"],
            labels_only=labels_only,
            x_test=digits["x_test"],
            y_test=digits["y_test"],
            checkpoints=CHECKPOINTS,
        )
        for method in ("knockoff", "jacobian")
        for labels_only in (False, True)
    }


# measured (seed 0, probabilities / labels only): knockoff 0.55 -> 0.96 / 0.52 -> 0.95,
# jacobian 0.73 -> 0.87 / 0.70 -> 0.84
@pytest.mark.parametrize(("method", "margin"), [("knockoff", 0.3), ("jacobian", 0.1)])
@pytest.mark.parametrize("labels_only", [False, True])
def test_fidelity_rises_with_queries(
    runs: dict[tuple[str, bool], ExtractionResult], method: str, margin: float, labels_only: bool
) -> None:
    res = runs[method, labels_only]
    curve = [res.fidelity[c] for c in CHECKPOINTS]
    assert list(res.fidelity) == CHECKPOINTS
    assert curve[-1] >= curve[0] + margin
    assert all(b >= a - 0.03 for a, b in zip(curve, curve[1:]))  # monotone up to training noise
    assert curve[-1] >= (0.9 if method == "knockoff" else 0.8)
    assert list(res.accuracy) == CHECKPOINTS and res.accuracy[400] >= 0.8


@pytest.mark.parametrize("method", ["knockoff", "jacobian"])
def test_labels_only_is_no_better_than_probabilities(
    runs: dict[tuple[str, bool], ExtractionResult], method: str
) -> None:
    # measured over seeds 0-3 at the last checkpoint: labels only 0.005-0.02 lower
    assert runs[method, True].final_fidelity <= runs[method, False].final_fidelity


@pytest.mark.parametrize(
    ("method", "budget", "options"),
    [
        ("knockoff", 333, {}),
        ("jacobian", 333, {}),  # the last augmentation round is cut at the budget
        ("jacobian", 250, {"reservoir": 40, "sigma": 1, "n_seed": 30}),
        ("knockoff", 900, {}),  # more than the pool holds: each pool input once
    ],
)
def test_queries_never_exceed_the_budget(
    digits: dict[str, np.ndarray],
    mlp: MLPClassifier,
    counting: Any,
    method: str,
    budget: int,
    options: dict[str, Any],
) -> None:
    victim = counting(mlp)
    res = extract(
        victim,
        n_features=64,
        method=method,
        budget=budget,
        pool=digits["pool"],
        x_test=digits["x_test"],
        options={"min_steps": 50, "epochs": 5, **options},
    )
    assert res.queries <= budget
    assert victim.rows == res.queries + res.evaluation_queries
    assert (
        res.queries == min(budget, len(digits["pool"]))
        if method == "knockoff"
        else res.queries == budget
    )
    assert max(res.fidelity) == res.queries


def test_without_pool_queries_are_uniform_and_fidelity_is_on_uniform_inputs(
    mlp: MLPClassifier,
) -> None:
    res = extract(
        mlp,
        n_features=64,
        method="knockoff",
        budget=60,
        n_eval=200,
        checkpoints=[60],
        options={"min_steps": 50},
    )
    assert res.evaluation == "uniform" and res.evaluation_queries == 200
    assert any("[0, 1]" in n for n in res.notes)
    json.dumps(res.to_dict())


def test_deterministic_for_a_seed(digits: dict[str, np.ndarray], mlp: MLPClassifier) -> None:
    kw: dict[str, Any] = dict(
        n_features=64,
        method="jacobian",
        budget=120,
        pool=digits["pool"],
        x_test=digits["x_test"],
        options={"min_steps": 50},
        seed=3,
    )
    assert extract(mlp, **kw).fidelity == extract(mlp, **kw).fidelity


def test_result_to_dict_is_json(runs: dict[tuple[str, bool], ExtractionResult]) -> None:
    d = runs["knockoff", True].to_dict()
    assert json.loads(json.dumps(d))["fidelity"]["400"] == runs["knockoff", True].fidelity[400]
    assert d["labels_only"] is True and d["queries"] == 400 and d["evaluation"] == "x_test"
    assert set(d) >= {"method", "fidelity", "accuracy", "queries", "budget", "settings", "notes"}


def test_substitute_adversarials_transfer(
    runs: dict[tuple[str, bool], ExtractionResult],
    digits: dict[str, np.ndarray],
    mlp: MLPClassifier,
) -> None:
    # measured: 0.42 of the victim's correct inputs fooled at eps 0.15, random noise 0.04
    t = transferability(
        runs["knockoff", False], mlp, digits["x_test"][:200], digits["y_test"][:200], eps=0.15
    )
    assert t.n >= 180 and t.substitute_rate >= 0.95
    assert t.rate >= 0.3 and t.rate >= 4 * t.baseline_rate
    assert json.loads(json.dumps(t.to_dict()))["n"] == t.n


def test_equation_solved_copy_transfers_like_white_box(
    digits: dict[str, np.ndarray], logistic: LogisticRegression
) -> None:
    res = extract(
        logistic,
        n_features=64,
        method="equation_solving",
        budget=65,
        pool=digits["pool"],
        x_test=digits["x_test"],
    )
    t = transferability(res, logistic, digits["x_test"][:200], digits["y_test"][:200], eps=0.1)
    # an exact copy: what fools it fools the victim, up to float32 rounding at the boundary
    # (measured: 0.31 both, random noise 0.02)
    assert t.rate == pytest.approx(t.substitute_rate, abs=0.02) and t.rate >= 0.25
    assert t.rate >= 4 * t.baseline_rate
