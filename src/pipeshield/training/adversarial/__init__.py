"""Adversarial training: PGD (Madry et al. 2018) and TRADES (Zhang et al. 2019) on the evasion
engine's own attacks, measured by the full evasion assessment with its gradient-masking checks.

- :func:`adversarial_train` trains your ``nn.Module`` on arrays, tensors or a DataLoader;
  :func:`plain_train` is the same loop without attacks (the baseline and the cost reference).
- :func:`train_pipeline_model` retrains a pipeline model from its builder, evaluates it on its
  ``test_data`` as the ``attacks.evasion`` audit check does, and writes it with a signed
  provenance whose ``guarantee`` holds the measured numbers (``pipeshield train adversarial``).

    >>> from pipeshield.training.adversarial import adversarial_train
    >>> model, history = adversarial_train(model, x, y, method="trades", eps=0.1, clip=(0.0, 1.0))  # doctest: +SKIP

A robust accuracy measured after training is an upper bound from the attacks that were run; a
masking check that flags means the number may be a false assurance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeshield._lazy import lazy_getattr

__all__ = [
    "AdversarialConfig",
    "EpochStats",
    "PipelineTraining",
    "TrainingHistory",
    "TrainingResult",
    "adversarial_train",
    "evaluate_trained",
    "plain_train",
    "train_pipeline_model",
]

_LAZY = {
    "AdversarialConfig": "recipe", "EpochStats": "recipe", "TrainingHistory": "recipe",
    "TrainingResult": "recipe", "adversarial_train": "recipe", "plain_train": "recipe",
    "PipelineTraining": "pipeline", "evaluate_trained": "pipeline", "train_pipeline_model": "pipeline",
}

__getattr__ = lazy_getattr(__name__, _LAZY)

if TYPE_CHECKING:
    from pipeshield.training.adversarial.pipeline import (
        PipelineTraining,
        evaluate_trained,
        train_pipeline_model,
    )
    from pipeshield.training.adversarial.recipe import (
        AdversarialConfig,
        EpochStats,
        TrainingHistory,
        TrainingResult,
        adversarial_train,
        plain_train,
    )
