"""Class probabilities from a torch module's output, decided in one place.

A module usually ends in logits, but some end in ``Softmax`` and already return probabilities;
applying softmax to those again flattens every score towards ``1/k`` (and hides most of the signal
the membership and inversion attacks read). The rule: an output whose every value is non-negative
and whose every row sums to 1 is probabilities already; anything else is logits.

    >>> import torch  # doctest: +SKIP
    >>> as_probabilities(torch.tensor([[0.2, 0.8]]))  # doctest: +SKIP
    tensor([[0.2000, 0.8000]])

torch is imported only by a caller that already holds a tensor.
"""

from __future__ import annotations

from typing import Any

__all__ = ["are_probabilities", "as_probabilities"]

_SUM_TOLERANCE = 1e-4


def are_probabilities(raw: Any) -> bool:
    """Whether ``raw`` (an ``(n, k)`` tensor of module outputs) already holds probabilities."""
    import torch

    with torch.no_grad():
        values = raw.detach()
        if values.ndim != 2 or not values.numel():
            return False
        ones = torch.ones(len(values), dtype=values.dtype, device=values.device)
        return bool((values >= 0).all()) and bool(torch.allclose(values.sum(1), ones, atol=_SUM_TOLERANCE))


def as_probabilities(raw: Any) -> Any:
    """``raw`` itself when it already holds probabilities, else ``softmax(raw, dim=1)``
    (differentiable either way: autograd flows through the returned tensor)."""
    import torch

    return raw if are_probabilities(raw) else torch.softmax(raw, dim=1)
