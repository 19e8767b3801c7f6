"""Flower's strategies behind the names, and the client-count preconditions checked up front."""

from __future__ import annotations

import pytest

from pipeshield.errors import ConfigError
from pipeshield.training.federated.strategies import (
    ClientDP,
    StrategyName,
    build_strategy,
    check_preconditions,
    minimum_clients,
    trimmed_mean_beta,
)

pytest.importorskip("flwr")


def test_bulyan_needs_4f_plus_3_and_says_what_to_do() -> None:
    with pytest.raises(ConfigError) as err:
        check_preconditions("bulyan", 10, 2)
    assert err.value.message == (
        "bulyan with f=2 malicious needs at least 11 clients per round; you have 10: "
        "use --clients 11 or --strategy multi-krum"
    )
    check_preconditions("bulyan", 11, 2)


@pytest.mark.parametrize(("name", "f", "need"), [
    ("fedavg", 3, 1), ("krum", 2, 7), ("multi-krum", 1, 5), ("median", 2, 5), ("trimmed-mean", 3, 7),
    ("bulyan", 1, 7),
])
def test_minimum_clients(name: str, f: int, need: int) -> None:
    assert minimum_clients(name, f) == need
    check_preconditions(name, need, f)
    if need > 1:
        with pytest.raises(ConfigError, match=f"needs at least {need} clients"):
            check_preconditions(name, need - 1, f)


def test_unknown_strategy_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="known: fedavg, krum, multi-krum, median, trimmed-mean, bulyan"):
        build_strategy("mean", clients=5, f=1)


@pytest.mark.parametrize("clients", range(3, 40))
def test_trimmed_mean_cuts_exactly_f_per_side(clients: int) -> None:
    for f in range(0, (clients - 1) // 2 + 1):
        beta = trimmed_mean_beta(clients, f)
        assert 0 <= beta < 0.5 and int(beta * clients) == f


def test_flower_strategies_are_configured_for_f() -> None:
    from flwr.serverapp import strategy as fs

    krum = build_strategy("krum", clients=10, f=2)
    assert type(krum) is fs.Krum and krum.num_malicious_nodes == 2 and krum.num_nodes_to_select == 1
    multi = build_strategy("multi-krum", clients=10, f=2)
    assert type(multi) is fs.MultiKrum and multi.num_nodes_to_select == 8
    trimmed = build_strategy("trimmed-mean", clients=10, f=2)
    assert isinstance(trimmed, fs.FedTrimmedAvg) and int(trimmed.beta * 10) == 2
    bulyan = build_strategy("bulyan", clients=11, f=2)
    assert isinstance(bulyan, fs.Bulyan) and bulyan.num_malicious_nodes == 2
    assert isinstance(build_strategy("median", clients=5, f=2), fs.FedMedian)
    for s in (krum, multi, trimmed, bulyan):
        assert s.min_available_nodes == s.min_train_nodes == s.fraction_train * s.min_train_nodes  # every client


def test_client_dp_wraps_and_accounts_only_a_mean() -> None:
    from flwr.serverapp import strategy as fs

    dp = ClientDP(noise_multiplier=1.0, clip=0.5)
    avg = build_strategy("fedavg", clients=5, f=1, client_dp=dp)
    assert isinstance(avg, fs.DifferentialPrivacyServerSideFixedClipping)
    assert avg.accountant is not None and avg.clipping_norm == 0.5
    median = build_strategy("median", clients=5, f=1, client_dp=dp)
    assert median.accountant is None  # type: ignore[attr-defined]
    client = build_strategy("fedavg", clients=5, f=1, client_dp=ClientDP(1.0, 0.5, side="client"))
    assert isinstance(client, fs.DifferentialPrivacyClientSideFixedClipping)


@pytest.mark.parametrize(("kwargs", "option"), [
    ({"noise_multiplier": -1, "clip": 1}, "--client-dp-noise"), ({"noise_multiplier": 1, "clip": 0}, "--clip"),
    ({"noise_multiplier": 1, "clip": 1, "side": "both"}, "--client-dp-side"),
])
def test_client_dp_validates(kwargs: dict[str, object], option: str) -> None:
    with pytest.raises(ConfigError, match=option):
        ClientDP(**kwargs)  # type: ignore[arg-type]


def test_names_are_stable() -> None:
    assert [s.value for s in StrategyName] == ["fedavg", "krum", "multi-krum", "median", "trimmed-mean", "bulyan"]
