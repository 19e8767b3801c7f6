"""Gradient-masking checks (Athalye et al. 2018; Carlini et al. 2019, "On Evaluating Adversarial
Robustness"): signs that a high robust accuracy comes from a broken gradient, not a robust model.

A model that hides its gradient (input quantization, saturated softmax, a non-differentiable
preprocessing step) defeats gradient attacks without being robust: a weaker or a blind attack then
finds what they miss. Each check returns a :class:`MaskingResult` - ``flagged`` plus the numbers
that decided it - so a reader can judge the call.

    >>> results = run_masking_checks(model, x, y, assessment, eps=0.1, clip=(0.0, 1.0))  # doctest: +SKIP
    >>> [r.name for r in results if r.flagged]  # doctest: +SKIP
    ['zero-gradient', 'large-eps']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pipeshield.attacks.evasion._engine import as_module, frozen, prepare
from pipeshield.attacks.evasion.assess import EvasionAssessment
from pipeshield.attacks.evasion.projected_gradient import pgd
from pipeshield.attacks.evasion.projections import check_norm, clip_domain, lp_norm

__all__ = [
    "MaskingResult",
    "check_large_eps",
    "check_monotonic",
    "check_random_sampling",
    "check_single_step",
    "check_zero_gradient",
    "run_masking_checks",
]

SINGLE_STEP_MARGIN = 0.02  # FGSM may beat PGD by noise, not by 2 points
MONOTONIC_TOLERANCE = 0.01
LARGE_EPS_MAX_ROBUST = 0.10
ZERO_GRAD_NORM = 1e-12
ZERO_GRAD_MAX_FRACTION = 0.5
RANDOM_MISSED_MAX = 0.02


@dataclass(frozen=True)
class MaskingResult:
    """One check: its name, whether it flags masking, what it means, and the evidence numbers."""

    name: str
    flagged: bool
    message: str
    evidence: dict[str, float | int | str | None]


def check_single_step(a: EvasionAssessment) -> MaskingResult:
    """Iterative PGD must do at least as well as one FGSM step at every epsilon."""
    gaps = [p - f for f, p in zip(a.robust_accuracy["fgsm"], a.robust_accuracy["pgd"], strict=True)]
    worst = int(np.argmax(gaps))
    flagged = gaps[worst] > SINGLE_STEP_MARGIN
    eps = a.eps_grid[worst]
    return MaskingResult(
        "single-step",
        flagged,
        f"one FGSM step leaves {a.robust_accuracy['fgsm'][worst]:.1%} robust at eps {eps:g} but "
        f"PGD {a.robust_accuracy['pgd'][worst]:.1%}: the iterative attack is being misled"
        if flagged
        else "iterative PGD is at least as strong as single-step FGSM at every epsilon",
        {"eps": eps, "max_gap": round(gaps[worst], 6), "margin": SINGLE_STEP_MARGIN},
    )


def check_monotonic(a: EvasionAssessment) -> MaskingResult:
    """A bigger epsilon allows every smaller perturbation, so robust accuracy cannot rise."""
    rises = [later - earlier for earlier, later in zip(a.ensemble, a.ensemble[1:])]
    worst = max(rises, default=0.0)
    flagged = worst > MONOTONIC_TOLERANCE
    return MaskingResult(
        "monotonic",
        flagged,
        f"robust accuracy rises by {worst:.1%} as epsilon grows: the attack is not finding the "
        "perturbations it already found at a smaller epsilon"
        if flagged
        else "robust accuracy does not rise as epsilon grows",
        {"max_rise": round(worst, 6), "tolerance": MONOTONIC_TOLERANCE},
    )


def check_large_eps(
    module: Any, x: Any, y: Any, *, eps: float, norm: str = "linf", clip: Any = None, seed: int = 0
) -> MaskingResult:
    """At an epsilon that allows any input (e.g. 1.0 on [0, 1]) an attack must win almost always."""
    mod = as_module(module)
    res = pgd(mod, x, y, eps=eps, norm=norm, steps=20, random_start=True, clip=clip, seed=seed)
    robust = 1.0 - res.success_rate
    flagged = robust > LARGE_EPS_MAX_ROBUST
    return MaskingResult(
        "large-eps",
        flagged,
        f"even at eps {eps:g}, where any input is reachable, PGD leaves {robust:.1%} robust"
        if flagged
        else f"PGD at eps {eps:g} leaves {robust:.1%} robust, as expected",
        {"eps": eps, "robust_accuracy": round(robust, 6), "max": LARGE_EPS_MAX_ROBUST},
    )


def _margin_grad(mod: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # The logit margin, not cross-entropy: CE's gradient underflows to exactly 0 on confidently
    # correct inputs of an honest model, which would look like masking when it is not.
    xg = x.detach().requires_grad_(True)
    with torch.enable_grad():
        z = mod(xg)
        true = z.gather(1, y[:, None]).squeeze(1)
        other = z.masked_fill(torch.nn.functional.one_hot(y, z.shape[1]).bool(), float("-inf"))
        (g,) = torch.autograd.grad((true - other.max(dim=1).values).sum(), xg)
    return g


def check_zero_gradient(module: Any, x: Any, y: Any, batch_size: int = 256) -> MaskingResult:
    """Gradients that are zero or NaN on most inputs give gradient attacks nothing to follow."""
    mod = as_module(module)
    dead = 0
    with frozen(mod):
        for i in range(0, len(x), batch_size):
            xb, yb = prepare(mod, x[i : i + batch_size], y[i : i + batch_size])
            g = _margin_grad(mod, xb, yb).flatten(1)
            dead += int((torch.isnan(g).any(dim=1) | (g.norm(dim=1) < ZERO_GRAD_NORM)).sum())
    frac = dead / max(len(x), 1)
    flagged = frac > ZERO_GRAD_MAX_FRACTION
    return MaskingResult(
        "zero-gradient",
        flagged,
        f"the input gradient is zero or NaN on {frac:.1%} of inputs: gradient attacks are blind here"
        if flagged
        else f"the input gradient is zero or NaN on {frac:.1%} of inputs",
        {"fraction": round(frac, 6), "max_fraction": ZERO_GRAD_MAX_FRACTION},
    )


def check_random_sampling(
    module: Any,
    x: Any,
    y: Any,
    a: EvasionAssessment,
    *,
    eps: float,
    samples: int = 20,
    clip: Any = None,
    seed: int = 0,
    batch_size: int = 256,
) -> MaskingResult:
    """Random points in the eps ball must not find adversarials that the gradient attacks missed."""
    mod = as_module(module)
    norm = check_norm(a.norm)
    j = a.eps_grid.index(min(a.eps_grid, key=lambda e: abs(e - eps)))
    missed = np.zeros(len(x), dtype=bool)
    lo, hi = clip if clip is not None else (None, None)
    gen = torch.Generator().manual_seed(seed)
    with frozen(mod), torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb, yb = prepare(mod, x[i : i + batch_size], y[i : i + batch_size])
            found = torch.zeros(len(xb), dtype=torch.bool, device=xb.device)
            for _ in range(samples):
                d = torch.rand(xb.shape, generator=gen).to(xb.device) * 2 - 1
                if norm == "linf":
                    d = d * eps
                else:
                    size = lp_norm(d, "l2").view(-1, *([1] * (d.dim() - 1)))
                    d = d / (size + 1e-12) * eps
                found |= mod(clip_domain(xb + d, lo, hi)).argmax(dim=1) != yb
            missed[i : i + len(xb)] = found.cpu().numpy()
    missed &= a.clean_correct & ~a.flipped[j]
    frac = float(missed.mean()) if len(missed) else 0.0
    flagged = frac > RANDOM_MISSED_MAX
    return MaskingResult(
        "random-sampling",
        flagged,
        f"random noise at eps {a.eps_grid[j]:g} fools the model on {frac:.1%} of inputs that every "
        "gradient attack missed"
        if flagged
        else f"random noise at eps {a.eps_grid[j]:g} finds nothing the gradient attacks missed "
        f"beyond {frac:.1%} of inputs",
        {"eps": a.eps_grid[j], "fraction_missed": round(frac, 6), "samples": samples,
         "max_fraction": RANDOM_MISSED_MAX},
    )


def run_masking_checks(
    module: Any,
    x: Any,
    y: Any,
    assessment: EvasionAssessment,
    *,
    eps: float,
    large_eps: float | None = None,
    clip: Any = None,
    seed: int = 0,
) -> list[MaskingResult]:
    """All five checks. ``large_eps`` defaults to the width of ``clip`` (1.0 without one)."""
    if large_eps is None:
        large_eps = 1.0
        if clip is not None and np.ndim(clip[0]) == 0 and np.ndim(clip[1]) == 0:
            large_eps = float(clip[1]) - float(clip[0])
        if assessment.norm == "l2":  # the diagonal of the input box
            large_eps *= float(np.sqrt(np.prod(np.shape(x)[1:])))
    return [
        check_single_step(assessment),
        check_monotonic(assessment),
        check_large_eps(module, x, y, eps=large_eps, norm=assessment.norm, clip=clip, seed=seed),
        check_zero_gradient(module, x, y),
        check_random_sampling(module, x, y, assessment, eps=eps, clip=clip, seed=seed),
    ]
