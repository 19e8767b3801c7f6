"""Attack objectives on logits, one value per input, larger meaning "closer to fooled".

The losses are computed on logits, never probabilities: a softmax saturates and hides the
gradient (a classic gradient-masking sign, REFERENCES.md). DLR (Croce & Hein 2020) is invariant
to shifting and rescaling the logits, so a model cannot look robust merely by scaling them.

    >>> z = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    >>> float(cross_entropy(z, torch.tensor([0])))  # doctest: +ELLIPSIS
    0.44...
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["LOSSES", "Loss", "cross_entropy", "dlr", "get_loss"]

# (logits, labels, target labels or None) -> per-input objective to maximise
Loss = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def cross_entropy(
    logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None
) -> torch.Tensor:
    """CE of the true label (untargeted), or minus CE of ``target`` (targeted), per input."""
    if target is None:
        return F.cross_entropy(logits, y, reduction="none")
    return -F.cross_entropy(logits, target, reduction="none")


def dlr(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Difference of Logits Ratio; untargeted needs >= 3 classes, targeted >= 4.

    The denominator uses the 3rd (untargeted) or mean of 3rd and 4th (targeted) largest logit,
    so with fewer classes it is undefined rather than merely weaker: refuse instead of guessing.
    """
    n_classes = logits.shape[1]
    need = 3 if target is None else 4
    if n_classes < need:
        kind = "targeted" if target is not None else "untargeted"
        raise ValueError(
            f"{kind} DLR loss needs at least {need} classes, the model has {n_classes}"
        )
    top = logits.sort(dim=1, descending=True).values
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    if target is None:
        pred_is_y = logits.argmax(dim=1) == y
        z_other = torch.where(pred_is_y, top[:, 1], top[:, 0])  # largest logit that is not y
        return -(z_y - z_other) / (top[:, 0] - top[:, 2] + 1e-12)
    z_t = logits.gather(1, target[:, None]).squeeze(1)
    return -(z_y - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


LOSSES: dict[str, Loss] = {"ce": cross_entropy, "dlr": dlr}


def get_loss(loss: str | Loss) -> Loss:
    """A loss by registry name (``"ce"``, ``"dlr"``) or a callable passed through."""
    if callable(loss):
        return loss
    try:
        return LOSSES[loss]
    except KeyError:
        raise ValueError(f"unknown attack loss {loss!r}; choose one of {sorted(LOSSES)}") from None
