"""APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness..."), L-inf and L2.

PGD with a fixed step size is only as good as that step size. APGD starts at 2 * eps and halves
the step, per input, at checkpoints p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03,
0.06) (fractions of the budget) when either (1) the loss rose in fewer than rho = 0.75 of the
steps since the last checkpoint, or (2) the step was not halved last time and the best loss has
not improved since; on halving it restarts from the best point. Steps use momentum alpha = 0.75.
This is the algorithm of the paper as in its reference code, written for batches on any device.

:func:`apgd_targeted` is AutoAttack's APGD-T: targeted DLR towards each of the top-k other
classes in turn, run only on the inputs no earlier target fooled; it counts any misclassification
as success, so it is an untargeted attack with a better loss landscape.

    >>> res = apgd(model, x, y, eps=0.3, steps=100, loss="dlr", clip=(0.0, 1.0))  # doctest: +SKIP
    >>> res = apgd_targeted(model, x, y, eps=0.3, n_target_classes=9)  # doctest: +SKIP
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
from pipeshield.attacks.evasion.projections import random_start as draw_start

__all__ = ["apgd", "apgd_targeted", "checkpoints", "take_bound"]

RHO = 0.75
MOMENTUM = 0.75


def checkpoints(steps: int) -> list[int]:
    """Iteration indices where the step size may be halved (the paper's p_j times ``steps``)."""
    p = [0.0, 0.22]
    while True:
        nxt = p[-1] + max(p[-1] - p[-2] - 0.03, 0.06)
        if nxt > 1:
            break
        p.append(nxt)
    return sorted({round(pj * steps) for pj in p[1:] if 0 < round(pj * steps) <= steps})


def _view(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def _legal(
    x: torch.Tensor, xa: torch.Tensor, norm: Norm, eps: float, lo: Bound, hi: Bound
) -> torch.Tensor:
    return clip_domain(x + project(xa - x, norm, eps), lo, hi)


def take_bound(b: Bound, idx: torch.Tensor, x: torch.Tensor) -> Bound:
    """The bound for the inputs ``x[idx]``: per-input bounds (one row per input, as a data
    domain with frozen features gives) are indexed, scalars and per-feature bounds kept."""
    if isinstance(b, torch.Tensor) and b.dim() == x.dim() and b.shape[0] == len(x):
        return b[idx]
    return b


def _direction(grad: torch.Tensor, norm: Norm) -> torch.Tensor:
    if norm == "linf":
        return grad.sign()
    return grad / _view(lp_norm(grad, "l2") + 1e-12, grad)


def _run(
    module: torch.nn.Module,
    xt: torch.Tensor,
    yt: torch.Tensor,
    tt: torch.Tensor | None,
    *,
    loss_fn: Loss,
    success_target: torch.Tensor | None,
    eps: float,
    n: Norm,
    steps: int,
    random_start: bool,
    lo: Bound,
    hi: Bound,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One APGD run: (adversarial inputs, success mask). The loss uses ``tt``; success is judged
    against ``success_target`` (``None``: any misclassification)."""
    checks = set(checkpoints(steps))
    xa = _legal(xt, xt + draw_start(xt, n, eps, gen), n, eps, lo, hi) if random_start else xt
    grad, cur_loss, logits = input_grad(module, xa, yt, loss_fn, tt)
    found = is_success(logits, yt, success_target)
    best_adv = xa.clone()
    x_best, grad_best, loss_best = xa.clone(), grad.clone(), cur_loss.clone()
    step = torch.full((len(xt),), 2.0 * eps, dtype=xt.dtype, device=xt.device)
    x_prev = xa
    increases = torch.zeros(len(xt), dtype=torch.long, device=xt.device)
    prev_loss = cur_loss
    since_check = 0
    reduced_last = torch.ones(len(xt), dtype=torch.bool, device=xt.device)
    loss_best_last = loss_best.clone()
    for i in range(steps):
        a = 1.0 if i == 0 else MOMENTUM
        z = _legal(xt, xa + _view(step, xt) * _direction(grad, n), n, eps, lo, hi)
        x_new = _legal(xt, xa + a * (z - xa) + (1 - a) * (xa - x_prev), n, eps, lo, hi)
        x_prev, xa = xa, x_new
        grad, cur_loss, logits = input_grad(module, xa, yt, loss_fn, tt)
        succ = is_success(logits, yt, success_target)
        best_adv = torch.where(_view(succ & ~found, xt), xa, best_adv)
        found |= succ
        increases += (cur_loss > prev_loss).long()
        prev_loss = cur_loss
        improved = cur_loss > loss_best
        x_best = torch.where(_view(improved, xt), xa, x_best)
        grad_best = torch.where(_view(improved, xt), grad, grad_best)
        loss_best = torch.where(improved, cur_loss, loss_best)
        since_check += 1
        if i + 1 in checks:
            cond1 = increases < RHO * since_check
            cond2 = ~reduced_last & (loss_best_last >= loss_best)
            halve = cond1 | cond2
            reduced_last, loss_best_last = halve, loss_best.clone()
            step = torch.where(halve, step / 2, step)
            xa = torch.where(_view(halve, xt), x_best, xa)
            grad = torch.where(_view(halve, xt), grad_best, grad)
            increases.zero_()
            since_check = 0
    return torch.where(_view(found, xt), best_adv, x_best), found


def _check_args(eps: float, steps: int, restarts: int) -> None:
    if eps < 0 or steps < 1 or restarts < 1:
        raise ValueError("need eps >= 0, steps >= 1 and restarts >= 1")


def apgd(
    model: Any,
    x: Any,
    y: Any,
    *,
    eps: float,
    norm: str = "linf",
    steps: int = 100,
    loss: str | Loss = "ce",
    target: Any = None,
    random_start: bool = True,
    restarts: int = 1,
    clip: tuple[Bound, Bound] | None = None,
    seed: int = 0,
) -> AttackResult:
    """APGD maximising ``loss`` (``"ce"`` or ``"dlr"``); ``target`` labels make it targeted
    (targeted DLR needs >= 4 classes). Returns, per input, the first adversarial point found,
    else the point of highest loss. Each restart after the first starts at a new random point and
    runs only on the inputs no earlier run fooled (as in AutoAttack). Deterministic for a given
    ``seed``."""
    n = check_norm(norm)
    _check_args(eps, steps, restarts)
    module = as_module(model)
    lo, hi = clip if clip is not None else (None, None)
    loss_fn = get_loss(loss)
    with frozen(module):
        xt, yt, *rest = prepare(module, x, y, target)
        tt = rest[0] if rest else None
        gen = torch.Generator(device=xt.device).manual_seed(seed)
        x_out, found = xt, torch.zeros(len(xt), dtype=torch.bool, device=xt.device)
        for r in range(restarts):
            idx = torch.arange(len(xt), device=xt.device) if r == 0 else (~found).nonzero().squeeze(1)
            if len(idx) == 0:
                break
            xa, s = _run(
                module, xt[idx], yt[idx], None if tt is None else tt[idx],
                loss_fn=loss_fn, success_target=None if tt is None else tt[idx], eps=eps, n=n,
                steps=steps, random_start=random_start or r > 0, lo=take_bound(lo, idx, xt),
                hi=take_bound(hi, idx, xt), gen=gen,
            )
            if r == 0:
                x_out = xa
            else:  # a later restart replaces the point only where it succeeded
                x_out[idx[s]] = xa[s]
            found[idx] |= s
    check_result(xt, x_out, n, eps, lo, hi)
    return AttackResult(x_out.detach(), found)


def apgd_targeted(
    model: Any,
    x: Any,
    y: Any,
    *,
    eps: float,
    norm: str = "linf",
    steps: int = 100,
    n_target_classes: int = 9,
    restarts: int = 1,
    random_start: bool = True,
    clip: tuple[Bound, Bound] | None = None,
    seed: int = 0,
) -> AttackResult:
    """AutoAttack's APGD-T: APGD with a targeted loss towards each of the
    ``k = min(n_target_classes, n_classes - 1)`` other classes with the highest clean logits, in
    turn, each time only on the inputs not fooled yet.

    The loss is the targeted DLR loss, which needs >= 4 classes; with 2 or 3 classes it is the
    targeted cross-entropy instead (the result's meaning is unchanged, the attack is weaker on
    rescaled logits). Success is untargeted, as in AutoAttack: an input counts as fooled when it
    is misclassified as *any* wrong class, which includes inputs misclassified already (returned
    unchanged). ``restarts`` runs per target class. Deterministic for a given ``seed``.
    """
    n = check_norm(norm)
    _check_args(eps, steps, restarts)
    if n_target_classes < 1:
        raise ValueError("need n_target_classes >= 1")
    module = as_module(model)
    lo, hi = clip if clip is not None else (None, None)
    with frozen(module):
        xt, yt = prepare(module, x, y)
        with torch.no_grad():
            logits = module(xt)
        n_classes = int(logits.shape[1])
        if n_classes < 2:
            raise ValueError("a targeted attack needs at least 2 classes")
        loss_fn = get_loss("dlr" if n_classes >= 4 else "ce")
        others = logits.scatter(1, yt[:, None], float("-inf")).argsort(dim=1, descending=True)
        gen = torch.Generator(device=xt.device).manual_seed(seed)
        x_out = xt.clone()
        found = logits.argmax(dim=1) != yt
        first = True
        for rank in range(min(n_target_classes, n_classes - 1)):
            for r in range(restarts):
                idx = (~found).nonzero().squeeze(1)
                if len(idx) == 0:
                    break
                xa, s = _run(
                    module, xt[idx], yt[idx], others[idx, rank],
                    loss_fn=loss_fn, success_target=None, eps=eps, n=n, steps=steps,
                    random_start=random_start or r > 0, lo=take_bound(lo, idx, xt),
                    hi=take_bound(hi, idx, xt), gen=gen,
                )
                # inputs never fooled keep the highest-loss point of the first run
                x_out[idx] = torch.where(_view(s | first, xa), xa, x_out[idx])
                found[idx] |= s
                first = False
    check_result(xt, x_out, n, eps, lo, hi)
    return AttackResult(x_out.detach(), found)
