"""Per-sample losses for training on noisy labels, in a registry the trainers look up by name.

- ``cross-entropy``: the usual loss; a wrong label keeps a large loss until the model memorises it.
- ``generalized-cross-entropy`` (Zhang & Sabuncu, NeurIPS 2018): ``(1 - p_y^q) / q`` with
  ``q = 0.7``; bounded by ``1 / q``, so a flipped label's gradient cannot dominate the batch (``q -> 0``
  is cross-entropy, ``q = 1`` mean absolute error).
- ``symmetric-cross-entropy`` (Wang et al., ICCV 2019): ``0.1 * CE + 1.0 * RCE``, where the reverse
  cross-entropy ``-sum_k p_k log y_k`` takes ``log 0 = -4``; RCE is robust to label noise, the small
  CE term keeps learning fast.

Each maps ``(logits, targets)`` to one loss per row (``reduction="none"``), which is what
:func:`~pipeshield.training.robust.trimming.trimmed_train` ranks rows by. None of them helps much
against a backdoor: triggered rows are *easy* to fit, so their loss is small, not large.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeshield.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["LOSSES", "per_sample_loss"]

LossFn = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]

_GCE_Q = 0.7
_SCE_ALPHA, _SCE_BETA, _SCE_LOG_ZERO = 0.1, 1.0, -4.0


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    return F.cross_entropy(logits, targets, reduction="none")


def _generalized_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    p_y = logits.softmax(dim=1).gather(1, targets[:, None]).squeeze(1).clamp_min(1e-7)
    return (1.0 - p_y.pow(_GCE_Q)) / _GCE_Q


def _symmetric_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    ce = F.cross_entropy(logits, targets, reduction="none")
    probs = logits.softmax(dim=1).clamp(1e-7, 1.0)
    # log of the one-hot label: 0 on the label, log(0) := -4 elsewhere
    rce = -_SCE_LOG_ZERO * (1.0 - probs.gather(1, targets[:, None]).squeeze(1))
    return _SCE_ALPHA * ce + _SCE_BETA * rce


LOSSES: dict[str, LossFn] = {
    "cross-entropy": _cross_entropy,
    "generalized-cross-entropy": _generalized_ce,
    "symmetric-cross-entropy": _symmetric_ce,
}


def per_sample_loss(name: str, *, option: str = "loss") -> LossFn:
    """The registered loss ``name``; an unknown name is a usage error listing the known ones."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ConfigError(f"{option}: unknown loss {name!r} (known: {', '.join(LOSSES)})") from None
