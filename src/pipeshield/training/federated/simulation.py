"""``simulate``: N clients train one model with Flower, some of them malicious, and the global
model is measured after every round (accuracy, and the attack's own success).

    >>> result = simulate(build_model, x, y, x_test, y_test, clients=10, rounds=5,
    ...                   strategy="median", malicious=0.2, attack="scaled", seed=0)  # doctest: +SKIP
    >>> result.accuracy, result.attack["malicious_clients"]  # doctest: +SKIP
    (0.93, [2, 7])

The strategy is Flower's own (see :mod:`.strategies`), run by Flower's Simulation Engine on Ray
(``engine="ray"``, what the CLI uses) or by an in-process grid (``engine="inprocess"``); both
drive the same strategy objects and the same ``ClientApp``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeshield.attacks.triggers import Trigger
from pipeshield.errors import ConfigError
from pipeshield.training.federated._flower import quiet_flower, require_flwr
from pipeshield.training.federated.clients import (
    ClientSetup,
    LocalTraining,
    ModelFactory,
    from_arrays,
    make_client_app,
    predict,
    to_arrays,
)
from pipeshield.training.federated.engines import ENGINES, run_inprocess, run_ray
from pipeshield.training.federated.malicious import (
    AttackKind,
    AttackPlan,
    attack_success,
    plan_attack,
)
from pipeshield.training.federated.partitions import partition
from pipeshield.training.federated.strategies import (
    ClientDP,
    StrategyName,
    build_strategy,
    check_preconditions,
    strategy_name,
    strict,
)

if TYPE_CHECKING:
    import torch
    from flwr.app import ArrayRecord, MetricRecord
    from flwr.serverapp import Grid
    from flwr.serverapp.strategy import Strategy

__all__ = ["FederatedResult", "Federation", "Job", "default_f", "prepare", "run_jobs", "simulate"]


@dataclass(frozen=True)
class FederatedResult:
    """One federated run, measured on the held-out test data after every round.

    ``accuracy_per_round[0]`` is the initial model's. ``attack_success`` is the planned attack's
    own measure (backdoor: triggered rows sent to the target; label-flip: rows predicted as their
    flipped label) — on an honest run of a comparison it is the baseline of that measure on a model
    nobody attacked; ``None`` for the untargeted ``scaled`` attack (compare ``accuracy`` with the
    honest run) and when no attack is planned.
    """

    strategy: str
    clients: int
    rounds: int
    assumed_malicious: int
    accuracy_per_round: tuple[float, ...]
    attack_success_per_round: tuple[float | None, ...]
    attack: dict[str, Any]
    client_dp: dict[str, Any] | None
    partition: str
    engine: str
    seconds: float
    settings: dict[str, Any]
    model: torch.nn.Module | None = field(default=None, compare=False, repr=False)

    @property
    def accuracy(self) -> float:
        return self.accuracy_per_round[-1]

    @property
    def attack_success(self) -> float | None:
        return self.attack_success_per_round[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "clients": self.clients, "rounds": self.rounds,
            "assumed_malicious": self.assumed_malicious, "accuracy": round(self.accuracy, 6),
            "attack_success": None if self.attack_success is None else round(self.attack_success, 6),
            "accuracy_per_round": [round(a, 6) for a in self.accuracy_per_round],
            "attack_success_per_round": [None if a is None else round(a, 6) for a in self.attack_success_per_round],
            "attack": self.attack, "client_dp": self.client_dp, "partition": self.partition, "engine": self.engine,
            "seconds": round(self.seconds, 3), "settings": self.settings,
        }


@dataclass(frozen=True)
class Job:
    """One run inside a simulation: a rule, its ``f``, optional client DP, attack on or off."""

    strategy: StrategyName
    f: int
    client_dp: ClientDP | None
    attacked: bool


@dataclass(frozen=True)
class Federation:
    """The validated inputs every run of one simulation shares."""

    setup: ClientSetup
    x_test: np.ndarray
    y_test: np.ndarray
    clients: int
    rounds: int
    partition: str
    engine: str
    ray_cpus: int
    seed: int


def prepare(
    build_model: ModelFactory, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *,
    clients: int, rounds: int, malicious: float, attack: AttackKind | str | None,
    malicious_clients: tuple[int, ...] | None, boost: float | None, target: int, poison_rate: float,
    trigger: Trigger | None, client_side_clipping: bool, partition_scheme: str, alpha: float,
    local: LocalTraining | None, engine: str, ray_cpus: int, seed: int,
) -> Federation:
    """Check the inputs (a usage error raises :class:`ConfigError`), split the data, plan the attack."""
    require_flwr()
    if rounds < 1:
        raise ConfigError(f"--rounds: at least one round is needed (got {rounds})")
    if clients < 2:
        raise ConfigError(f"--clients: federated training needs at least 2 clients (got {clients})")
    if engine not in ENGINES:
        raise ConfigError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)
    x_test, y_test = np.asarray(x_test, dtype=np.float32), np.asarray(y_test, dtype=np.int64)
    if len(x) != len(y) or len(x_test) != len(y_test) or len(x_test) == 0:
        raise ConfigError("federated training needs labelled training and test data of matching lengths")
    n_classes = int(max(y.max(), y_test.max())) + 1
    plan = plan_attack(clients=clients, malicious=malicious, attack=attack, n_classes=n_classes, x=x, boost=boost,
                       target=target, poison_rate=poison_rate, trigger=trigger, malicious_clients=malicious_clients,
                       seed=seed)
    parts = partition(y, clients, scheme=partition_scheme, alpha=alpha, seed=seed)
    setup = ClientSetup(build_model, x, y, tuple(parts), plan, local or LocalTraining(),
                        client_side_clipping=client_side_clipping, seed=seed)
    label = partition_scheme if partition_scheme == "iid" else f"dirichlet(alpha={alpha:g})"
    return Federation(setup, x_test, y_test, clients, rounds, label, engine, ray_cpus, seed)


def default_f(plan: AttackPlan, clients: int) -> int:
    """The ``f`` a robust rule assumes unless told: the number of malicious clients, or 20% of the
    clients for an honest run (so an honest and an attacked run use the same rule)."""
    return len(plan.malicious) or round(0.2 * clients)


def simulate(
    build_model: ModelFactory,
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    clients: int = 10,
    rounds: int = 5,
    strategy: StrategyName | str = "fedavg",
    malicious: float = 0.0,
    attack: AttackKind | str | None = "scaled",
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
) -> FederatedResult:
    """Train ``build_model()`` federatedly on ``(x, y)`` split among ``clients``; see the module doc.

    ``x`` rows are in the model's input shape; ``y`` are class indices ``0..C-1``. ``malicious``
    is the fraction of malicious clients (chosen with ``seed``, or exactly ``malicious_clients``);
    ``assumed_malicious`` is the ``f`` the robust rule is configured for (default
    :func:`default_f`). Usage errors (too few clients for the rule, a malicious fraction of 0.5 or
    more, no rounds) raise :class:`ConfigError` before anything trains.
    """
    name = strategy_name(strategy)
    fed = prepare(build_model, x, y, x_test, y_test, clients=clients, rounds=rounds, malicious=malicious,
                  attack=attack, malicious_clients=malicious_clients, boost=boost, target=target,
                  poison_rate=poison_rate, trigger=trigger,
                  client_side_clipping=client_dp is not None and client_dp.side == "client",
                  partition_scheme=partition_scheme, alpha=alpha, local=local, engine=engine, ray_cpus=ray_cpus,
                  seed=seed)
    f = assumed_malicious if assumed_malicious is not None else default_f(fed.setup.plan, clients)
    check_preconditions(name, clients, f)
    return run_jobs(fed, [Job(name, f, client_dp, attacked=True)], progress)[0]




def run_jobs(fed: Federation, jobs: list[Job], progress: Callable[[int, int], None] | None = None,
             ) -> list[FederatedResult]:
    """Run every job, one after another, in *one* simulation (one Ray start for all of them)."""
    import torch
    from flwr.app import ConfigRecord

    from pipeshield.training.federated.malicious import ATTACK_KEY

    total = len(jobs) * fed.rounds
    done = [0]
    plan = fed.setup.plan
    outcomes: list[tuple[Job, list[tuple[float, float | None]], ArrayRecord, Strategy, float]] = []

    def run_one(grid: Grid, job: Job) -> None:
        torch.manual_seed(fed.seed)
        model = fed.setup.build_model()
        with quiet_flower():  # FedAvg warns that client-side evaluation is off: the server evaluates
            wrapped = build_strategy(job.strategy, clients=fed.clients, f=job.f, client_dp=job.client_dp)
        curve: list[tuple[float, float | None]] = []

        def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
            from flwr.app import MetricRecord

            from_arrays(model, arrays)
            acc = float(np.mean(predict(model, fed.x_test) == fed.y_test))
            asr = attack_success(plan, lambda rows: predict(model, rows), fed.x_test, fed.y_test)
            curve.append((acc, asr))
            if server_round > 0:
                done[0] += 1
                if progress is not None:
                    progress(done[0], total)
            values: dict[str, int | float | list[int] | list[float]] = {"accuracy": acc}
            if asr is not None:
                values["attack-success"] = asr
            return MetricRecord(values)

        started = time.perf_counter()
        result = strict(wrapped, fed.clients).start(
            grid=grid, initial_arrays=to_arrays(model), num_rounds=fed.rounds, evaluate_fn=evaluate,
            train_config=ConfigRecord({ATTACK_KEY: int(job.attacked)}),
        )
        outcomes.append((job, curve, result.arrays, wrapped, time.perf_counter() - started))

    def server_main(grid: Grid) -> None:
        for job in jobs:
            run_one(grid, job)

    app = make_client_app(fed.setup)
    with _cheap_full_collections():
        if fed.engine == "ray":
            run_ray(server_main, app, fed.clients, ray_cpus=fed.ray_cpus)
        else:
            run_inprocess(server_main, app, fed.clients)
    if len(outcomes) != len(jobs):
        raise RuntimeError(f"the simulation finished {len(outcomes)} of {len(jobs)} runs")
    return [_result(fed, *outcome) for outcome in outcomes]


@contextmanager
def _cheap_full_collections() -> Iterator[None]:
    """Flower's Bulyan reads each selected reply with ``ArrayRecord.to_numpy_ndarrays(keep_input=False)``,
    which calls ``gc.collect()`` every time. In a process that holds torch, scikit-learn and a
    pipeline, one full collection costs about a quarter of a second: 55 of the demo trade-off's 150
    federated seconds. Objects alive now are moved to the permanent generation (``gc.freeze``), so
    those collections scan only what the simulation itself allocates; they are unfrozen after."""
    import gc

    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _result(fed: Federation, job: Job, curve: list[tuple[float, float | None]], arrays: ArrayRecord,
            wrapped: Strategy, seconds: float) -> FederatedResult:
    if len(curve) != fed.rounds + 1:
        raise RuntimeError(f"the federated run ended after {max(0, len(curve) - 1)} of {fed.rounds} rounds")
    model = from_arrays(fed.setup.build_model(), arrays)
    local = fed.setup.local
    attack = fed.setup.plan.to_dict() if job.attacked else {"attack": None, "malicious_clients": []}
    return FederatedResult(
        strategy=job.strategy.value, clients=fed.clients, rounds=fed.rounds, assumed_malicious=job.f,
        accuracy_per_round=tuple(a for a, _ in curve), attack_success_per_round=tuple(s for _, s in curve),
        attack=attack, client_dp=_dp_info(job, wrapped), partition=fed.partition, engine=fed.engine,
        seconds=seconds, settings={"local_epochs": local.epochs, "batch_size": local.batch_size, "lr": local.lr,
                                   "momentum": local.momentum, "seed": fed.seed, "flower": _flower_version()},
        model=model,
    )


def _dp_info(job: Job, wrapped: Strategy) -> dict[str, Any] | None:
    dp = job.client_dp
    if dp is None:
        return None
    privacy_spent = getattr(wrapped, "privacy_spent", None)
    spent = privacy_spent() if privacy_spent is not None else None
    if spent is not None:
        how = "Flower RdpAccountant, client level, no sampling amplification (every client every round)"
    elif dp.noise_multiplier > 0:
        how = (f"not accounted: the noise is calibrated for a mean of clipped updates, and {job.strategy.value} "
               "is not a mean (use --strategy fedavg for an epsilon)")
    else:
        how = "no noise: clipping only, no privacy guarantee"
    return {"noise_multiplier": dp.noise_multiplier, "clip": dp.clip, "side": dp.side, "delta": dp.delta,
            "epsilon": None if spent is None else float(spent.epsilon), "accounting": how}


def _flower_version() -> str:
    from importlib.metadata import version

    return version("flwr")
