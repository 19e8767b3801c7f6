"""Every training run's signed provenance: the recipe, its hyperparameters and the guarantee it
claims (a privacy budget, a robustness target, an aggregation rule), in the SLSA statement that
:func:`pipeshield.integrity.provenance.attest` writes and ``pipeshield verify`` checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeshield.integrity.provenance import AttestResult, attest

__all__ = ["RECIPES", "record_training"]

#: The recipes that write models, as named in the attestation's ``externalParameters.recipe``.
RECIPES = ("dp-sgd", "dp-logistic-regression", "pgd-adversarial", "trades", "sanitize-then-train",
           "loss-trimming", "federated")


def record_training(
    model: Path | str,
    *,
    key: Path | str,
    recipe: str,
    datasets: Sequence[Path | str] = (),
    base_models: Sequence[Path | str] = (),
    hyperparameters: Mapping[str, Any] | None = None,
    guarantee: Mapping[str, Any] | None = None,
    passphrase: str | None = None,
) -> AttestResult:
    """Sign ``model``'s provenance (written to ``MODEL.provenance.sig``)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r} (known: {', '.join(RECIPES)})")
    return attest(
        model, key=key, datasets=datasets, base_models=base_models, params=hyperparameters,
        passphrase=passphrase, builder_id=f"urn:pipeshield:builder:train:{recipe}",
        recipe=recipe, guarantee=dict(guarantee or {}),
    )
