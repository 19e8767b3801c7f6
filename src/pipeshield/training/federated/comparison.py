"""Every aggregation rule against the same clients, the same seed and the same attack: the
global model's accuracy with all clients honest, its accuracy under attack, and the attack's
success. All the runs share one simulation (one Ray start).

A rule whose precondition fails for this client count (e.g. Bulyan with f=2 and 10 clients) gets
a row saying so instead of a number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from pipeshield.attacks.triggers import Trigger
from pipeshield.errors import ConfigError
from pipeshield.training.federated.clients import LocalTraining, ModelFactory
from pipeshield.training.federated.malicious import AttackKind
from pipeshield.training.federated.simulation import (
    FederatedResult,
    Job,
    default_f,
    prepare,
    run_jobs,
)
from pipeshield.training.federated.strategies import (
    ClientDP,
    StrategyName,
    minimum_clients,
    strategy_name,
)

__all__ = ["Comparison", "ComparisonRow", "compare"]


@dataclass(frozen=True)
class ComparisonRow:
    """One rule: honest run, attacked run (``None`` when ``skipped`` says why). The honest run's
    ``attack_success`` is the same measure on a model nobody attacked: the baseline to read the
    attacked figure against (a clean model sends some triggered digits to the target anyway)."""

    strategy: str
    honest: FederatedResult | None
    attacked: FederatedResult | None
    skipped: str | None = None

    @property
    def accuracy_drop(self) -> float | None:
        if self.honest is None or self.attacked is None:
            return None
        return self.honest.accuracy - self.attacked.accuracy

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "honest_accuracy": None if self.honest is None else round(self.honest.accuracy, 6),
            "attacked_accuracy": None if self.attacked is None else round(self.attacked.accuracy, 6),
            "accuracy_drop": None if self.accuracy_drop is None else round(self.accuracy_drop, 6),
            "attack_success": None if self.attacked is None or self.attacked.attack_success is None
            else round(self.attacked.attack_success, 6),
            "attack_success_if_honest": None if self.honest is None or self.honest.attack_success is None
            else round(self.honest.attack_success, 6),
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class Comparison:
    """One row per rule; ``attack`` is the ground truth (who was malicious, doing what)."""

    rows: tuple[ComparisonRow, ...]
    clients: int
    rounds: int
    assumed_malicious: int
    attack: dict[str, Any]
    seconds: float

    def row(self, strategy: StrategyName | str) -> ComparisonRow:
        name = strategy_name(strategy).value
        return next(r for r in self.rows if r.strategy == name)

    def to_dict(self) -> dict[str, Any]:
        return {"clients": self.clients, "rounds": self.rounds, "assumed_malicious": self.assumed_malicious,
                "attack": self.attack, "seconds": round(self.seconds, 3), "rows": [r.to_dict() for r in self.rows]}


def compare(
    build_model: ModelFactory,
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    strategies: Sequence[StrategyName | str] = tuple(StrategyName),
    clients: int = 10,
    rounds: int = 5,
    malicious: float = 0.2,
    attack: AttackKind | str = "scaled",
    assumed_malicious: int | None = None,
    malicious_clients: tuple[int, ...] | None = None,
    boost: float | None = None,
    target: int = 0,
    poison_rate: float = 0.5,
    trigger: Trigger | None = None,
    client_dp: ClientDP | None = None,
    partition_scheme: str = "iid",
    alpha: float = 0.5,
    local: LocalTraining | None = None,
    engine: str = "ray",
    ray_cpus: int = 2,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    honest_runs: Mapping[str, FederatedResult] | None = None,
) -> Comparison:
    """Run each rule twice (honest, attacked) with the same seed; see the module doc.

    ``honest_runs`` (rule name -> the honest run of another comparison with the same model, data,
    clients, rounds, local training and seed: the same model, since honest clients ignore the
    attack plan) skips those honest runs. Only the untargeted ``scaled`` attack may reuse them: the
    other attacks measure their own success on the honest model, which a reused run does not have.
    """
    import time

    names = [strategy_name(s) for s in strategies]
    if not names:
        raise ConfigError("--strategy: nothing to compare")
    if malicious <= 0 and not malicious_clients:
        raise ConfigError("--compare: measures rules under attack; give --malicious above 0 (e.g. 0.2)")
    reused = dict(honest_runs or {})
    if reused and str(attack) != "scaled":
        raise ConfigError(f"honest_runs: only the scaled attack can reuse honest runs; {attack} measures its own "
                          "success on the honest model")
    for name, run in reused.items():
        if (run.clients, run.rounds) != (clients, rounds):
            raise ConfigError(f"honest_runs[{name!r}]: {run.clients} clients, {run.rounds} rounds; this comparison "
                              f"has {clients} and {rounds}")
    fed = prepare(build_model, x, y, x_test, y_test, clients=clients, rounds=rounds, malicious=malicious,
                  attack=attack, malicious_clients=malicious_clients, boost=boost, target=target,
                  poison_rate=poison_rate, trigger=trigger,
                  client_side_clipping=client_dp is not None and client_dp.side == "client",
                  partition_scheme=partition_scheme, alpha=alpha, local=local, engine=engine,
                  ray_cpus=ray_cpus, seed=seed)
    f = assumed_malicious if assumed_malicious is not None else default_f(fed.setup.plan, clients)
    runnable = [n for n in names if clients >= minimum_clients(n, f)]
    jobs = [Job(n, f, client_dp, attacked) for n in runnable for attacked in (False, True)
            if attacked or n.value not in reused]
    started = time.perf_counter()
    results = iter(run_jobs(fed, jobs, progress)) if jobs else iter(())
    rows = []
    for n in names:
        if n in runnable:
            honest = (replace(reused[n.value], attack_success_per_round=(None,) * len(reused[n.value].accuracy_per_round))
                      if n.value in reused else next(results))
            rows.append(ComparisonRow(n.value, honest, next(results)))
        else:
            rows.append(ComparisonRow(n.value, None, None, skipped=(
                f"needs at least {minimum_clients(n, f)} clients for f={f}; have {clients}")))
    return Comparison(tuple(rows), clients, rounds, f, fed.setup.plan.to_dict(), time.perf_counter() - started)
