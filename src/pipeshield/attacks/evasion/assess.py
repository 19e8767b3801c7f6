"""Robustness assessment: clean accuracy, robust accuracy per attack and per epsilon, and the
per-input worst case across attacks (the "ensemble"), streamed in batches.

One attack's robust accuracy is only an upper bound on the true one; the ensemble takes, for each
input, the worst case over FGSM, PGD and APGD (CE, and DLR when there are >= 3 classes), which is
the number a robustness researcher would report (REFERENCES.md, AutoAttack). Each attack is also
kept on its own, because the gradient-masking checks compare them (an iterative attack that loses
to a single step points at a broken gradient, not at a robust model).

    >>> a = assess_evasion(model, x, y, eps_grid=[0, 0.1, 0.3], clip=(0.0, 1.0))  # doctest: +SKIP
    >>> a.ensemble_at(0.1)  # doctest: +SKIP
    0.04
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from pipeshield.attacks.evasion._engine import AttackResult, as_module, frozen, prepare
from pipeshield.attacks.evasion.auto_pgd import apgd
from pipeshield.attacks.evasion.projected_gradient import fgsm, pgd
from pipeshield.attacks.evasion.projections import check_norm, lp_norm

__all__ = ["Budget", "EvasionAssessment", "assess_evasion", "attack_plan"]


class Budget(enum.StrEnum):
    """How hard the attacks try: ``quick`` for CI, ``standard`` for a release decision."""

    QUICK = "quick"
    STANDARD = "standard"


#: Iterations per attack and budget. DLR runs only with the standard budget (and >= 3 classes).
_STEPS: dict[Budget, dict[str, int]] = {
    Budget.QUICK: {"pgd": 10, "apgd-ce": 20},
    Budget.STANDARD: {"pgd": 40, "apgd-ce": 100, "apgd-dlr": 100},
}
RESTARTS = 1

_Run = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, float], AttackResult]


def attack_plan(
    budget: Budget | str, n_classes: int, norm: str, clip: Any, seed: int
) -> dict[str, _Run]:
    """Attack name -> a call ``(module, x, y, eps)``, in the order they are reported."""
    steps = _STEPS[Budget(budget)]
    plan: dict[str, _Run] = {
        "fgsm": lambda m, x, y, e: fgsm(m, x, y, eps=e, norm=norm, clip=clip),
        "pgd": lambda m, x, y, e: pgd(
            m, x, y, eps=e, norm=norm, steps=steps["pgd"], restarts=RESTARTS, clip=clip, seed=seed
        ),
        "apgd-ce": lambda m, x, y, e: apgd(
            m, x, y, eps=e, norm=norm, steps=steps["apgd-ce"], loss="ce", clip=clip, seed=seed
        ),
    }
    if "apgd-dlr" in steps and n_classes >= 3:
        plan["apgd-dlr"] = lambda m, x, y, e: apgd(
            m, x, y, eps=e, norm=norm, steps=steps["apgd-dlr"], loss="dlr", clip=clip, seed=seed
        )
    return plan


@dataclass(frozen=True)
class EvasionAssessment:
    """Numbers of one assessment; every per-epsilon tuple is aligned with ``eps_grid``.

    ``attack_success_rate`` is the share of *correctly classified* inputs the ensemble flips;
    ``median_perturbation`` the median ``norm`` size of the smallest successful perturbation per
    flipped input (NaN when none). ``flipped`` (per eps, one bool per input) lets the masking checks
    ask which inputs the gradient attacks missed.
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
) -> EvasionAssessment:
    """Attack ``x`` (labels ``y`` as class indices) at every epsilon of ``eps_grid``.

    Attacks run only on inputs the model already classifies correctly (the others count as
    not robust), one batch at a time, so memory stays flat as the set grows.
    """
    n_norm = check_norm(norm)
    grid = tuple(sorted({float(e) for e in eps_grid}))
    if not grid or grid[0] < 0:
        raise ValueError("eps_grid needs at least one epsilon, all >= 0")
    module = as_module(target_or_module)
    n = len(x)
    if n == 0:
        raise ValueError("cannot assess robustness on an empty set")
    budget = Budget(budget)
    plan: dict[str, _Run] | None = None
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
            plan = attack_plan(budget, n_classes, n_norm, clip, seed)
            flipped_by = {name: [[] for _ in grid] for name in plan}
        ok = (logits.argmax(dim=1) == yb).cpu().numpy()
        correct_all.append(ok)
        xo, yo = xb[torch.as_tensor(ok, device=xb.device)], yb[torch.as_tensor(ok, device=xb.device)]
        for j, eps in enumerate(grid):
            smallest = np.full(len(ok), np.inf)
            for name, run in plan.items():
                hit = np.zeros(len(ok), dtype=bool)
                if eps > 0 and len(xo):
                    res = run(module, xo, yo, eps)
                    s = res.success.cpu().numpy()
                    hit[ok] = s
                    size = lp_norm(res.x_adv - xo, n_norm).cpu().numpy()
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
            "budget": budget.value,
            "attacks": list(plan),
            "steps": dict(_STEPS[budget]),
            "restarts": RESTARTS,
            "seed": seed,
            "clip": [None if c is None else float(c) for c in clip] if clip is not None else None,
            "batch_size": batch_size,
        },
        clean_correct=correct,
        flipped=ensemble_flips,
    )
