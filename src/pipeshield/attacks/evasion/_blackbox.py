"""What the decision-only and transfer attacks share: a label oracle over any target, label values
mapped to output columns, and domain bounds broadcast to one row per input.

A label oracle is the weakest access an attacker can have (a served model that answers only its
decision). It is built from ``predict_proba`` (argmax mapped through ``target.classes``) or, for an
object with no scores at all, from its ``predict``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pipeshield.core import labels
from pipeshield.errors import TargetError

__all__ = ["Clip", "class_columns", "flat_bounds", "label_oracle"]

# (lo, hi): each a scalar or an array broadcastable to the inputs' shape (per feature or per input)
Clip = tuple[Any, Any] | None

LabelFn = Callable[[np.ndarray], np.ndarray]


def label_oracle(target: Any) -> LabelFn:
    """A function from flat rows ``(m, d)`` to predicted label values, one per row."""
    proba = getattr(target, "predict_proba", None)
    if callable(proba):
        classes = getattr(target, "classes", None)
        cls = np.asarray(classes) if classes is not None and len(classes) else None

        def from_scores(x: np.ndarray) -> np.ndarray:
            probs = np.asarray(proba(x))
            if probs.ndim != 2 or len(probs) != len(x):
                raise TargetError(
                    f"predict_proba returned shape {probs.shape}, expected ({len(x)}, k)"
                )
            idx = probs.argmax(axis=1)
            return np.asarray(cls[idx] if cls is not None else idx)

        return from_scores
    predict = getattr(target, "predict", None)
    if callable(predict):

        def from_labels(x: np.ndarray) -> np.ndarray:
            labels = np.asarray(predict(x)).reshape(-1)
            if len(labels) != len(x):
                raise TargetError(f"predict returned {len(labels)} labels for {len(x)} inputs")
            return labels

        return from_labels
    raise TypeError(f"{type(target).__name__} has neither predict_proba nor predict")


def class_columns(target: Any, y: np.ndarray) -> np.ndarray:
    """Output column of each label (labels are values of ``target.classes`` when it has them).

    Raises ValueError naming the first label that is not one of the target's classes."""
    return labels.class_columns(getattr(target, "classes", None), y)


def _broadcast(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        return None


def flat_bounds(clip: Clip, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``clip`` as two float arrays of shape ``(n, d)`` (-inf/inf where unbounded).

    Bounds may be scalars, per-feature arrays (shape of one input, or flat) or per-input arrays
    (shape of ``x``, or ``(n, d)``); they are broadcast against the inputs' shape.
    """
    n, d = shape[0], int(np.prod(shape[1:]))
    if clip is None:
        return np.full((n, d), -np.inf), np.full((n, d), np.inf)
    try:
        lo_raw, hi_raw = clip
    except (TypeError, ValueError):
        raise ValueError("clip must be None or a pair (lo, hi)") from None
    out = []
    for name, b in (("lower", lo_raw), ("upper", hi_raw)):
        fill = -np.inf if name == "lower" else np.inf
        arr = np.full((), fill) if b is None else np.asarray(b, dtype=np.float64)
        full = _broadcast(arr, shape) if arr.ndim <= len(shape) else None
        if full is None and arr.ndim <= 2:  # flat (d,) or (n, d) bounds for image inputs
            full = _broadcast(arr, (n, d))
        if full is None:
            raise ValueError(
                f"clip {name} bound of shape {arr.shape} does not broadcast to inputs {shape}"
            )
        out.append(np.array(full, dtype=np.float64).reshape(n, d))
    lo, hi = out
    if np.isnan(lo).any() or np.isnan(hi).any():
        raise ValueError("clip bounds contain NaN")
    if (lo > hi).any():
        raise ValueError("clip lower bound exceeds the upper bound")
    return lo, hi
