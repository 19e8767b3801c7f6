"""Adversarially train a pipeline model, measure it with the full evasion assessment, and write it
with its signed provenance: what ``pipeshield train adversarial`` runs.

The threat model comes from the pipeline: epsilon and norm default to the policy's
``attacks.evasion`` settings, and the attacks keep to the test dataset's declared domain during
training as during the evaluation (one :func:`~pipeshield.attacks.evasion.check.attack_domain`).
The evaluation is the audit check's own white-box assessment on the model's held-out
``test_data`` - FGSM, PGD and APGD at every epsilon of the grid plus the gradient-masking checks -
and its numbers become the provenance's ``guarantee``.

    >>> key = ".private/demo-signing.key"
    >>> result = train_pipeline_model("pipeshield.toml", "digits_cnn", key=key)  # doctest: +SKIP
    >>> result.guarantee["robust_accuracy"], result.guarantee["masking"]  # doctest: +SKIP
    (0.844, 'clean')
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeshield.core.checks import CheckContext
from pipeshield.errors import ConfigError
from pipeshield.training.adversarial.recipe import (
    AdversarialConfig,
    EpochStats,
    TrainingHistory,
    adversarial_train,
    check_eps,
    plain_train,
)

if TYPE_CHECKING:
    import torch

    from pipeshield.attacks.evasion.check import EvasionReport, EvasionSettings
    from pipeshield.attacks.evasion.domain import Domain
    from pipeshield.core.pipeline import Pipeline
    from pipeshield.core.targets.base import Target
    from pipeshield.training._common import ModelData

__all__ = ["PipelineTraining", "evaluate_trained", "train_pipeline_model"]

PLAIN_EPOCHS = 3  # plain epochs timed for the overhead ratio (the median of them)


@dataclass(frozen=True)
class PipelineTraining:
    """What a run did: the file written, the training history, the plain-training time per
    epoch it is compared with, the evasion report (None with ``evaluate=False``) and the
    guarantee recorded in the provenance."""

    model: str
    out: Path
    provenance: Path
    history: TrainingHistory
    plain_seconds_per_epoch: float
    report: EvasionReport | None
    settings: EvasionSettings
    guarantee: dict[str, Any]

    @property
    def overhead(self) -> float:
        """Adversarial / plain seconds per epoch (medians)."""
        return self.history.seconds_per_epoch / self.plain_seconds_per_epoch

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model, "out": str(self.out), "provenance": str(self.provenance),
            "recipe": self.history.config.recipe, "guarantee": self.guarantee,
            "seconds_per_epoch": round(self.history.seconds_per_epoch, 4),
            "plain_seconds_per_epoch": round(self.plain_seconds_per_epoch, 4),
            "overhead": round(self.overhead, 3), "history": self.history.to_dict(),
        }
        if self.report is not None:
            out["evaluation"] = self.report.to_dict()
        return out


class _TrainedContext(CheckContext):
    """The audit's check context with one model replaced by the freshly trained module."""

    def __init__(self, pipeline: Pipeline, settings: Any, seed: int, name: str, target: Target) -> None:
        super().__init__(pipeline, settings, seed=seed)
        self._name, self._trained = name, target

    def target(self, model: str) -> Target:
        return self._trained if model == self._name else super().target(model)


def evaluate_trained(
    pipeline: Pipeline, name: str, module: torch.nn.Module, settings: EvasionSettings, *, seed: int = 0,
    classes: np.ndarray | None = None,
) -> EvasionReport:
    """The ``attacks.evasion`` check's white-box assessment of ``module`` as pipeline model ``name``,
    on its test data, with the masking checks (a copy of the module is attacked)."""
    from pipeshield.attacks.evasion.check import assess_model
    from pipeshield.core.targets.torch import TorchTarget

    spec = pipeline.models[name]
    target = TorchTarget(name, copy.deepcopy(module), input_shape=spec.input_shape, classes=classes)
    return assess_model(_TrainedContext(pipeline, settings, seed, name, target), name, settings)


def _domain(ctx: CheckContext, md: ModelData, s: EvasionSettings) -> Domain:
    """The evaluation's domain; without test data, the training set's declared domain (or none)."""
    from pipeshield.attacks.evasion.check import attack_domain
    from pipeshield.attacks.evasion.domain import Domain

    pipe = ctx.pipeline
    spec = pipe.models[md.model]
    if spec.test_data is not None:
        domain = attack_domain(ctx, md.model, s)
    else:
        assert spec.train_data is not None
        declared = pipe.datasets[spec.train_data].domain
        names = [f"x{i}" for i in range(int(np.prod(md.x.shape[1:])))]
        domain = Domain.from_spec(declared, names, f"datasets.{spec.train_data}.domain", default_clip=s.clip)
    assert spec.train_data is not None
    domain.check(md.x.reshape(len(md.x), -1), f"datasets.{spec.train_data}")
    return domain


def _guarantee(report: EvasionReport | None, s: EvasionSettings, test_data: str | None) -> dict[str, Any]:
    g: dict[str, Any] = {"norm": s.norm, "eps": s.eps}
    if report is None:
        return {**g, "robust_accuracy": None, "masking": "not evaluated", "evaluated_on": None}
    a = report.assessment
    flagged = [r.name for r in report.masking if r.flagged]
    robust, clean = a.ensemble_at(s.eps), a.clean_accuracy
    return {
        **g,
        "eps_units": str(a.settings.get("domain", {}).get("units", "absolute")),
        "robust_accuracy": None if math.isnan(robust) else round(robust, 6),
        "clean_accuracy": None if math.isnan(clean) else round(clean, 6),
        "masking": "clean" if not flagged else flagged,
        "evaluated_on": test_data,
        "n_inputs": a.n_inputs,
        "budget": a.settings.get("budget"),
        "attacks": list(a.settings.get("attacks", [])),
        "min_robust_accuracy": s.min_robust_accuracy,
    }


def train_pipeline_model(
    pipeline_file: Path | str,
    name: str,
    *,
    key: Path | str | None,
    passphrase: str | None = None,
    method: str = "pgd",
    norm: str | None = None,
    eps: float | None = None,
    steps: int = 10,
    step_size: float | None = None,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 2e-3,
    beta: float = 6.0,
    seed: int = 0,
    out: Path | None = None,
    evaluate: bool = True,
    budget: str | None = None,
    on_epoch: Callable[[str, EpochStats], None] | None = None,
) -> PipelineTraining:
    """Retrain ``models.NAME`` from its builder on its ``train_data`` with PGD or TRADES, evaluate it
    on its ``test_data`` (unless ``evaluate=False``), and write it and its signed provenance.

    Everything that can be refused (the model, its builder and data, epsilon against the domain,
    the signing key) is checked before training starts; nothing is written on failure.
    ``on_epoch(phase, stats)`` reports progress (``phase`` is ``"plain"`` or ``"adversarial"``).
    """
    from pipeshield.attacks.evasion.check import EvasionCheck, EvasionSettings
    from pipeshield.core.checks import check_settings
    from pipeshield.core.pipeline import load_pipeline
    from pipeshield.training._common import (
        build_module,
        check_signing_key,
        default_output,
        model_data,
        write_trained,
    )

    pipe = load_pipeline(pipeline_file)
    if name not in pipe.models:
        known = ", ".join(pipe.models) or "none"
        raise ConfigError(f"--model: no model named {name!r} in {pipe.source} (models: {known})")
    policy = check_settings(EvasionCheck(), pipe)
    assert isinstance(policy, EvasionSettings)
    update: dict[str, Any] = {"samples": 0}
    for field, value in (("norm", norm), ("eps", eps), ("budget", budget)):
        if value is not None:
            update[field] = value
    settings = policy.model_copy(update=update)
    cfg = AdversarialConfig(method, settings.norm, float(settings.eps), steps, step_size, epochs, batch_size, lr,
                            beta, seed)
    if cfg.method not in ("pgd", "trades"):
        raise ConfigError(f"--method: unknown method {method!r} (choose pgd or trades)")
    spec = pipe.models[name]
    if evaluate:
        reason = EvasionCheck().skip_reason(pipe, name)
        if reason:
            raise ConfigError(f"--evaluate: {reason}: the evaluation needs labelled held-out data",
                              hint="add test_data to the model, or pass --no-evaluate")
    md = model_data(pipe, name)
    import torch

    torch.manual_seed(seed)  # the builder's initial weights: a run is reproducible from its seed
    module = build_module(pipe, name)
    ctx = CheckContext(pipe, settings, seed=seed)
    domain = _domain(ctx, md, settings)
    check_eps(cfg.eps, cfg.norm, domain.lo, domain.hi)
    key_path = check_signing_key(key, passphrase)
    target = out if out is not None else default_output(pipe, name, cfg.recipe)

    from pipeshield.attacks.evasion.domain import scaled_module

    x = domain.to_units(md.shaped(md.x))
    baseline = copy.deepcopy(module)
    plain = plain_train(scaled_module(baseline, domain), x, md.y, epochs=min(PLAIN_EPOCHS, epochs),
                        batch_size=batch_size, lr=lr, seed=seed,
                        on_epoch=None if on_epoch is None else (lambda e: on_epoch("plain", e)))
    _, history = adversarial_train(
        scaled_module(module, domain), x, md.y, method=cfg.method, norm=cfg.norm, eps=cfg.eps, steps=steps,
        step_size=step_size, epochs=epochs, batch_size=batch_size, lr=lr, beta=beta, seed=seed, domain=domain,
        on_epoch=None if on_epoch is None else (lambda e: on_epoch("adversarial", e)),
    )
    report = evaluate_trained(pipe, name, module, settings, seed=seed, classes=md.classes) if evaluate else None
    guarantee = _guarantee(report, settings, spec.test_data)
    hyper = {**cfg.to_dict(), "domain": domain.to_dict()}
    attested = write_trained(module, target, key=key_path, recipe=cfg.recipe, datasets=md.dataset_paths,
                             hyperparameters=hyper, guarantee=guarantee, passphrase=passphrase)
    return PipelineTraining(name, target, attested.path,
                            history, plain.history.seconds_per_epoch, report, settings, guarantee)
