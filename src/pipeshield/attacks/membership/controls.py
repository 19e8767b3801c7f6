"""Controls measured: membership attacks re-run against the same model behind output hardening.

:func:`evaluate_controls` is :func:`~pipeshield.attacks.membership.evaluate` plus one re-run per
:class:`~pipeshield.gateway.output_policy.OutputPolicy` (rounded scores, top-1, label only), so a
report can say what each control bought from measurement: "label-only output cuts membership AUC
from 0.81 to 0.62".

    >>> from pipeshield.gateway.output_policy import STANDARD_POLICIES
    >>> res = evaluate_controls(model, xm, ym, xn, yn, policies=STANDARD_POLICIES)  # doctest: +SKIP
    >>> res.full.attacks["lira"].auc, res.controlled["label-only"].attacks["lira"].auc  # doctest: +SKIP
    (0.97, 0.61)

The reference models are trained once and reused for every policy: they are the cost, and with
the same seed :func:`evaluate` would train exactly the same ones. The attacker is assumed to know
the API's output policy and to apply it to its own reference models too, so that the target's
answers and the references' are compared like with like (the standard assumption; an attacker
who compared hardened answers with full-precision references would only do worse). The ``full``
result equals ``evaluate(...)`` with the same arguments: :func:`evaluate` *is* this function
with no policies, so both go through one path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pipeshield.attacks.membership._predict import model_classes, predict_probabilities, signals
from pipeshield.attacks.membership._reference import (
    keep_mask,
    model_seeds,
    reference_probabilities,
    resolve_recipe,
)
from pipeshield.attacks.membership.attacks import ATTACKS, Signals
from pipeshield.attacks.membership.results import MembershipResult, measure
from pipeshield.core.executor import Executor
from pipeshield.core.labels import class_columns

if TYPE_CHECKING:
    from pipeshield.gateway.output_policy import OutputPolicy

__all__ = ["ControlsResult", "evaluate_controls"]

Probs = NDArray[np.float64]


@dataclass(frozen=True)
class ControlsResult:
    """``full``: the attacks on the model's full outputs; ``controlled[policy name]``: the same
    attacks, same reference models, against the outputs that policy lets through."""

    full: MembershipResult
    controlled: Mapping[str, MembershipResult]
    policies: Mapping[str, dict[str, Any]]

    def to_dict(self, *, include_scores: bool = False) -> dict[str, Any]:
        return {
            "full": self.full.to_dict(include_scores=include_scores),
            "controls": {
                name: {"policy": self.policies[name], **r.to_dict(include_scores=include_scores)}
                for name, r in self.controlled.items()
            },
        }


def _rows(x: ArrayLike, y: ArrayLike, what: str) -> tuple[NDArray[Any], NDArray[Any]]:
    xa, ya = np.asarray(x), np.asarray(y)
    if xa.ndim == 0 or len(xa) == 0:
        raise ValueError(f"x_{what} is empty: membership needs at least one record on each side")
    if ya.ndim != 1:
        raise ValueError(f"y_{what} must be one label per record (1-D), got shape {ya.shape}")
    if len(xa) != len(ya):
        raise ValueError(f"x_{what} has {len(xa)} rows but y_{what} has {len(ya)} labels")
    return xa, ya


def _label_index(y: NDArray[Any], classes: NDArray[Any], what: str) -> NDArray[np.intp]:
    try:
        return class_columns(classes, y).astype(np.intp)
    except ValueError as err:
        raise ValueError(f"y_{what}: {err}") from None


def _check_options(n_reference: int, rmia_a: float, rmia_gamma: float, policies: Sequence[OutputPolicy]) -> None:
    if isinstance(n_reference, bool) or not isinstance(n_reference, int | np.integer):
        raise TypeError(f"n_reference must be an integer, got {n_reference!r}")
    if n_reference < 2:
        raise ValueError(
            f"n_reference={n_reference}: LiRA online needs >= 2 reference models "
            "(at least one IN and one OUT model for every record)"
        )
    if not 0.0 <= rmia_a <= 1.0:
        raise ValueError(f"rmia_a must be in [0, 1], got {rmia_a}")
    if rmia_gamma <= 0:
        raise ValueError(f"rmia_gamma must be > 0, got {rmia_gamma}")
    names = [p.name for p in policies]
    if len(set(names)) != len(names) or "full" in names:
        raise ValueError(f"policies must have distinct names other than 'full', got {names}")


def _notes(n_reference: int, n_n: int) -> tuple[str, ...]:
    """What every membership result says about its own limits."""
    notes: tuple[str, ...] = (
        f"{n_reference} reference models, each record IN for {n_reference // 2} of them",
        (
            f"{n_n} non-members: TPR at FPR alpha allows floor(alpha * {n_n}) false positives; "
            "TPR at 0.1% FPR needs thousands of non-members to mean anything"
        ),
        (
            "epsilon_lower_bound: Clopper-Pearson at the best threshold, Bonferroni-corrected over "
            "thresholds; a lower bound on the privacy loss, never a proof of privacy"
        ),
    )
    if n_n < 1000:
        notes += (f"with {n_n} < 1000 non-members, TPR at 0.1% FPR is the TPR at zero false positives",)
    return notes


@dataclass(frozen=True)
class _Pool:
    """Everything the attacks share across policies: who is who, and the reference models' split."""

    label_index: NDArray[np.intp]
    keep: NDArray[np.bool_]
    n_members: int
    n_nonmembers: int
    z_index: NDArray[np.intp]


def _measure(
    probs: Probs, ref_probs: NDArray[np.float64], pool: _Pool, *, rmia_a: float, rmia_gamma: float,
    delta: float, confidence: float, top_k: int,
) -> dict[str, Any]:
    """Every registered attack on one view of the outputs (the target's and the references')."""
    p_true, phi = signals(probs, pool.label_index)
    ref = [signals(r, pool.label_index) for r in ref_probs]
    sig = Signals(
        target_p=p_true,
        target_phi=phi,
        target_max=probs.max(axis=1),
        target_correct=probs.argmax(axis=1) == pool.label_index,
        ref_p=np.stack([p for p, _ in ref]),
        ref_phi=np.stack([f for _, f in ref]),
        keep=pool.keep,
        n_targets=pool.n_members + pool.n_nonmembers,
        z_index=pool.z_index,
        rmia_a=rmia_a,
        rmia_gamma=rmia_gamma,
    )
    n_m = pool.n_members
    return {
        spec.name: measure(spec.name, spec.method, spec.score(sig), n_m, delta=delta, confidence=confidence, top_k=top_k)
        for spec in ATTACKS.values()
        if len(pool.keep) >= spec.min_reference
    }


def evaluate_controls(
    model: Any,
    x_members: ArrayLike,
    y_members: ArrayLike,
    x_nonmembers: ArrayLike,
    y_nonmembers: ArrayLike,
    *,
    policies: Sequence[OutputPolicy] = (),
    n_reference: int = 16,
    train_fn: Callable[..., Any] | None = None,
    seed: int = 0,
    population: tuple[ArrayLike, ArrayLike] | None = None,
    template: Any = None,
    executor: str | Executor | None = None,
    jobs: int | None = None,
    rmia_a: float = 0.3,
    rmia_gamma: float = 1.0,
    delta: float = 1e-5,
    confidence: float = 0.95,
    top_k: int = 10,
) -> ControlsResult:
    """Every membership attack on ``model``'s full outputs and under each output ``policy``.

    Arguments as for :func:`~pipeshield.attacks.membership.evaluate`; ``policies`` are
    :class:`~pipeshield.gateway.output_policy.OutputPolicy` objects, applied to the target's
    answers and to the reference models' alike. Raises ValueError as ``evaluate`` does, and for
    two policies with the same name.
    """
    _check_options(n_reference, rmia_a, rmia_gamma, policies)
    xm, ym = _rows(x_members, y_members, "members")
    xn, yn = _rows(x_nonmembers, y_nonmembers, "nonmembers")
    parts_x, parts_y = [xm, xn], [ym, yn]
    if population is not None:
        if not isinstance(population, tuple | list) or len(population) != 2:
            raise ValueError("population must be a pair (x, y)")
        xp, yp = _rows(population[0], population[1], "population")
        parts_x.append(xp)
        parts_y.append(yp)
    shapes = {p.shape[1:] for p in parts_x}
    if len(shapes) != 1:
        raise ValueError(f"records have different shapes across sets: {sorted(map(str, shapes))}")
    recipe = resolve_recipe(model, train_fn, template)

    x_pool, y_pool = np.concatenate(parts_x), np.concatenate(parts_y)
    n_m, n_n = len(xm), len(xn)
    n_targets = n_m + n_n
    probs = predict_probabilities(model, x_pool)
    classes = model_classes(model, probs.shape[1])
    label_index = np.concatenate(
        [_label_index(y, classes, w) for y, w in zip(parts_y, ("members", "nonmembers", "population"))]
    )
    keep = keep_mask(n_reference, len(x_pool), seed)
    ref_probs = reference_probabilities(
        recipe, x_pool, y_pool, classes, keep, model_seeds(n_reference, seed), executor, jobs
    )
    # RMIA's comparison records: the population when given, else the judged records themselves.
    z_index = np.arange(n_targets, len(x_pool)) if population is not None else np.arange(n_targets)
    pool = _Pool(label_index, keep, n_m, n_n, z_index)
    notes = _notes(n_reference, n_n)

    def result(p: Probs, refs: NDArray[np.float64], extra: tuple[str, ...] = ()) -> MembershipResult:
        attacks = _measure(
            p, refs, pool, rmia_a=rmia_a, rmia_gamma=rmia_gamma, delta=delta, confidence=confidence, top_k=top_k
        )
        correct = p.argmax(axis=1) == label_index
        return MembershipResult(
            attacks=attacks,
            n_reference=n_reference,
            n_members=n_m,
            n_nonmembers=n_n,
            n_population=len(x_pool) - n_targets,
            train_accuracy=float(correct[:n_m].mean()),
            test_accuracy=float(correct[n_m:n_targets].mean()),
            seed=seed,
            settings={"rmia_a": rmia_a, "rmia_gamma": rmia_gamma, "delta": delta, "confidence": confidence},
            notes=notes + extra,
        )

    controlled = {}
    for policy in policies:
        hardened_refs = np.stack([policy.apply(r) for r in ref_probs])
        said = f"output policy {policy.name}: the attacker sees {policy.describe()} (its reference models too)"
        controlled[policy.name] = result(policy.apply(probs), hardened_refs, (said,))
    return ControlsResult(
        full=result(probs, ref_probs),
        controlled=controlled,
        policies={p.name: p.to_dict() for p in policies},
    )
