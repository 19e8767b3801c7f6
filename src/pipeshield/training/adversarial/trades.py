"""TRADES (Zhang et al. 2019): trade clean accuracy for robustness with one knob, ``beta``.

The loss is ``CE(f(x), y) + beta * KL(f(x) || f(x'))`` where ``x'`` maximises the same KL inside
the ball, found by the evasion engine's :func:`~pipeshield.attacks.evasion.pgd` with a custom loss
(the KL to the clean prediction, so labels play no part in the attack) started at
``x + 0.001 * N(0, 1)``: at ``x`` itself the KL and its gradient are exactly zero. A larger
``beta`` buys robust accuracy with clean accuracy.

    >>> x_adv = trades_examples(model, xb, yb, norm="linf", eps=0.1, steps=10, step_size=None,
    ...                         clip=(0.0, 1.0), seed=0)  # doctest: +SKIP
    >>> loss = trades_loss(model, xb, yb, x_adv, beta=6.0)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeshield.attacks.evasion._engine import frozen
from pipeshield.attacks.evasion.losses import Loss
from pipeshield.attacks.evasion.projected_gradient import Clip, pgd

__all__ = ["START_SCALE", "kl_to", "trades_examples", "trades_loss"]

START_SCALE = 0.001  # the reference implementation's start: x + 0.001 * N(0, 1)


def kl_to(clean_logits: torch.Tensor) -> Loss:
    """The attack objective ``KL(p_clean || p(x'))`` per input, for the engine's ``loss=``."""
    p = F.softmax(clean_logits, dim=1)
    log_p = F.log_softmax(clean_logits, dim=1)

    def loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        del y, target
        return (p * (log_p - F.log_softmax(logits, dim=1))).sum(dim=1)

    return loss


def trades_examples(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str,
    eps: float,
    steps: int,
    step_size: float | None,
    clip: Clip,
    seed: int,
) -> torch.Tensor:
    """The inner maximisation: the point in the ball whose prediction is furthest (KL) from x's."""
    with frozen(module), torch.no_grad():
        clean = module(x)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    start = START_SCALE * torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    res = pgd(module, x, y, eps=eps, norm=norm, steps=steps, step_size=step_size, clip=clip,
              loss=kl_to(clean), start=start, keep_successes=False, seed=seed)
    return res.x_adv


def trades_loss(
    module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor, *, beta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The outer minimisation: natural CE plus ``beta`` times the batch-mean KL, gradients
    flowing through both the clean and the adversarial prediction (as in the paper). Returns
    (loss, the clean logits)."""
    logits = module(x)
    robust = F.kl_div(F.log_softmax(module(x_adv), dim=1), F.softmax(logits, dim=1), reduction="batchmean")
    return F.cross_entropy(logits, y) + beta * robust, logits
