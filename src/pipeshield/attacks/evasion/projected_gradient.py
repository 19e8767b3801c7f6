"""FGSM and PGD (Madry et al. 2018), L-inf and L2, batched, on the module's device.

PGD is the workhorse of white-box evaluation, so it must cost no more than the bare loop a
researcher would write (REFERENCES.md: ART takes 1.8-1.9x of that floor). Per step it does one
forward, one input-only gradient and one projection; for L-inf the ball and the data domain are
folded into a single per-feature box computed once.

Every iterate that fools the model is remembered, so a later step that wanders back across the
boundary does not hide an adversarial example; across restarts the per-input worst case wins.

    >>> res = pgd(model, x, y, eps=0.3, steps=20, clip=(0.0, 1.0))  # doctest: +SKIP
    >>> res.success.float().mean()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import torch

from pipeshield.attacks.evasion._engine import (
    AttackResult,
    as_module,
    check_result,
    frozen,
    input_grad,
    is_success,
    prepare,
)
from pipeshield.attacks.evasion.losses import Loss, get_loss
from pipeshield.attacks.evasion.projections import (
    Bound,
    Norm,
    check_norm,
    clip_domain,
    lp_norm,
    project,
)
from pipeshield.attacks.evasion.projections import (
    random_start as draw_start,
)

__all__ = ["fgsm", "pgd"]

Clip = tuple[Bound, Bound] | None


def _ascent(grad: torch.Tensor, norm: Norm) -> torch.Tensor:
    """The steepest-ascent direction of unit norm for the threat model."""
    if norm == "linf":
        return grad.sign()
    n = lp_norm(grad, "l2").view(-1, *([1] * (grad.dim() - 1)))
    return grad / (n + 1e-12)


def _run_pgd(
    module: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    target: torch.Tensor | None,
    *,
    eps: float,
    norm: Norm,
    steps: int,
    step_size: float,
    start: torch.Tensor | None,
    lo: Bound,
    hi: Bound,
    loss_fn: Loss,
    keep_successes: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One PGD run: (adversarial inputs, success mask, final loss)."""
    if norm == "linf":  # ball and domain in one box, computed once
        box_lo = clip_domain(x - eps, lo, hi)
        box_hi = clip_domain(x + eps, lo, hi)
    xa = x if start is None else clip_domain(x + start, lo, hi)
    best = xa
    found = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    shape = (-1, *([1] * (x.dim() - 1)))
    for _ in range(steps):
        grad, _, logits = input_grad(module, xa, y, loss_fn, target)
        if keep_successes:
            succ = is_success(logits, y, target)
            best = torch.where((succ & ~found).view(shape), xa, best)
            found |= succ
        xa = xa + step_size * _ascent(grad, norm)
        if norm == "linf":
            xa = torch.min(torch.max(xa, box_lo), box_hi)
        else:
            xa = clip_domain(x + project(xa - x, norm, eps), lo, hi)
    with torch.no_grad():
        logits = module(xa)
        final_loss = loss_fn(logits, y, target)
        succ = is_success(logits, y, target)
    x_out = torch.where((succ | ~found).view(shape), xa, best)
    return x_out, succ | found, final_loss


def pgd(
    model: Any,
    x: Any,
    y: Any,
    *,
    eps: float,
    norm: str = "linf",
    steps: int = 20,
    step_size: float | None = None,
    random_start: bool = False,
    restarts: int = 1,
    clip: Clip = None,
    loss: str | Loss = "ce",
    target: Any = None,
    seed: int = 0,
    start: torch.Tensor | None = None,
    keep_successes: bool = True,
) -> AttackResult:
    """Projected gradient ascent on ``loss`` inside the ``eps`` ball (and ``clip`` domain).

    ``step_size`` defaults to 2.5 * eps / steps (Madry et al.). Restarts after the first always
    start at random (a second run from the same point would repeat the first); the result keeps,
    per input, a run that succeeded, otherwise the one with the highest final loss. ``target``
    (labels) makes it targeted. Deterministic for a given ``seed``.

    Two hooks serve adversarial training (:mod:`pipeshield.training.adversarial`), which maximises
    a loss rather than hunting for one fooling input: ``start`` is the first run's initial
    perturbation (projected into the ball; TRADES starts at ``0.001 * N(0, 1)``), and
    ``keep_successes=False`` returns the last iterate, as Madry et al. and TRADES do, instead of an
    earlier one that already fooled the model.
    """
    n = check_norm(norm)
    if eps < 0 or steps < 1 or restarts < 1:
        raise ValueError("need eps >= 0, steps >= 1 and restarts >= 1")
    module = as_module(model)
    lo, hi = clip if clip is not None else (None, None)
    loss_fn = get_loss(loss)
    alpha = step_size if step_size is not None else 2.5 * eps / steps
    with frozen(module):
        xt, yt, *rest = prepare(module, x, y, target)
        tt = rest[0] if rest else None
        gen = torch.Generator(device=xt.device).manual_seed(seed)
        best_x, best_s, best_l = xt, torch.zeros(len(xt), dtype=torch.bool, device=xt.device), None
        for r in range(restarts):
            if r == 0 and start is not None:
                first: torch.Tensor | None = project(torch.as_tensor(start, device=xt.device), n, eps)
            else:
                first = draw_start(xt, n, eps, gen) if (random_start or r > 0) else None
            xa, s, lv = _run_pgd(
                module,
                xt,
                yt,
                tt,
                eps=eps,
                norm=n,
                steps=steps,
                step_size=alpha,
                start=first,
                lo=lo,
                hi=hi,
                loss_fn=loss_fn,
                keep_successes=keep_successes,
            )
            if best_l is None:
                best_x, best_s, best_l = xa, s, lv
                continue
            better = (s & ~best_s) | ((s == best_s) & (lv > best_l))
            best_x = torch.where(better.view(-1, *([1] * (xt.dim() - 1))), xa, best_x)
            best_s, best_l = best_s | s, torch.where(better, lv, best_l)
    check_result(xt, best_x, n, eps, lo, hi)
    return AttackResult(best_x.detach(), best_s)


def fgsm(
    model: Any,
    x: Any,
    y: Any,
    *,
    eps: float,
    norm: str = "linf",
    clip: Clip = None,
    loss: str | Loss = "ce",
    target: Any = None,
) -> AttackResult:
    """One step of size ``eps`` along the gradient's sign (L-inf) or direction (L2).

    Kept as the baseline of the gradient-masking check: an iterative attack that does worse than
    this single step points at a masked gradient, not at a robust model.
    """
    return pgd(
        model, x, y, eps=eps, norm=norm, steps=1, step_size=eps, clip=clip, loss=loss, target=target
    )
