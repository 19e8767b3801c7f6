"""The aggregation rules, as Flower's own strategies, with their client-count preconditions checked
before anything trains.

Every strategy here samples *all* ``n`` clients each round and assumes at most ``f`` of them are
malicious (the defender's assumption, ``assumed_malicious``). The rules and what they need:

==============  =================================  ===========================================
name            Flower strategy                    precondition (n clients per round, f bad)
==============  =================================  ===========================================
fedavg          ``FedAvg``                         none (and no robustness: one client can
                                                   move the average anywhere)
krum            ``Krum(num_malicious_nodes=f)``    n >= 2f + 3 (Blanchard et al. 2017)
multi-krum      ``MultiKrum(f, n - f kept)``       n >= 2f + 3
median          ``FedMedian``                      n >= 2f + 1 (a majority is honest)
trimmed-mean    ``FedTrimmedAvg(beta)``            n >= 2f + 1; beta trims exactly f per side
bulyan          ``Bulyan(num_malicious_nodes=f)``  n >= 4f + 3 (El Mhamdi et al. 2018)
==============  =================================  ===========================================

Flower's Bulyan silently skips a round with too few replies and its trimmed mean raises only when
it aggregates; :func:`check_preconditions` refuses the configuration up front instead, with the
smallest client count that works and a strategy that would work with the clients you have.

Client-level differential privacy wraps the strategy in Flower's fixed-clipping wrappers
(``DifferentialPrivacyServerSideFixedClipping`` by default: the server clips, so a malicious client
cannot skip it; ``...ClientSideFixedClipping`` with the clients' ``fixedclipping_mod``). Flower's
privacy accountant only covers plain FedAvg with equal client weights, so an epsilon is reported
for ``fedavg`` only: the noise is calibrated to the *mean* of clipped updates, and a median or a
Krum selection does not have that sensitivity.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeshield.errors import ConfigError

if TYPE_CHECKING:
    from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
    from flwr.serverapp import Grid
    from flwr.serverapp.strategy import Strategy

__all__ = [
    "ClientDP",
    "StrategyName",
    "build_strategy",
    "check_preconditions",
    "minimum_clients",
    "strategy_name",
    "strict",
    "trimmed_mean_beta",
]

#: Equal client weights: the key clients report (always 1) when client-level DP needs a uniform mean.
UNIFORM_WEIGHT_KEY = "uniform-weight"


class StrategyName(enum.StrEnum):
    FEDAVG = "fedavg"
    KRUM = "krum"
    MULTI_KRUM = "multi-krum"
    MEDIAN = "median"
    TRIMMED_MEAN = "trimmed-mean"
    BULYAN = "bulyan"

    @property
    def robust(self) -> bool:
        return self is not StrategyName.FEDAVG


@dataclass(frozen=True)
class ClientDP:
    """Client-level DP (McMahan et al. 2018): clip each client's update to L2 norm ``clip``, add
    Gaussian noise of standard deviation ``noise_multiplier * clip / n`` to the aggregate.

    ``side="server"`` clips on the server (Flower's server-side wrapper), so it holds even when a
    client is malicious; ``"client"`` clips in the client's ``fixedclipping_mod`` (the server never
    sees an unclipped update, but a malicious client simply does not clip).
    """

    noise_multiplier: float
    clip: float
    side: str = "server"
    delta: float = 1e-5

    def __post_init__(self) -> None:
        if not self.noise_multiplier >= 0:
            raise ConfigError(f"--client-dp-noise: the noise multiplier must be >= 0 (got {self.noise_multiplier})")
        if not self.clip > 0:
            raise ConfigError(f"--clip: the clipping norm must be > 0 (got {self.clip})")
        if self.side not in ("server", "client"):
            raise ConfigError(f"--client-dp-side: 'server' or 'client' (got {self.side!r})")
        if not 0 < self.delta < 1:
            raise ConfigError(f"--delta: must be between 0 and 1, exclusive (got {self.delta})")


def minimum_clients(strategy: StrategyName | str, f: int) -> int:
    """The fewest clients per round for which ``strategy`` tolerates ``f`` malicious ones."""
    name = StrategyName(strategy)
    if name is StrategyName.FEDAVG:
        return 1
    if name in (StrategyName.KRUM, StrategyName.MULTI_KRUM):
        return 2 * f + 3
    if name is StrategyName.BULYAN:
        return 4 * f + 3
    return 2 * f + 1


def check_preconditions(strategy: StrategyName | str, clients: int, f: int) -> None:
    """Refuse a configuration the rule cannot defend, naming the fix."""
    name = strategy_name(strategy)
    if f < 0:
        raise ConfigError(f"--assumed-malicious: must be >= 0 (got {f})")
    need = minimum_clients(name, f)
    if clients >= need:
        return
    alternatives = [s.value for s in (StrategyName.MULTI_KRUM, StrategyName.KRUM, StrategyName.MEDIAN,
                                      StrategyName.TRIMMED_MEAN)
                    if s is not name and clients >= minimum_clients(s, f)]
    instead = f" or --strategy {alternatives[0]}" if alternatives else ""
    raise ConfigError(
        f"{name.value} with f={f} malicious needs at least {need} clients per round; you have {clients}: "
        f"use --clients {need}{instead}"
    )


def trimmed_mean_beta(clients: int, f: int) -> float:
    """The fraction FedTrimmedAvg cuts from each tail so that exactly ``f`` values go per side
    (``int(beta * n) == f``), kept below Flower's limit of 0.5."""
    return (f + 0.25) / clients


def strategy_name(strategy: StrategyName | str) -> StrategyName:
    """The rule named ``strategy``; an unknown name is a usage error listing the known ones."""
    try:
        return StrategyName(strategy)
    except ValueError:
        known = ", ".join(s.value for s in StrategyName)
        raise ConfigError(f"--strategy: unknown strategy {strategy!r} (known: {known})") from None


def build_strategy(
    strategy: StrategyName | str, *, clients: int, f: int, client_dp: ClientDP | None = None,
) -> Strategy:
    """Flower's strategy for ``strategy`` over ``clients`` clients tolerating ``f``, wrapped for
    client-level DP when asked. Centralised evaluation only (``fraction_evaluate=0``)."""
    from flwr.serverapp import strategy as fs

    name = strategy_name(strategy)
    check_preconditions(name, clients, f)
    common: dict[str, Any] = {
        "fraction_train": 1.0, "fraction_evaluate": 0.0, "min_train_nodes": clients,
        "min_available_nodes": clients,
        "weighted_by_key": UNIFORM_WEIGHT_KEY if client_dp is not None else "num-examples",
    }
    inner: Strategy
    if name is StrategyName.FEDAVG:
        inner = fs.FedAvg(**common)
    elif name is StrategyName.KRUM:
        inner = fs.Krum(num_malicious_nodes=f, **common)
    elif name is StrategyName.MULTI_KRUM:
        inner = fs.MultiKrum(num_malicious_nodes=f, num_nodes_to_select=clients - f, **common)
    elif name is StrategyName.MEDIAN:
        inner = fs.FedMedian(**common)
    elif name is StrategyName.TRIMMED_MEAN:
        inner = fs.FedTrimmedAvg(beta=trimmed_mean_beta(clients, f), **common)
    else:
        inner = fs.Bulyan(num_malicious_nodes=f, **common)
    if client_dp is None:
        return inner
    return _with_client_dp(inner, name, clients, client_dp)


def _with_client_dp(inner: Strategy, name: StrategyName, clients: int, dp: ClientDP) -> Strategy:
    from flwr.serverapp import NeighboringRelation, PrivacyConfig, RdpAccountant, SamplingMethod
    from flwr.serverapp import strategy as fs

    accountant = None
    if name is StrategyName.FEDAVG and dp.noise_multiplier > 0:
        accountant = RdpAccountant(PrivacyConfig(
            target_delta=dp.delta, population_size=clients,
            neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
            sampling_method=SamplingMethod.NO_AMPLIFICATION,
        ))
    wrapper = (fs.DifferentialPrivacyServerSideFixedClipping if dp.side == "server"
               else fs.DifferentialPrivacyClientSideFixedClipping)
    return wrapper(inner, dp.noise_multiplier, dp.clip, clients, accountant=accountant)


def strict(inner: Strategy, clients: int) -> Strategy:
    """A pass-through strategy that fails the run when a client's reply is an error or missing,
    instead of Flower's default of aggregating whatever arrived."""
    from flwr.serverapp.strategy import Strategy

    class Strict(Strategy):
        def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                            grid: Grid) -> Iterable[Message]:
            return inner.configure_train(server_round, arrays, config, grid)

        def aggregate_train(self, server_round: int,
                            replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
            replies = list(replies)
            errors = [m.error.reason for m in replies if m.has_error()]
            if errors or len(replies) != clients:
                raise RuntimeError(f"round {server_round}: {len(replies) - len(errors)} of {clients} clients replied; "
                                   f"client errors: {errors[:3]}")
            arrays, metrics = inner.aggregate_train(server_round, replies)
            if arrays is None:
                raise RuntimeError(f"round {server_round}: {type(inner).__name__} produced no model")
            return arrays, metrics

        def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                               grid: Grid) -> Iterable[Message]:
            return inner.configure_evaluate(server_round, arrays, config, grid)

        def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
            return inner.aggregate_evaluate(server_round, replies)

        def summary(self) -> None:
            inner.summary()

    return Strict()
