"""The attack registry, :func:`robust_accuracy`, and :func:`evaluate`: the one call that gives
a robustness number worth reporting (see the package docstring).

    >>> ev = evaluate(model, x, y, eps=[0.0, 0.1, 0.3], clip=(0.0, 1.0))  # doctest: +SKIP
    >>> ev.worst_case[0.1], [m.name for m in ev.masking]  # doctest: +SKIP
    (0.02, [])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from pipeshield.attacks.evasion._engine import AttackResult, as_module, frozen, prepare
from pipeshield.attacks.evasion.assess import EvasionAssessment, assess_evasion
from pipeshield.attacks.evasion.auto_pgd import apgd, apgd_targeted
from pipeshield.attacks.evasion.ensemble import (
    STANDARD_ENSEMBLE,
    Budget,
    check_attacks,
    ensemble_attack,
)
from pipeshield.attacks.evasion.masking import MaskingResult, run_masking_checks
from pipeshield.attacks.evasion.projected_gradient import fgsm, pgd
from pipeshield.attacks.evasion.projections import check_norm

__all__ = ["ATTACKS", "DEFAULT_EPS", "Evaluation", "evaluate", "get_attack", "robust_accuracy"]

Attack = Callable[..., AttackResult]
ATTACKS: dict[str, Attack] = {
    "fgsm": fgsm,
    "pgd": pgd,
    "apgd": apgd,
    "apgd-t": apgd_targeted,
    "ensemble": ensemble_attack,
}

#: Epsilon grids used when none is given, for inputs scaled to [0, 1].
DEFAULT_EPS: dict[str, tuple[float, ...]] = {
    "linf": (0.0, 0.05, 0.1, 0.2, 0.3),
    "l2": (0.0, 0.25, 0.5, 1.0, 2.0),
}


def get_attack(attack: str | Attack) -> Attack:
    """An attack by registry name, or a callable with the attacks' signature passed through."""
    if callable(attack):
        return attack
    try:
        return ATTACKS[attack]
    except KeyError:
        raise ValueError(f"unknown attack {attack!r}; choose one of {sorted(ATTACKS)}") from None


def robust_accuracy(
    module: Any,
    x: Any,
    y: Any,
    attack: str | Attack = "pgd",
    eps: float = 0.3,
    batch_size: int = 256,
    **options: Any,
) -> float:
    """Fraction of inputs classified correctly *and* not fooled by ``attack`` within ``eps``.

    Streams ``x`` in batches of ``batch_size``: only one batch's gradients live at a time.
    ``options`` go to the attack (``norm``, ``steps``, ``clip``, ``seed``...).
    """
    fn = get_attack(attack)
    mod = as_module(module)
    n = len(x)
    if n == 0:
        raise ValueError("robust accuracy of an empty set is undefined")
    robust = 0
    for i in range(0, n, batch_size):
        with frozen(mod), torch.no_grad():
            xb, yb = prepare(mod, x[i : i + batch_size], y[i : i + batch_size])
            clean_ok = mod(xb).argmax(dim=1) == yb
        res = fn(mod, xb, yb, eps=eps, **options)
        robust += int((clean_ok & ~res.success).sum())
    return robust / n


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` found. Accuracies are over *all* inputs (a misclassified input is
    never robust); ``robust_accuracy[attack][eps]`` is that attack run alone on every input,
    ``worst_case[eps]`` the per-input worst case over all attacks run. ``masking`` lists the
    gradient-masking checks that flagged (empty when none did - which does not prove the
    gradient honest); ``checks`` holds all of them, ``assessment`` the full numbers."""

    clean_accuracy: float
    robust_accuracy: dict[str, dict[float, float]]
    worst_case: dict[float, float]
    masking: list[MaskingResult]
    checks: tuple[MaskingResult, ...] = field(repr=False)
    assessment: EvasionAssessment = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; epsilon keys become strings (JSON object keys), NaN becomes ``None``."""

        def num(v: float) -> float | None:
            return None if math.isnan(v) else round(v, 6)

        return {
            "clean_accuracy": num(self.clean_accuracy),
            "robust_accuracy": {
                a: {repr(e): num(v) for e, v in per.items()} for a, per in self.robust_accuracy.items()
            },
            "worst_case": {repr(e): num(v) for e, v in self.worst_case.items()},
            "masking": [_masking_dict(r) for r in self.masking],
            "checks": [_masking_dict(r) for r in self.checks],
            "seconds": {k: round(v, 3) for k, v in self.assessment.seconds.items()},
            "settings": self.assessment.settings,
            "n_inputs": self.assessment.n_inputs,
            "norm": self.assessment.norm,
        }


def _masking_dict(r: MaskingResult) -> dict[str, Any]:
    return {"name": r.name, "flagged": r.flagged, "message": r.message, "evidence": dict(r.evidence)}


def evaluate(
    model: Any,
    x: Any,
    y: Any,
    *,
    norm: str = "linf",
    eps: float | Sequence[float] | None = None,
    attacks: Sequence[str] | None = None,
    steps: int | None = None,
    step_size: float | None = None,
    random_start: bool = True,
    clip: tuple[Any, Any] | None = None,
    seed: int = 0,
    batch_size: int = 256,
    budget: Budget | str = Budget.STANDARD,
    input_shape: Sequence[int] | None = None,
) -> Evaluation:
    """Robust accuracy of ``model`` (a ``torch.nn.Module`` or a ``TorchTarget``) on ``x``, ``y``
    (class indices) at each epsilon, per attack and as the per-input worst case, plus the
    gradient-masking checks.

    ``attacks=None`` runs AutoAttack's standard ensemble: APGD-CE, APGD-T (targeted DLR, 9 target
    classes with the standard budget) and Square (black-box, 5,000 queries); otherwise name them
    from ``fgsm``, ``pgd``, ``apgd-ce``, ``apgd-dlr``, ``apgd-t``, ``square``. ``budget`` sets
    iterations, restarts and queries (``quick``, ``standard``, ``thorough``); ``steps``
    overrides the iterations of PGD and every APGD variant, ``step_size`` applies to PGD only
    (APGD adapts its own), ``random_start`` to PGD and APGD. ``eps`` defaults to
    :data:`DEFAULT_EPS` of the norm (inputs in [0, 1]). ``input_shape`` tells Square the image
    shape of flat rows.

    Each attack runs on every correctly classified input (its own column); the worst case is the
    per-input OR and costs nothing more (see :mod:`~pipeshield.attacks.evasion.assess`). The
    masking checks run at the largest epsilon; the single-step check needs ``fgsm`` among the
    attacks and reports itself as not run otherwise. A low number is evidence of weakness; a high
    one is an upper bound, not proof of robustness.
    """
    n_norm = check_norm(norm)
    if eps is None:
        grid: tuple[float, ...] = DEFAULT_EPS[n_norm]
    elif isinstance(eps, Sequence):
        grid = tuple(float(e) for e in eps)
    else:
        grid = (float(eps),)
    names = check_attacks(STANDARD_ENSEMBLE if attacks is None else attacks)
    module = as_module(model)
    a = assess_evasion(
        module, x, y, norm=n_norm, eps_grid=grid, clip=clip, budget=budget,
        seed=seed, batch_size=batch_size, attacks=names, steps=steps, step_size=step_size,
        random_start=random_start, input_shape=input_shape,
    )
    checks = tuple(
        run_masking_checks(module, x, y, a, eps=max(a.eps_grid), clip=clip, seed=seed)
    )
    return Evaluation(
        clean_accuracy=a.clean_accuracy,
        robust_accuracy={
            name: dict(zip(a.eps_grid, col, strict=True)) for name, col in a.robust_accuracy.items()
        },
        worst_case=dict(zip(a.eps_grid, a.ensemble, strict=True)),
        masking=[r for r in checks if r.flagged],
        checks=checks,
        assessment=a,
    )
