"""Robustness assessment: clean accuracy, robust accuracy per attack and per epsilon, and the
per-input worst case across attacks (the "ensemble"), streamed in batches.

One attack's robust accuracy is only an upper bound on the true one; the ensemble takes, for each
input, the worst case over every attack run - by default FGSM, PGD and APGD-CE, plus APGD-DLR
(>= 3 classes) and APGD-T (targeted DLR, >= 4 classes) with the standard and thorough budgets -
which is the number a robustness researcher would report (REFERENCES.md, AutoAttack).

Design: every attack runs on *all* correctly classified inputs of a batch and keeps its own
column, because the gradient-masking checks compare columns (an iterative attack that loses to a
single step points at a broken gradient, not at a robust model) and a column computed on the
leftovers of another attack would be meaningless. The worst-case column is then the per-input OR
of those columns and costs nothing extra. Skipping inputs an earlier attack already flipped is
what :func:`~pipeshield.attacks.evasion.ensemble.ensemble_attack` does, where there are no
per-attack columns to keep.

    >>> a = assess_evasion(model, x, y, eps_grid=[0, 0.1, 0.3], clip=(0.0, 1.0))  # doctest: +SKIP
    >>> a.ensemble_at(0.1)  # doctest: +SKIP
    0.04
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pipeshield.attacks.evasion._engine import AttackResult, as_module, frozen, prepare
from pipeshield.attacks.evasion.ensemble import RUNNERS, AttackOptions, Budget, check_attacks
from pipeshield.attacks.evasion.projections import check_norm, lp_norm

if TYPE_CHECKING:
    from pipeshield.attacks.evasion.domain import Domain

__all__ = ["Budget", "EvasionAssessment", "assess_evasion", "attack_plan", "default_attacks"]

_Run = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, float], AttackResult]


def default_attacks(budget: Budget | str, n_classes: int) -> tuple[str, ...]:
    """The attacks an assessment runs when none are named: FGSM, PGD and APGD-CE; with the
    standard and thorough budgets also APGD-DLR (>= 3 classes) and APGD-T (>= 4 classes); with
    thorough also the black-box Square attack, which the masking checks hold the gradients to."""
    names = ["fgsm", "pgd", "apgd-ce"]
    if Budget(budget) is not Budget.QUICK:
        names += ["apgd-dlr"] if n_classes >= 3 else []
        names += ["apgd-t"] if n_classes >= 4 else []
    if Budget(budget) is Budget.THOROUGH:
        names += ["square"]
    return tuple(names)


def attack_plan(
    budget: Budget | str,
    n_classes: int,
    norm: str,
    clip: Any,
    seed: int,
    *,
    attacks: Sequence[str] | None = None,
    steps: int | None = None,
    step_size: float | None = None,
    random_start: bool | None = None,
    input_shape: Sequence[int] | None = None,
) -> dict[str, _Run]:
    """Attack name -> a call ``(module, x, y, eps)``, in the order they are reported.

    ``attacks`` names attacks of :data:`~pipeshield.attacks.evasion.ensemble.RUNNERS`
    (default: :func:`default_attacks`); the overrides are those of
    :class:`~pipeshield.attacks.evasion.ensemble.AttackOptions`.
    """
    opts = _options(budget, norm, clip, seed, steps, step_size, random_start, input_shape)
    names = check_attacks(attacks, n_classes) if attacks is not None else default_attacks(budget, n_classes)

    def bind(name: str) -> _Run:
        runner = RUNNERS[name]
        return lambda m, x, y, e: runner(m, x, y, e, opts)

    return {name: bind(name) for name in names}


def _made_legal(
    module: torch.nn.Module,
    domain: Domain,
    x: torch.Tensor,
    y: torch.Tensor,
    x_adv: torch.Tensor,
    success: torch.Tensor,
    norm: str,
    eps: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Adversarials made legal for the domain (integers whole), re-asked of the model."""
    fixed = domain.finalize(x.cpu().numpy(), x_adv.detach().cpu().numpy(), norm, eps)
    legal = torch.as_tensor(fixed, dtype=x.dtype, device=x.device)
    with frozen(module), torch.no_grad():
        still = module(legal).argmax(dim=1) != y
    return legal, success & still


def _options(
    budget: Budget | str,
    norm: str,
    clip: Any,
    seed: int,
    steps: int | None,
    step_size: float | None,
    random_start: bool | None,
    input_shape: Sequence[int] | None,
) -> AttackOptions:
    if steps is not None and steps < 1:
        raise ValueError("steps must be >= 1")
    return AttackOptions(
        norm=check_norm(norm), budget=Budget(budget), clip=clip, seed=seed, steps=steps,
        step_size=step_size, random_start=random_start,
        input_shape=tuple(int(v) for v in input_shape) if input_shape is not None else None,
    )


@dataclass(frozen=True)
class EvasionAssessment:
    """Numbers of one assessment; every per-epsilon tuple is aligned with ``eps_grid``.

    ``attack_success_rate`` is the share of *correctly classified* inputs the ensemble flips;
    ``median_perturbation`` the median ``norm`` size of the smallest successful perturbation per
    flipped input (NaN when none). ``flipped`` (per eps, one bool per input) lets the masking checks
    ask which inputs the attacks missed; ``seconds`` is each attack's wall time, all epsilons.
    """

    norm: str
    eps_grid: tuple[float, ...]
    n_inputs: int
    n_classes: int
    clean_accuracy: float
    robust_accuracy: dict[str, tuple[float, ...]]
    ensemble: tuple[float, ...]
    attack_success_rate: tuple[float, ...]
    median_perturbation: tuple[float, ...]
    settings: dict[str, Any]
    clean_correct: np.ndarray = field(repr=False, compare=False)
    flipped: tuple[np.ndarray, ...] = field(repr=False, compare=False)
    seconds: dict[str, float] = field(default_factory=dict, compare=False)

    def _index(self, eps: float) -> int:
        for i, e in enumerate(self.eps_grid):
            if math.isclose(e, eps, rel_tol=1e-9, abs_tol=1e-12):
                return i
        raise KeyError(f"eps {eps} is not in the assessed grid {list(self.eps_grid)}")

    def ensemble_at(self, eps: float) -> float:
        return self.ensemble[self._index(eps)]

    def success_rate_at(self, eps: float) -> float:
        return self.attack_success_rate[self._index(eps)]

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON-ready form (NaN becomes ``None``)."""

        def clean(v: float) -> float | None:
            return None if math.isnan(v) else round(v, 6)

        return {
            "norm": self.norm,
            "eps_grid": list(self.eps_grid),
            "n_inputs": self.n_inputs,
            "n_classes": self.n_classes,
            "clean_accuracy": clean(self.clean_accuracy),
            "robust_accuracy": {k: [clean(v) for v in vs] for k, vs in self.robust_accuracy.items()},
            "ensemble": [clean(v) for v in self.ensemble],
            "attack_success_rate": [clean(v) for v in self.attack_success_rate],
            "median_perturbation": [clean(v) for v in self.median_perturbation],
            "settings": self.settings,
        }


def assess_evasion(
    target_or_module: Any,
    x: Any,
    y: Any,
    *,
    norm: str = "linf",
    eps_grid: Sequence[float],
    clip: tuple[Any, Any] | None = None,
    budget: Budget | str = Budget.QUICK,
    seed: int = 0,
    batch_size: int = 256,
    attacks: Sequence[str] | None = None,
    steps: int | None = None,
    step_size: float | None = None,
    random_start: bool | None = None,
    input_shape: Sequence[int] | None = None,
    domain: Domain | None = None,
) -> EvasionAssessment:
    """Attack ``x`` (labels ``y`` as class indices) at every epsilon of ``eps_grid``.

    Attacks run only on inputs the model already classifies correctly (the others count as
    not robust), one batch at a time, so memory stays flat as the set grows. ``attacks`` and the
    overrides are those of :func:`attack_plan`; ``input_shape`` is for Square on flat rows.
    ``domain`` (instead of ``clip``) bounds every feature, pins frozen ones during the attack, and
    makes integer features whole afterwards; only adversarials that still fool the model when
    made legal count.
    """
    if domain is not None and clip is not None:
        raise ValueError("give clip or domain, not both")
    n_norm = check_norm(norm)
    grid = tuple(sorted({float(e) for e in eps_grid}))
    if not grid or grid[0] < 0:
        raise ValueError("eps_grid needs at least one epsilon, all >= 0")
    module = as_module(target_or_module)
    n = len(x)
    if n == 0:
        raise ValueError("cannot assess robustness on an empty set")
    budget = Budget(budget)
    opts = _options(budget, n_norm, clip, seed, steps, step_size, random_start, input_shape)
    plan: dict[str, _Run] | None = None
    seconds: dict[str, float] = {}
    n_classes = 0
    correct_all: list[np.ndarray] = []
    flipped_by: dict[str, list[list[np.ndarray]]] = {}
    best_norm: list[list[np.ndarray]] = [[] for _ in grid]
    for i in range(0, n, batch_size):
        with frozen(module), torch.no_grad():
            xb, yb = prepare(module, x[i : i + batch_size], y[i : i + batch_size])
            logits = module(xb)
        n_classes = int(logits.shape[1])
        if plan is None:
            plan = attack_plan(
                budget, n_classes, n_norm, clip, seed, attacks=attacks, steps=steps,
                step_size=step_size, random_start=random_start, input_shape=input_shape,
            )
            flipped_by = {name: [[] for _ in grid] for name in plan}
            seconds = dict.fromkeys(plan, 0.0)
        ok = (logits.argmax(dim=1) == yb).cpu().numpy()
        correct_all.append(ok)
        xo, yo = xb[torch.as_tensor(ok, device=xb.device)], yb[torch.as_tensor(ok, device=xb.device)]
        batch_opts = opts
        if domain is not None and len(xo):
            lo, hi = domain.clip_for(xo.cpu().numpy())
            batch_opts = replace(opts, clip=(
                torch.as_tensor(lo, dtype=xo.dtype, device=xo.device),
                torch.as_tensor(hi, dtype=xo.dtype, device=xo.device),
            ))
        for j, eps in enumerate(grid):
            smallest = np.full(len(ok), np.inf)
            for name in plan:
                hit = np.zeros(len(ok), dtype=bool)
                if eps > 0 and len(xo):
                    t0 = time.perf_counter()
                    res = RUNNERS[name](module, xo, yo, eps, batch_opts)
                    x_adv, succ = res.x_adv, res.success
                    if domain is not None and not domain.is_box:
                        x_adv, succ = _made_legal(module, domain, xo, yo, x_adv, succ, n_norm, eps)
                    seconds[name] += time.perf_counter() - t0
                    s = succ.cpu().numpy()
                    hit[ok] = s
                    size = lp_norm(x_adv - xo, n_norm).cpu().numpy()
                    sub = smallest[ok]
                    smallest[ok] = np.where(s, np.minimum(sub, size), sub)
                flipped_by[name][j].append(hit)
            best_norm[j].append(smallest)
    assert plan is not None
    correct = np.concatenate(correct_all)
    n_correct = int(correct.sum())
    flips = {name: tuple(np.concatenate(parts) for parts in per) for name, per in flipped_by.items()}
    ensemble_flips = tuple(
        np.logical_or.reduce([flips[name][j] for name in plan]) for j in range(len(grid))
    )

    def acc(flipped: np.ndarray) -> float:
        return float((correct & ~flipped).sum()) / n

    sizes = [np.concatenate(b) for b in best_norm]
    medians = tuple(
        float(np.median(s[np.isfinite(s)])) if np.isfinite(s).any() else float("nan") for s in sizes
    )
    return EvasionAssessment(
        norm=n_norm,
        eps_grid=grid,
        n_inputs=n,
        n_classes=n_classes,
        clean_accuracy=n_correct / n,
        robust_accuracy={name: tuple(acc(f) for f in flips[name]) for name in plan},
        ensemble=tuple(acc(f) for f in ensemble_flips),
        attack_success_rate=tuple(
            float(f.sum()) / n_correct if n_correct else float("nan") for f in ensemble_flips
        ),
        median_perturbation=medians,
        settings={
            **opts.settings(),
            "attacks": list(plan),
            "clip": [None if c is None else float(c) for c in clip] if clip is not None else None,
            "batch_size": batch_size,
            **({"domain": domain.to_dict()} if domain is not None else {}),
        },
        clean_correct=correct,
        flipped=ensemble_flips,
        seconds=seconds,
    )
