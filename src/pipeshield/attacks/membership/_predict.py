"""Class probabilities from whatever the user hands us, aligned to one column order.

Three kinds of model are read the same way: a scikit-learn estimator or any black box with
``predict_proba`` -- a pipeshield ``Target``, the HTTP one included -- whose columns follow its
``classes_`` (or a Target's ``classes``) when it has one; and a ``torch.nn.Module`` (softmax over
its outputs, which are taken as probabilities already when every row is non-negative and sums
to 1; class ``k`` is output ``k``). torch is only touched when the model already is a torch
module, so scoring a scikit-learn model never imports it.

Reference models may have seen only some classes (a random half of a small dataset); their
missing columns are filled with probability 0, so every model speaks the target's class order.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeshield.attacks._scores import as_probabilities
from pipeshield.core.labels import UnknownLabelError, class_columns, declared_classes

__all__ = ["is_torch_module", "model_classes", "predict_probabilities", "signals"]

_BATCH = 1024
# log() floor for probabilities: keeps the logit-scaled confidence finite when a model outputs an
# exact 0 or 1 (a forest whose trees all agree does). phi then lies in [-41.4, 41.4].
_P_FLOOR = 1e-18


def is_torch_module(model: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _torch_probabilities(module: Any, x: NDArray[Any]) -> NDArray[np.float64]:
    import torch

    param = next(iter(module.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.dtype.is_floating_point else torch.float32
    was_training = module.training
    module.eval()  # safe: nn.Module.eval() switches to inference mode
    out = []
    try:
        with torch.no_grad():
            for i in range(0, len(x), _BATCH):
                batch = torch.as_tensor(np.asarray(x[i : i + _BATCH]), dtype=dtype, device=device)
                out.append(module(batch).double().cpu())
    finally:
        module.train(was_training)
    raw = torch.cat(out)
    if raw.ndim != 2:
        raise ValueError(f"the torch model must output (n, n_classes) scores, got shape {tuple(raw.shape)}")
    return np.asarray(as_probabilities(raw).numpy(), dtype=np.float64)


def _raw_probabilities(model: Any, x: NDArray[Any]) -> NDArray[np.float64]:
    if is_torch_module(model):
        return _torch_probabilities(model, x)
    predict_proba = getattr(model, "predict_proba", None)
    if predict_proba is None:
        raise ValueError(
            f"cannot read class probabilities from a {type(model).__name__}: pass a fitted "
            "scikit-learn classifier, a torch.nn.Module, or an object with predict_proba(x)"
        )
    probs = np.asarray(predict_proba(x), dtype=np.float64)
    if probs.ndim != 2 or len(probs) != len(x):
        raise ValueError(f"predict_proba returned shape {probs.shape} for {len(x)} inputs; expected (n, n_classes)")
    return probs


def _declared_classes(model: Any) -> NDArray[Any] | None:
    """``classes_`` (scikit-learn) or ``classes`` (a pipeshield Target), when the model has one."""
    return None if is_torch_module(model) else declared_classes(model)


def model_classes(model: Any, n_columns: int) -> NDArray[Any]:
    """The labels behind the probability columns: declared classes when present, else 0..n-1."""
    classes = _declared_classes(model)
    return classes if classes is not None else np.arange(n_columns)


def predict_probabilities(model: Any, x: NDArray[Any], classes: NDArray[Any] | None = None) -> NDArray[np.float64]:
    """``(n, len(classes))`` probabilities, columns in the order of ``classes``.

    Without ``classes`` the model's own order is returned. A column the model lacks is 0; a
    class the model has but ``classes`` lacks is an error (labels must be the target's).
    """
    probs = np.clip(_raw_probabilities(model, x), 0.0, 1.0)
    if classes is None:
        return probs
    own = model_classes(model, probs.shape[1])
    if len(own) != probs.shape[1]:
        raise ValueError(f"the model declares {len(own)} classes but predict_proba returned {probs.shape[1]} columns")
    if len(own) == len(classes) and np.array_equal(own, classes):
        return probs
    if _declared_classes(model) is None:
        raise ValueError(
            f"a reference model returned {probs.shape[1]} probability columns but the target has "
            f"{len(classes)} classes; give reference models a classes_ attribute or the same outputs"
        )
    try:
        columns = class_columns(classes, own)
    except UnknownLabelError as err:
        raise ValueError(f"a reference model predicts a class the target does not have: {err.label!r}") from None
    aligned = np.zeros((len(x), len(classes)), dtype=np.float64)
    aligned[:, columns] = probs
    return aligned


def signals(
    probs: NDArray[np.float64], label_index: NDArray[np.intp]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per record: the true-class probability ``p_y`` and LiRA's logit-scaled confidence.

    ``phi = log p_y - log sum_{y' != y} p_y'`` (Carlini et al. 2022). The sum over the *other*
    classes is taken directly rather than as ``1 - p_y``, which would round to 0 once
    ``p_y > 1 - 1e-16`` and lose exactly the records a memorising model is surest about.
    """
    rows = np.arange(len(probs))
    p_true = probs[rows, label_index]
    masked = probs.copy()
    masked[rows, label_index] = 0.0
    others = masked.sum(axis=1)
    phi = np.log(np.maximum(p_true, _P_FLOOR)) - np.log(np.maximum(others, _P_FLOOR))
    return p_true, phi
