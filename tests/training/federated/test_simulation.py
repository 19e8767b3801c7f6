"""Planted ground truth: clients 0 and 1 of 10 are malicious. FedAvg collapses under their
scaled updates while the robust rules keep the honest accuracy; their backdoor takes hold under
FedAvg and not under the robust rules. In-process engine (same Flower strategies and ClientApp as
the Ray path, which test_cli.py exercises)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pipeshield.errors import ConfigError
from pipeshield.training.federated import ClientDP, Comparison, compare, simulate

from .conftest import build_logreg

pytest.importorskip("flwr")

PLANTED = (0, 1)
COMMON: dict[str, Any] = {"clients": 10, "rounds": 5, "malicious_clients": PLANTED, "engine": "inprocess", "seed": 0}


@pytest.fixture(scope="module")
def scaled(digits: tuple[np.ndarray, ...]) -> Comparison:
    return compare(build_logreg, *digits, attack="scaled", strategies=("fedavg", "krum", "median", "trimmed-mean"),
                   **COMMON)


@pytest.fixture(scope="module")
def backdoor(digits: tuple[np.ndarray, ...]) -> Comparison:
    return compare(build_logreg, *digits, attack="backdoor", target=0, strategies=("fedavg", "median", "multi-krum"),
                   **COMMON)


def test_fedavg_collapses_under_scaled_updates(scaled: Comparison) -> None:
    row = scaled.row("fedavg")
    assert row.honest is not None and row.attacked is not None
    assert row.honest.accuracy > 0.85
    assert row.attacked.accuracy < 0.3
    assert scaled.attack["malicious_clients"] == list(PLANTED) and scaled.attack["boost"] == 10.0


@pytest.mark.parametrize("strategy", ["krum", "median", "trimmed-mean"])
def test_robust_rules_keep_accuracy_within_5_points(scaled: Comparison, strategy: str) -> None:
    row = scaled.row(strategy)
    assert row.honest is not None and row.attacked is not None
    assert row.attacked.accuracy > 0.8
    assert row.accuracy_drop is not None and row.accuracy_drop < 0.05
    assert row.attacked.assumed_malicious == 2


def test_backdoor_success_is_measured(backdoor: Comparison) -> None:
    fedavg = backdoor.row("fedavg")
    assert fedavg.attacked is not None and fedavg.honest is not None
    assert fedavg.attacked.attack_success is not None and fedavg.attacked.attack_success > 0.8
    assert fedavg.honest.attack_success is not None and fedavg.honest.attack_success < 0.1  # the clean baseline
    assert fedavg.attacked.accuracy > 0.8  # stealthy: the model still looks fine
    for name in ("median", "multi-krum"):
        row = backdoor.row(name)
        assert row.attacked is not None and row.attacked.attack_success is not None
        assert row.attacked.attack_success < 0.1


def test_rules_that_cannot_run_are_reported_not_raised(digits: tuple[np.ndarray, ...]) -> None:
    result = compare(build_logreg, *digits, attack="scaled", strategies=("bulyan",), **{**COMMON, "rounds": 1})
    row = result.row("bulyan")
    assert row.attacked is None and row.skipped == "needs at least 11 clients for f=2; have 10"
    assert row.to_dict()["honest_accuracy"] is None


def test_result_reports_every_round_and_the_ground_truth(digits: tuple[np.ndarray, ...]) -> None:
    r = simulate(build_logreg, *digits, strategy="median", attack="label-flip", **{**COMMON, "rounds": 2})
    assert len(r.accuracy_per_round) == 3 and r.accuracy == r.accuracy_per_round[-1]
    assert r.attack == {"attack": "label-flip", "malicious_clients": [0, 1], "boost": 1.0}
    assert r.attack_success is not None and 0 <= r.attack_success <= 1
    out = r.to_dict()
    assert out["strategy"] == "median" and out["engine"] == "inprocess" and out["settings"]["flower"].startswith("1.")
    assert r.model is not None


def test_client_dp_epsilon_only_for_fedavg(digits: tuple[np.ndarray, ...]) -> None:
    dp = ClientDP(noise_multiplier=1.0, clip=1.0)
    avg = simulate(build_logreg, *digits, strategy="fedavg", client_dp=dp, malicious=0.0, clients=5, rounds=2,
                   engine="inprocess")
    assert avg.client_dp is not None and avg.client_dp["epsilon"] is not None and avg.client_dp["epsilon"] > 0
    med = simulate(build_logreg, *digits, strategy="median", client_dp=dp, malicious=0.0, clients=5, rounds=1,
                   engine="inprocess")
    assert med.client_dp is not None and med.client_dp["epsilon"] is None
    assert "not accounted" in med.client_dp["accounting"]


def test_server_side_clipping_bounds_a_scaled_update(digits: tuple[np.ndarray, ...]) -> None:
    """Clipping every update to norm 1 (server side, so the attacker cannot skip it) takes the
    teeth out of a x10 reversed update even under FedAvg; client-side clipping does not, because
    a malicious client does not run it."""
    common = {**COMMON, "strategy": "fedavg", "attack": "scaled", "rounds": 4}
    server = simulate(build_logreg, *digits, client_dp=ClientDP(0.0, 1.0, side="server"), **common)
    client = simulate(build_logreg, *digits, client_dp=ClientDP(0.0, 1.0, side="client"), **common)
    assert server.accuracy > client.accuracy + 0.3


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"strategy": "bulyan"}, "bulyan with f=2 malicious needs at least 11 clients per round; you have 10"),
    ({"rounds": 0}, "--rounds: at least one round"),
    ({"malicious": 0.5, "malicious_clients": None}, "--malicious"),
    ({"strategy": "mean"}, "--strategy: unknown strategy"),
    ({"engine": "threads"}, "engine"),
])
def test_bad_input_is_refused_before_training(digits: tuple[np.ndarray, ...], kwargs: dict[str, Any],
                                              message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        simulate(build_logreg, *digits, **{**COMMON, "attack": "scaled", **kwargs})


def test_scaled_comparison_reuses_another_comparisons_honest_runs(
    digits: tuple[np.ndarray, ...], scaled: Comparison, backdoor: Comparison
) -> None:
    """Honest clients ignore the attack plan: the backdoor comparison's honest runs are the scaled
    comparison's, so reusing them changes no number and drops the backdoor's success baseline."""
    honest = {r.strategy: r.honest for r in backdoor.rows if r.honest is not None}
    reused = compare(build_logreg, *digits, attack="scaled", strategies=("fedavg", "median"), honest_runs=honest,
                     **COMMON)
    for rule in ("fedavg", "median"):
        own, again = scaled.row(rule), reused.row(rule)
        assert again.honest is not None and again.attacked is not None and own.honest is not None
        assert again.honest.accuracy_per_round == own.honest.accuracy_per_round == honest[rule].accuracy_per_round
        assert again.attacked.accuracy_per_round == own.attacked.accuracy_per_round  # type: ignore[union-attr]
        assert again.to_dict()["attack_success_if_honest"] is None and honest[rule].attack_success is not None
    with pytest.raises(ConfigError, match="only the scaled attack"):
        compare(build_logreg, *digits, attack="backdoor", strategies=("fedavg",), honest_runs=honest, **COMMON)
