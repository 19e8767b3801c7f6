"""Poisoning-resistant training: sanitize-then-train with the data defences, and loss trimming.

- :func:`sanitize_then_train` -- scan the training rows with :mod:`pipeshield.data.poisoning`'s
  detectors (the ones ``pipeshield data poison-scan`` runs), drop or relabel what they flag, train.
  Works for any trainer ``fn(x, y) -> model``; the backdoor detectors need a torch model's
  activations, read from a probe model trained on the raw rows (also the undefended baseline).
- :func:`trimmed_train` -- iterative trimmed loss minimisation (Shen & Sanghavi 2019) for a torch
  module: after a warm-up, each epoch trains on the ``1 - trim`` rows with the smallest loss. Robust
  losses (:data:`LOSSES`: generalized and symmetric cross-entropy) plug into it and :func:`fit_module`.
- :func:`train_robust` -- the pipeline recipe behind ``pipeshield train robust``: retrain a model,
  measure clean accuracy (and a known backdoor's attack success rate) with and without the defence,
  write the model with its signed provenance.

Against label flips, trimming and sanitizing both help. Against a backdoor, only sanitizing does,
and only while the poison is a minority of its target class (see ``docs/benchmarks.md``).

    >>> from sklearn.base import clone
    >>> model, result = sanitize_then_train(x, y, lambda a, b: clone(estimator).fit(a, b),
    ...                                     detectors=["confident-learning"], action="relabel")  # doctest: +SKIP
"""

from __future__ import annotations

from pipeshield.training.robust.losses import LOSSES, per_sample_loss
from pipeshield.training.robust.recipe import (
    METHODS,
    Measured,
    RobustConfig,
    RobustRun,
    train_robust,
)
from pipeshield.training.robust.sanitize import (
    Cleaning,
    SanitizeResult,
    clean,
    sanitize_then_train,
    torch_features,
)
from pipeshield.training.robust.trimming import TrimResult, fit_module, trimmed_train

__all__ = [
    "LOSSES",
    "METHODS",
    "Cleaning",
    "Measured",
    "RobustConfig",
    "RobustRun",
    "SanitizeResult",
    "TrimResult",
    "clean",
    "fit_module",
    "per_sample_loss",
    "sanitize_then_train",
    "torch_features",
    "train_robust",
    "trimmed_train",
]
