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
result equals ``evaluate(...)`` with the same arguments.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pipeshield.attacks.membership._predict import model_classes, predict_probabilities, signals
from pipeshield.attacks.membership._reference import (
    PARALLEL_FROM,
    Recipe,
    keep_mask,
    model_seeds,
    resolve_recipe,
)
from pipeshield.attacks.membership.api import _label_index, _rows
from pipeshield.attacks.membership.attacks import ATTACKS, Signals
from pipeshield.attacks.membership.results import MembershipResult, measure
from pipeshield.core.executor import Executor, SerialExecutor, get_executor

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


@dataclass(frozen=True)
class _Job:
    index: int
    seed: int
    recipe: Recipe
    x_train: NDArray[Any]
    y_train: NDArray[Any]
    x_pool: NDArray[Any]
    classes: NDArray[Any]


def _run_job(job: _Job) -> Probs:
    """Train one reference model and return its full probabilities on the pool (in a worker)."""
    model = job.recipe.fit(job.x_train, job.y_train, job.seed)
    return predict_probabilities(model, job.x_pool, job.classes)


def _reference_probabilities(
    recipe: Recipe,
    x_pool: NDArray[Any],
    y_pool: NDArray[Any],
    classes: NDArray[Any],
    keep: NDArray[np.bool_],
    seeds: list[int],
    executor: str | Executor | None,
    jobs: int | None,
) -> NDArray[np.float64]:
    """``(n_reference, n_pool, n_classes)``: every reference model's answers, at full precision."""
    n_ref = len(keep)
    work = [_Job(i, seeds[i], recipe, x_pool[keep[i]], y_pool[keep[i]], x_pool, classes) for i in range(n_ref)]
    if executor is None:
        executor = "local" if n_ref >= PARALLEL_FROM else "serial"
    runner = get_executor(executor, jobs) if isinstance(executor, str) else executor
    out = np.empty((n_ref, len(x_pool), len(classes)), dtype=np.float64)
    retry: list[_Job] = []
    for job, result in runner.map_unordered(_run_job, work):
        if isinstance(result, BaseException):
            retry.append(job)
        else:
            out[job.index] = result
    if retry:
        # As in evaluate(): a dead worker or a recipe that cannot be sent (a lambda, a local
        # function) is trained here instead; a genuine training error raises.
        for job, result in SerialExecutor().map_unordered(_run_job, sorted(retry, key=lambda j: j.index)):
            out[job.index] = result  # type: ignore[assignment]
        warnings.warn(
            f"{len(retry)} of {n_ref} reference models could not run in worker processes and were "
            "trained in this process (a train_fn defined at module level can be sent to workers)",
            RuntimeWarning,
            stacklevel=3,
        )
    return out


def _attack(
    probs: Probs,
    ref_probs: NDArray[np.float64],
    label_index: NDArray[np.intp],
    keep: NDArray[np.bool_],
    n_m: int,
    n_n: int,
    z_index: NDArray[np.intp],
    *,
    rmia_a: float,
    rmia_gamma: float,
    delta: float,
    confidence: float,
    top_k: int,
) -> dict[str, Any]:
    p_true, phi = signals(probs, label_index)
    ref = [signals(r, label_index) for r in ref_probs]
    sig = Signals(
        target_p=p_true,
        target_phi=phi,
        target_max=probs.max(axis=1),
        target_correct=probs.argmax(axis=1) == label_index,
        ref_p=np.stack([p for p, _ in ref]),
        ref_phi=np.stack([f for _, f in ref]),
        keep=keep,
        n_targets=n_m + n_n,
        z_index=z_index,
        rmia_a=rmia_a,
        rmia_gamma=rmia_gamma,
    )
    return {
        spec.name: measure(spec.name, spec.method, spec.score(sig), n_m, delta=delta, confidence=confidence, top_k=top_k)
        for spec in ATTACKS.values()
        if len(keep) >= spec.min_reference
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

    Arguments as for :func:`~pipeshield.attacks.membership.evaluate` (without ``population``);
    ``policies`` are :class:`~pipeshield.gateway.output_policy.OutputPolicy` objects, applied to
    the target's answers and to the reference models' alike. Raises ValueError as ``evaluate``
    does, and for two policies with the same name.
    """
    if isinstance(n_reference, bool) or not isinstance(n_reference, int | np.integer):
        raise TypeError(f"n_reference must be an integer, got {n_reference!r}")
    if n_reference < 2:
        raise ValueError(
            f"n_reference={n_reference}: LiRA online needs >= 2 reference models "
            "(at least one IN and one OUT model for every record)"
        )
    names = [p.name for p in policies]
    if len(set(names)) != len(names) or "full" in names:
        raise ValueError(f"policies must have distinct names other than 'full', got {names}")
    xm, ym = _rows(x_members, y_members, "members")
    xn, yn = _rows(x_nonmembers, y_nonmembers, "nonmembers")
    if xm.shape[1:] != xn.shape[1:]:
        raise ValueError(f"members have shape {xm.shape[1:]} per record but non-members {xn.shape[1:]}")
    recipe = resolve_recipe(model, train_fn, template)

    x_pool, y_pool = np.concatenate([xm, xn]), np.concatenate([ym, yn])
    n_m, n_n = len(xm), len(xn)
    probs = predict_probabilities(model, x_pool)
    classes = model_classes(model, probs.shape[1])
    label_index = np.concatenate([_label_index(ym, classes, "members"), _label_index(yn, classes, "nonmembers")])
    keep = keep_mask(n_reference, len(x_pool), seed)
    ref_probs = _reference_probabilities(
        recipe, x_pool, y_pool, classes, keep, model_seeds(n_reference, seed), executor, jobs
    )
    z_index = np.arange(n_m + n_n)
    options = {"rmia_a": rmia_a, "rmia_gamma": rmia_gamma, "delta": delta, "confidence": confidence, "top_k": top_k}
    notes = (
        f"{n_reference} reference models, each record IN for {n_reference // 2} of them",
        (
            f"{n_n} non-members: TPR at FPR alpha allows floor(alpha * {n_n}) false positives; "
            "TPR at 0.1% FPR needs thousands of non-members to mean anything"
        ),
        (
            "epsilon_lower_bound: Clopper-Pearson at the best threshold, Bonferroni-corrected over "
            "thresholds; a lower bound on the privacy loss, never a proof of privacy"
        ),
    ) + ((f"with {n_n} < 1000 non-members, TPR at 0.1% FPR is the TPR at zero false positives",) if n_n < 1000 else ())

    def result(p: Probs, refs: NDArray[np.float64], extra: tuple[str, ...] = ()) -> MembershipResult:
        attacks = _attack(p, refs, label_index, keep, n_m, n_n, z_index, **options)  # type: ignore[arg-type]
        correct = p.argmax(axis=1) == label_index
        return MembershipResult(
            attacks=attacks,
            n_reference=n_reference,
            n_members=n_m,
            n_nonmembers=n_n,
            n_population=0,
            train_accuracy=float(correct[:n_m].mean()),
            test_accuracy=float(correct[n_m:].mean()),
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
