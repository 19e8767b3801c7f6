"""Penultimate activations of a torch model: what the backdoor detectors look at.

A backdoored network learns a separate "trigger" feature; in the representation just before
classification, poisoned rows of the target class sit apart from its clean rows. We read that
representation with a forward hook, never by editing the user's module.

Which layer: by default (``layer="head"``) the input of the classifier head -- the first Linear
layer of the trailing run of Linear / activation / dropout / normalisation layers -- i.e. what the
feature extractor hands to the classifier. For a ResNet-style model (one final Linear) that is the
input of the last Linear layer, the layer Tran et al. and Chen et al. use. For a model with a
two-layer head it is the wider of the two: on the demo CNN, spectral signatures separate the
planted poison with AUC 1.00 there and 0.86 at the input of the last Linear layer (measured in
``tests/data/poisoning``). ``layer="last"`` picks the last Linear layer's input instead.

    >>> feats = penultimate_activations(target, x)      # doctest: +SKIP
    >>> feats.shape
    (1203, 512)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeshield.errors import TargetError

__all__ = ["classifier_layer", "penultimate_activations"]

_HEAD_PARTS = (
    "ReLU", "LeakyReLU", "GELU", "SiLU", "ELU", "Tanh", "Sigmoid", "Dropout", "BatchNorm1d",
    "LayerNorm", "Identity", "Softmax", "LogSoftmax",
)


def classifier_layer(module: Any, layer: str = "head") -> Any:
    """The Linear layer whose input we read (see the module docstring for ``head`` vs ``last``)."""
    from torch import nn

    leaves = [m for m in module.modules() if not list(m.children())]
    linear_at = [i for i, m in enumerate(leaves) if isinstance(m, nn.Linear)]
    if not linear_at:
        raise TargetError("the model has no Linear layer, so it has no penultimate activations to read")
    last = linear_at[-1]
    if layer == "last":
        return leaves[last]
    first = last
    for i in range(last - 1, -1, -1):
        m = leaves[i]
        if isinstance(m, nn.Linear):
            first = i
        elif type(m).__name__ not in _HEAD_PARTS:
            break
    return leaves[first]


def penultimate_activations(target: Any, x: np.ndarray, *, layer: str = "head", batch: int = 1024) -> np.ndarray:
    """Rows of activations at the classifier's input, for a torch target (one with ``module``).

    Raises ``TargetError`` for targets without a torch module (scikit-learn, ONNX, endpoints):
    callers skip the backdoor detectors with that reason.
    """
    module = getattr(target, "module", None)
    if module is None:
        raise TargetError(
            f"models.{getattr(target, 'name', '?')}: not a torch model; backdoor detectors need its activations"
        )
    import torch

    hooked = classifier_layer(module, layer)
    captured: list[Any] = []

    def hook(_m: Any, inputs: tuple[Any, ...]) -> None:
        captured.append(inputs[0].detach().reshape(inputs[0].shape[0], -1).float())

    handle = hooked.register_forward_pre_hook(hook)
    try:
        for i in range(0, len(x), batch):
            target.logits(x[i : i + batch])  # the target reshapes rows to its input shape
    finally:
        handle.remove()
    if not captured:
        raise TargetError(f"models.{getattr(target, 'name', '?')}: the classifier layer was never called")
    return np.asarray(torch.cat(captured).numpy(), dtype=np.float64)
