"""Targets: one protocol over every kind of model, so each attack is written once.

``predict_proba(x)`` works for every target (torch, scikit-learn, ONNX, an HTTP endpoint); white-box
targets (torch) add ``logits(x)``, ``input_gradient(x, y)`` and the underlying ``module``.
Loaders register themselves per file format; :func:`load_target` picks one from the pipeline.

    >>> target = load_target(pipeline, "digits_cnn")      # doctest: +SKIP
    >>> target.predict_proba(x[:4]).shape
    (4, 10)
"""

from __future__ import annotations

from pipeshield.core.targets.base import (
    Target,
    WhiteBoxTarget,
    load_endpoint_target,
    load_target,
    register_loader,
)

__all__ = ["Target", "WhiteBoxTarget", "load_endpoint_target", "load_target", "register_loader"]
