"""``pipeshield train federated`` as a library call: a pipeline model retrained by simulated
federated clients, written with its signed provenance (recipe ``federated``), or every
aggregation rule compared on it.

    >>> run = train_federated("pipeshield.toml", "digits_cnn", key=".private/signing.key",
    ...                       strategy="median", clients=10, rounds=5)  # doctest: +SKIP
    >>> run.out, run.result.accuracy  # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeshield.errors import ConfigError
from pipeshield.training.federated.comparison import Comparison, compare
from pipeshield.training.federated.simulation import FederatedResult, simulate
from pipeshield.training.federated.strategies import ClientDP, StrategyName

__all__ = ["FederatedTraining", "compare_pipeline", "train_federated"]


@dataclass(frozen=True)
class FederatedTraining:
    """The written model, its attestation, and the run that produced it."""

    model: str
    out: Path
    provenance: Path
    result: FederatedResult

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "out": str(self.out), "provenance": str(self.provenance), **self.result.to_dict()}


def _inputs(pipeline: Path | str, model: str) -> tuple[Any, Any, Callable[[], Any]]:
    from pipeshield.core.pipeline import load_pipeline
    from pipeshield.training._common import build_module, model_data

    pipe = load_pipeline(pipeline)
    data = model_data(pipe, model)
    if data.x_test is None or data.y_test is None:
        raise ConfigError(f"{pipe.source}: models.{model}.test_data: federated training measures the global model "
                          "on the model's labelled test data; add test_data")
    build_module(pipe, model)  # a model without a builder is refused here, before anything trains
    return pipe, data, functools.partial(_build, pipe, model)


def _build(pipe: Any, model: str) -> Any:
    from pipeshield.training._common import build_module

    return build_module(pipe, model)


def train_federated(
    pipeline: Path | str,
    model: str,
    *,
    key: Path | str | None,
    out: Path | None = None,
    passphrase: str | None = None,
    strategy: StrategyName | str = "fedavg",
    client_dp: ClientDP | None = None,
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> FederatedTraining:
    """Simulate the federation (``options``: :func:`~.simulation.simulate`'s keywords) on the
    model's ``train_data``, measure on its ``test_data``, and write the global model to ``out``
    (default ``models/NAME.federated.safetensors``) with its signed provenance. The key is checked
    before training; a usage error leaves no file behind."""
    from pipeshield.training._common import check_signing_key, default_output, write_trained

    pipe, data, build = _inputs(pipeline, model)
    key_path = check_signing_key(key, passphrase)
    target = out or default_output(pipe, model, "federated")
    result = simulate(build, data.shaped(data.x), data.y, data.shaped(data.x_test), data.y_test, strategy=strategy,
                      client_dp=client_dp, progress=progress, **options)
    assert result.model is not None
    attest = write_trained(
        result.model, target, key=key_path, recipe="federated", datasets=data.dataset_paths, passphrase=passphrase,
        hyperparameters={"rounds": result.rounds, "partition": result.partition, "engine": result.engine,
                         **result.settings},
        guarantee={"strategy": result.strategy, "clients": result.clients,
                   "assumed_malicious": result.assumed_malicious, "client_dp": result.client_dp,
                   "simulated_attack": result.attack, "test_accuracy": round(result.accuracy, 6),
                   "attack_success": result.attack_success,
                   "note": "robust aggregation bounds the influence of up to assumed_malicious clients per round; "
                           "it is not secure aggregation (the server sees every update)"},
    )
    return FederatedTraining(model, target, attest.path, result)


def compare_pipeline(
    pipeline: Path | str, model: str, *, progress: Callable[[int, int], None] | None = None, **options: Any,
) -> Comparison:
    """Every rule, honest and attacked, on the pipeline model (writes nothing)."""
    _, data, build = _inputs(pipeline, model)
    return compare(build, data.shaped(data.x), data.y, data.shaped(data.x_test), data.y_test, progress=progress,
                   **options)
