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
    "check_black_box",
    "check_convergence",
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
BLACK_BOX_MARGIN = 0.02  # a score-only attack may beat gradients by noise, not by 2 points
CONVERGENCE_MARGIN = 0.03  # 5x the iterations and 3 restarts may gain noise, not 3 points
CONVERGENCE_INPUTS = 100


@dataclass(frozen=True)
class MaskingResult:
    """One check: its name, whether it flags masking, what it means, and the evidence numbers."""

    name: str
    flagged: bool
    message: str
    evidence: dict[str, float | int | str | None]


_ITERATIVE = ("pgd", "apgd-ce", "apgd-dlr", "apgd-t")


def check_single_step(a: EvasionAssessment) -> MaskingResult:
    """Iterative PGD must do at least as well as one FGSM step at every epsilon.

    Without PGD in the assessment the first APGD variant run stands in for it; without FGSM or
    any iterative attack the check cannot run and says so (``flagged`` False, ``evidence``
    ``{"skipped": ...}``): it is not evidence of an honest gradient.
    """
    it = next((k for k in _ITERATIVE if k in a.robust_accuracy), None)
    if "fgsm" not in a.robust_accuracy or it is None:
        return MaskingResult(
            "single-step",
            False,
            "not run: the assessment needs FGSM and an iterative gradient attack (PGD or APGD)",
            {"skipped": "fgsm or an iterative attack missing"},
        )
    fg, iters = a.robust_accuracy["fgsm"], a.robust_accuracy[it]
    gaps = [p - f for f, p in zip(fg, iters, strict=True)]
    worst = int(np.argmax(gaps))
    flagged = gaps[worst] > SINGLE_STEP_MARGIN
    eps = a.eps_grid[worst]
    label = it.upper()
    return MaskingResult(
        "single-step",
        flagged,
        f"one FGSM step leaves {fg[worst]:.1%} robust at eps {eps:g} but "
        f"{label} {iters[worst]:.1%}: the iterative attack is being misled"
        if flagged
        else f"iterative {label} is at least as strong as single-step FGSM at every epsilon",
        {"eps": eps, "max_gap": round(gaps[worst], 6), "margin": SINGLE_STEP_MARGIN,
         "iterative": it},
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


def check_black_box(a: EvasionAssessment) -> MaskingResult | None:
    """The score-only Square attack must not beat every gradient attack (``None`` without it):
    a blind attacker who wins where gradients lose points at a gradient that lies."""
    if "square" not in a.robust_accuracy:
        return None
    grads = [v for k, v in a.robust_accuracy.items() if k not in ("square", "fgsm")]
    if not grads:
        return None
    best = [min(col[j] for col in grads) for j in range(len(a.eps_grid))]
    gaps = [g - s for g, s in zip(best, a.robust_accuracy["square"], strict=True)]
    worst = int(np.argmax(gaps))
    flagged = gaps[worst] > BLACK_BOX_MARGIN
    eps = a.eps_grid[worst]
    return MaskingResult(
        "black-box",
        flagged,
        f"the black-box Square attack leaves {a.robust_accuracy['square'][worst]:.1%} robust at eps "
        f"{eps:g}, the best gradient attack {best[worst]:.1%}: the gradients are misleading"
        if flagged
        else "no black-box attack beats the gradient attacks",
        {"eps": eps, "max_gap": round(gaps[worst], 6), "margin": BLACK_BOX_MARGIN},
    )


def check_convergence(
    module: Any,
    x: Any,
    y: Any,
    a: EvasionAssessment,
    *,
    eps: float,
    clip: Any = None,
    seed: int = 0,
) -> MaskingResult:
    """Five times the PGD iterations and three restarts must not gain much on the same inputs:
    if they do, the assessment's attacks had not converged and its numbers are too kind."""
    mod = as_module(module)
    n = min(len(x), CONVERGENCE_INPUTS)
    base_steps = int(a.settings.get("steps", {}).get("pgd", 10))
    xs, ys = x[:n], y[:n]
    base = pgd(mod, xs, ys, eps=eps, norm=a.norm, steps=base_steps, random_start=True, clip=clip, seed=seed)
    more = pgd(mod, xs, ys, eps=eps, norm=a.norm, steps=5 * base_steps, restarts=3, random_start=True,
               clip=clip, seed=seed + 1)
    with frozen(mod), torch.no_grad():
        xt, yt = prepare(mod, xs, ys)
        ok = (mod(xt).argmax(dim=1) == yt).cpu().numpy()
    r_base = float((ok & ~base.success.cpu().numpy()).mean()) if n else 0.0
    r_more = float((ok & ~more.success.cpu().numpy()).mean()) if n else 0.0
    gain = r_base - r_more
    flagged = gain > CONVERGENCE_MARGIN + 1e-9  # a gain of exactly the margin (3 of 100 inputs) is not "more"
    return MaskingResult(
        "convergence",
        flagged,
        f"{5 * base_steps} PGD steps with 3 restarts cut robust accuracy from {r_base:.1%} to "
        f"{r_more:.1%} at eps {eps:g}: the assessment's attacks had not converged"
        if flagged
        else f"{5 * base_steps} PGD steps with 3 restarts gain {gain:.1%} over {base_steps} steps",
        {"eps": eps, "robust_base": round(r_base, 6), "robust_more": round(r_more, 6),
         "steps": base_steps, "margin": CONVERGENCE_MARGIN, "inputs": n},
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
    """Every check that applies: the seven, less black-box when no Square attack was run.
    ``large_eps`` defaults to the width of ``clip`` (1.0 without one)."""
    if large_eps is None:
        large_eps = 1.0
        if clip is not None and np.ndim(clip[0]) == 0 and np.ndim(clip[1]) == 0:
            large_eps = float(clip[1]) - float(clip[0])
        if assessment.norm == "l2":  # the diagonal of the input box
            large_eps *= float(np.sqrt(np.prod(np.shape(x)[1:])))
    checks = [
        check_single_step(assessment),
        check_monotonic(assessment),
        check_large_eps(module, x, y, eps=large_eps, norm=assessment.norm, clip=clip, seed=seed),
        check_zero_gradient(module, x, y),
        check_random_sampling(module, x, y, assessment, eps=eps, clip=clip, seed=seed),
        check_convergence(module, x, y, assessment, eps=eps, clip=clip, seed=seed),
    ]
    black = check_black_box(assessment)
    return checks if black is None else [*checks, black]
