"""Federated learning with Flower: N simulated clients, robust aggregation, client-level DP and
simulated malicious clients, each run measured (global accuracy, attack success per strategy).

    >>> from pipeshield.training.federated import simulate
    >>> r = simulate(build_model, x, y, x_test, y_test, clients=10, rounds=5, strategy="krum",
    ...              malicious=0.2, attack="scaled", seed=0)  # doctest: +SKIP

Flower (``flwr``) is the optional extra ``pipeshield[train]``; nothing here imports it until it is
used, and a missing install raises a :class:`~pipeshield.errors.ConfigError` naming
``pip install 'pipeshield[train]'``. :mod:`.apps` holds the ``ServerApp`` / ``ClientApp`` for
running the server and the clients on separate hosts (``flwr run`` with SuperLink/SuperNodes).
"""

from __future__ import annotations

from pipeshield._lazy import lazy_getattr

__all__ = [
    "AttackKind",
    "AttackPlan",
    "ClientDP",
    "Comparison",
    "FederatedResult",
    "LocalTraining",
    "StrategyName",
    "check_preconditions",
    "compare",
    "minimum_clients",
    "partition",
    "simulate",
]

__getattr__ = lazy_getattr(__name__, {
    "AttackKind": "malicious",
    "AttackPlan": "malicious",
    "ClientDP": "strategies",
    "Comparison": "comparison",
    "FederatedResult": "simulation",
    "LocalTraining": "clients",
    "StrategyName": "strategies",
    "check_preconditions": "strategies",
    "compare": "comparison",
    "minimum_clients": "strategies",
    "partition": "partitions",
    "simulate": "simulation",
})


def __dir__() -> list[str]:
    return sorted(__all__)
