"""PGD adversarial training (Madry et al. 2018): minimise the loss on the worst case in the ball.

Each batch is replaced by PGD adversarial examples made by the evasion engine's own
:func:`~pipeshield.attacks.evasion.pgd` (random start, the last iterate kept, as in the paper), and
the model is trained on those alone: ``min_theta E[max_{||d|| <= eps} CE(f(x + d), y)]``.

    >>> x_adv = pgd_examples(model, xb, yb, norm="linf", eps=0.1, steps=10, step_size=None,
    ...                      clip=(0.0, 1.0), seed=0)  # doctest: +SKIP
    >>> loss = pgd_loss(model, xb, yb, x_adv)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeshield.attacks.evasion.projected_gradient import Clip, pgd

__all__ = ["pgd_examples", "pgd_loss"]


def pgd_examples(
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
    """The inner maximisation: PGD on cross-entropy from a random point in the ball.

    The engine runs the attack with the module in eval mode and its parameters frozen (restored
    afterwards), so the attack costs input gradients only.
    """
    res = pgd(module, x, y, eps=eps, norm=norm, steps=steps, step_size=step_size, random_start=True,
              clip=clip, seed=seed, keep_successes=False)
    return res.x_adv


def pgd_loss(
    module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The outer minimisation: mean cross-entropy on the adversarial examples only (``x`` unused,
    kept so every method's loss has one signature). Returns (loss, the adversarial logits)."""
    del x
    logits = module(x_adv)
    return F.cross_entropy(logits, y), logits
