"""Model inversion and attribute inference: what the model's answers give away about its data.

:func:`invert` reconstructs a representative input of a class with MI-Face (Fredrikson, Jha &
Ristenpart 2015), white-box through a torch module's gradients or black-box by finite differences
over ``predict_proba``; :func:`judge` has an independent model say whether the reconstructions
look like their classes. :func:`attribute_inference` recovers a sensitive column of tabular
records from the other columns, the label and the model, measured against a baseline without the
model.

    >>> from pipeshield.attacks.inversion import invert_classes, judge, train_evaluator
    >>> results = invert_classes(model, 10, input_shape=(1, 8, 8), clip=(0.0, 1.0))  # doctest: +SKIP
    >>> judge(results, train_evaluator(x_train, y_train), x_train, y_train).recognition_rate  # doctest: +SKIP
    1.0

Stable interface:

- ``invert(model, target_class, *, input_shape, clip=(0, 1), method="gradient" |
  "finite_differences", max_iter=500, lr=0.1, beta=50, gamma=0.001, tol=1e-6, l2=0.0, tv=0.0,
  start=None, fd_step=0.01, max_coords=256, max_queries=None, seed=0) -> InversionResult``
  (``reconstruction``, ``cost``, ``confidence``, ``costs``, ``iterations``, ``queries``,
  ``stop_reason`` in ``gamma``, ``beta``, ``max_iter``, ``max_queries``; ``to_dict()``);
  ``invert_classes(model, classes, *, input_shape, **options)`` for several classes.
- ``train_evaluator(x, y, kind="knn" | "logistic")``, ``judge(results, evaluator, x, y) ->
  InversionQuality`` (``recognition_rate``, ``chance``, ``recognised``, ``predicted``,
  ``distance_to_class_mean``, ``mean_distance_to_class_mean``).
- ``attribute_inference(model, x_members, y_members, x_nonmembers, y_nonmembers, *, sensitive,
  x_population=None, y_population=None, max_categories=10, bins=5, seed=0) ->
  AttributeInferenceResult`` (``members`` and ``nonmembers``: ``attack_accuracy``,
  ``baseline_accuracy``, ``advantage``; ``queries``; ``to_dict()``).

Bad input raises ``ValueError`` (``TypeError`` for a model the chosen method cannot use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeshield._lazy import lazy_getattr

__all__ = [
    "AttributeInferenceResult",
    "AttributeScores",
    "InversionQuality",
    "InversionResult",
    "attribute_inference",
    "invert",
    "invert_classes",
    "judge",
    "reconstruction_images",
    "train_evaluator",
]

# Loaded on first use: registering the audit check must not import torch or scikit-learn.
_LAZY = {
    "InversionResult": "mi_face", "invert": "mi_face", "invert_classes": "mi_face",
    "InversionQuality": "quality", "judge": "quality", "reconstruction_images": "quality",
    "train_evaluator": "quality",
    "AttributeInferenceResult": "attribute", "AttributeScores": "attribute", "attribute_inference": "attribute",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


if TYPE_CHECKING:
    from pipeshield.attacks.inversion.attribute import (
        AttributeInferenceResult,
        AttributeScores,
        attribute_inference,
    )
    from pipeshield.attacks.inversion.mi_face import InversionResult, invert, invert_classes
    from pipeshield.attacks.inversion.quality import (
        InversionQuality,
        judge,
        reconstruction_images,
        train_evaluator,
    )
