"""The AutoAttack-style "standard" ensemble, the attack budgets, and the registry of named attacks.

AutoAttack (Croce & Hein 2020) reports, per input, the worst case over APGD-CE, APGD-T (targeted
DLR, 9 target classes) and the black-box Square attack: a point survives only if *every* attack
fails on it. Each attack runs only on the inputs all earlier ones failed on, so the ensemble costs
at most the sum of the attacks run alone (much less on a weak model, where APGD-CE already fools
nearly everything). Square reaches the torch model through a tiny scores-only adapter, so it sees
exactly what a black-box attacker would: it is the cross-check that catches a masked gradient.

    >>> res = ensemble_attack(model, x, y, eps=0.3, budget="standard", clip=(0.0, 1.0))  # doctest: +SKIP
    >>> res.robust_accuracy, {k: int(v.sum()) for k, v in res.found_by.items()}  # doctest: +SKIP
    (0.0, {'apgd-ce': 181, 'apgd-t': 3, 'square': 0})

Every named attack is one entry of :data:`RUNNERS` (``(module, x, y, eps, options) -> result``),
which both this ensemble and :func:`~pipeshield.attacks.evasion.assess.assess_evasion` use.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from pipeshield.attacks.evasion._engine import (
    AttackResult,
    as_module,
    check_result,
    frozen,
    prepare,
)
from pipeshield.attacks.evasion.auto_pgd import apgd, apgd_targeted, take_bound
from pipeshield.attacks.evasion.projected_gradient import fgsm, pgd
from pipeshield.attacks.evasion.projections import Bound, Norm, check_norm
from pipeshield.attacks.evasion.square_attack import square

__all__ = [
    "BUDGETS",
    "RUNNERS",
    "STANDARD_ENSEMBLE",
    "AttackOptions",
    "Budget",
    "BudgetSpec",
    "EnsembleResult",
    "check_attacks",
    "ensemble_attack",
]


class Budget(enum.StrEnum):
    """How hard the attacks try: ``quick`` for CI, ``standard`` (AutoAttack's standard) for a
    release decision, ``thorough`` (more iterations and restarts) for a claim of robustness."""

    QUICK = "quick"
    STANDARD = "standard"
    THOROUGH = "thorough"


@dataclass(frozen=True)
class BudgetSpec:
    """Iterations per gradient attack, restarts (PGD, APGD, and per target of APGD-T), target
    classes of APGD-T, and queries per input (per restart) of Square."""

    steps: Mapping[str, int]
    restarts: int
    n_target_classes: int
    square_queries: int


BUDGETS: dict[Budget, BudgetSpec] = {
    Budget.QUICK: BudgetSpec(
        {"pgd": 10, "apgd-ce": 20, "apgd-dlr": 20, "apgd-t": 20}, 1, 3, 300
    ),
    Budget.STANDARD: BudgetSpec(
        {"pgd": 40, "apgd-ce": 100, "apgd-dlr": 100, "apgd-t": 100}, 1, 9, 5000
    ),
    Budget.THOROUGH: BudgetSpec(
        {"pgd": 100, "apgd-ce": 100, "apgd-dlr": 100, "apgd-t": 100}, 5, 9, 10000
    ),
}

#: AutoAttack's standard version without FAB-T (REFERENCES.md), in the order it runs.
STANDARD_ENSEMBLE: tuple[str, ...] = ("apgd-ce", "apgd-t", "square")


@dataclass(frozen=True)
class AttackOptions:
    """Everything a named attack needs besides the inputs: the threat model, the budget, and
    the user's overrides (``steps`` for every iterative gradient attack, ``step_size`` for PGD
    only, ``random_start`` for PGD and APGD; ``None`` keeps each attack's default)."""

    norm: Norm = "linf"
    budget: Budget = Budget.STANDARD
    clip: tuple[Bound, Bound] | None = None
    seed: int = 0
    steps: int | None = None
    step_size: float | None = None
    random_start: bool | None = None
    input_shape: tuple[int, ...] | None = None

    @property
    def spec(self) -> BudgetSpec:
        return BUDGETS[self.budget]

    def steps_for(self, name: str) -> int:
        return self.steps if self.steps is not None else self.spec.steps[name]

    def settings(self) -> dict[str, Any]:
        """The effective settings, JSON-ready."""
        return {
            "budget": self.budget.value,
            "steps": {k: self.steps_for(k) for k in self.spec.steps},
            "restarts": self.spec.restarts,
            "n_target_classes": self.spec.n_target_classes,
            "square_queries": self.spec.square_queries,
            "step_size": self.step_size,
            "random_start": self.random_start,
            "seed": self.seed,
        }


Runner = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, float, AttackOptions], AttackResult]


def _fgsm(m: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, o: AttackOptions) -> AttackResult:
    return fgsm(m, x, y, eps=eps, norm=o.norm, clip=o.clip)


def _pgd(m: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, o: AttackOptions) -> AttackResult:
    return pgd(
        m, x, y, eps=eps, norm=o.norm, steps=o.steps_for("pgd"), step_size=o.step_size,
        random_start=bool(o.random_start), restarts=o.spec.restarts, clip=o.clip, seed=o.seed,
    )


def _apgd(loss: str) -> Runner:
    name = f"apgd-{loss}"

    def run(m: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, o: AttackOptions) -> AttackResult:
        return apgd(
            m, x, y, eps=eps, norm=o.norm, steps=o.steps_for(name), loss=loss,
            random_start=o.random_start is not False, restarts=o.spec.restarts, clip=o.clip,
            seed=o.seed,
        )

    return run


def _apgd_t(m: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, o: AttackOptions) -> AttackResult:
    return apgd_targeted(
        m, x, y, eps=eps, norm=o.norm, steps=o.steps_for("apgd-t"),
        n_target_classes=o.spec.n_target_classes, restarts=o.spec.restarts,
        random_start=o.random_start is not False, clip=o.clip, seed=o.seed,
    )


class _Scores:
    """A torch module seen as a black box: ``predict_proba`` on flat numpy rows.

    Probabilities are the float64 softmax of the float32 logits, so the log-probability margin
    Square minimises keeps its resolution on confident inputs."""

    white_box = False
    classes = None

    def __init__(self, module: torch.nn.Module, like: torch.Tensor) -> None:
        self.module, self.shape, self.dtype, self.device = module, like.shape[1:], like.dtype, like.device

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        xt = torch.as_tensor(rows, dtype=self.dtype, device=self.device).reshape(-1, *self.shape)
        with torch.no_grad():
            return torch.softmax(self.module(xt).double(), dim=1).cpu().numpy()


def _np_bound(b: Bound) -> Any:
    return b.detach().cpu().numpy() if isinstance(b, torch.Tensor) else b


def _rows(b: Any, idx: np.ndarray, ndim: int) -> Any:
    return b[idx] if np.ndim(b) == ndim else b


def _square(m: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, o: AttackOptions) -> AttackResult:
    clip: tuple[Any, Any] | None = None if o.clip is None else (
        -np.inf if o.clip[0] is None else _np_bound(o.clip[0]),
        np.inf if o.clip[1] is None else _np_bound(o.clip[1]),
    )
    per_input = clip is not None and any(np.ndim(b) == x.dim() and np.shape(b)[0] == len(x) for b in clip)
    scores = _Scores(m, x)
    x_np, y_np = x.detach().cpu().numpy(), y.cpu().numpy()
    x_adv = x_np.astype(np.float64)
    found = np.zeros(len(x_np), dtype=bool)
    with frozen(m):
        for r in range(o.spec.restarts):  # later restarts: a new seed, on the inputs still standing
            idx = np.flatnonzero(~found)
            if len(idx) == 0:
                break
            sub_clip = clip
            if clip is not None and per_input:
                sub_clip = (_rows(clip[0], idx, x.dim()), _rows(clip[1], idx, x.dim()))
            res = square(
                scores, x_np[idx], y_np[idx], eps=eps, norm=o.norm,
                max_queries=o.spec.square_queries, clip=sub_clip, input_shape=o.input_shape,
                seed=o.seed + r,
            )
            keep = res.success if r else np.ones(len(idx), dtype=bool)
            x_adv[idx[keep]] = res.x_adv[keep]
            found[idx] |= res.success
    return AttackResult(
        torch.as_tensor(x_adv, dtype=x.dtype, device=x.device),
        torch.as_tensor(found, device=x.device),
    )


#: Named attacks, each ``(module, x, y, eps, options) -> AttackResult`` with untargeted success.
RUNNERS: dict[str, Runner] = {
    "fgsm": _fgsm,
    "pgd": _pgd,
    "apgd-ce": _apgd("ce"),
    "apgd-dlr": _apgd("dlr"),
    "apgd-t": _apgd_t,
    "square": _square,
}


def check_attacks(names: Sequence[str], n_classes: int | None = None) -> tuple[str, ...]:
    """Validate attack names (unknown names and untargeted DLR below 3 classes are errors)."""
    out = tuple(dict.fromkeys(names))
    if not out:
        raise ValueError("need at least one attack")
    unknown = [a for a in out if a not in RUNNERS]
    if unknown:
        raise ValueError(f"unknown attack(s) {unknown}; choose from {sorted(RUNNERS)}")
    if n_classes is not None and n_classes < 3 and "apgd-dlr" in out:
        raise ValueError(f"apgd-dlr needs at least 3 classes, the model has {n_classes}")
    return out


@dataclass(frozen=True)
class EnsembleResult(AttackResult):
    """The per-input worst case: ``success`` is True where the model is wrong at ``x_adv``
    (inputs misclassified clean included, left unchanged). ``found_by[attack]`` marks the inputs
    that attack flipped first (disjoint masks); ``seconds[attack]`` is its wall time."""

    clean_correct: torch.Tensor = field(repr=False)
    found_by: dict[str, torch.Tensor] = field(repr=False)
    seconds: dict[str, float]
    settings: dict[str, Any]

    @property
    def robust_accuracy(self) -> float:
        return float((~self.success).sum()) / len(self.success) if len(self.success) else 0.0


def ensemble_attack(
    model: Any,
    x: Any,
    y: Any,
    *,
    eps: float,
    norm: str = "linf",
    budget: Budget | str = Budget.STANDARD,
    attacks: Sequence[str] = STANDARD_ENSEMBLE,
    clip: tuple[Bound, Bound] | None = None,
    seed: int = 0,
    input_shape: Sequence[int] | None = None,
    options: AttackOptions | None = None,
) -> EnsembleResult:
    """Run ``attacks`` in order, each only on the correctly classified inputs that every earlier
    attack failed on; return the per-input worst case.

    ``input_shape`` tells Square the image shape of flat rows (``(h, w)`` or ``(c, h, w)``);
    image tensors need none. ``options`` (advanced) replaces ``norm``/``budget``/``clip``/``seed``
    with a full :class:`AttackOptions`. The whole set is one batch: stream large sets through
    :func:`~pipeshield.attacks.evasion.api.evaluate` instead. Deterministic for a given ``seed``.
    """
    opts = options or AttackOptions(
        norm=check_norm(norm), budget=Budget(budget), clip=clip, seed=seed,
        input_shape=tuple(int(v) for v in input_shape) if input_shape is not None else None,
    )
    if eps < 0:
        raise ValueError("need eps >= 0")
    module = as_module(model)
    with frozen(module):
        xt, yt = prepare(module, x, y)
        with torch.no_grad():
            logits = module(xt)
    names = check_attacks(attacks, int(logits.shape[1]))
    correct = logits.argmax(dim=1) == yt
    success = ~correct
    x_adv = xt.clone()
    found_by = {a: torch.zeros_like(success) for a in names}
    seconds = dict.fromkeys(names, 0.0)
    for name in names:
        idx = (~success).nonzero().squeeze(1)
        if len(idx) == 0 or eps == 0:
            continue
        t0 = time.perf_counter()
        sub = opts if opts.clip is None else replace(
            opts, clip=(take_bound(opts.clip[0], idx, xt), take_bound(opts.clip[1], idx, xt))
        )
        res = RUNNERS[name](module, xt[idx], yt[idx], eps, sub)
        seconds[name] = time.perf_counter() - t0
        hit = idx[res.success]
        x_adv[hit] = res.x_adv[res.success]
        found_by[name][hit] = True
        success[hit] = True
    check_result(xt, x_adv, opts.norm, eps, *(opts.clip or (None, None)))
    return EnsembleResult(
        x_adv, success, correct, found_by, seconds,
        {**opts.settings(), "attacks": list(names), "eps": eps, "norm": opts.norm},
    )
