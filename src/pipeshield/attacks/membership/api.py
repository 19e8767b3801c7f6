"""``evaluate``: every membership attack against one model, from one set of reference models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numpy.typing import ArrayLike

from pipeshield.attacks.membership.controls import evaluate_controls
from pipeshield.attacks.membership.results import MembershipResult
from pipeshield.core.executor import Executor

__all__ = ["evaluate"]


def evaluate(
    model: Any,
    x_members: ArrayLike,
    y_members: ArrayLike,
    x_nonmembers: ArrayLike,
    y_nonmembers: ArrayLike,
    *,
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
) -> MembershipResult:
    """Run every registered membership attack on ``model`` and measure it.

    ``model`` is a fitted scikit-learn classifier, a ``torch.nn.Module`` (outputs logits; needs
    ``train_fn``), or any object with ``predict_proba`` (a black box: needs ``train_fn`` or a
    scikit-learn ``template``). ``x_members``/``y_members`` are records the model trained on,
    ``x_nonmembers``/``y_nonmembers`` records it did not; the attacks never see which is which.

    ``n_reference`` reference models are trained with the user's recipe -- ``train_fn(x, y, *,
    seed) -> model``, else ``sklearn.base.clone(template or model).fit(x, y)`` -- each on a random
    half of members + non-members (+ ``population``), every record IN for ``n_reference // 2`` of
    them. ``population=(x, y)`` adds records known to be outside the target's training set: they
    enlarge the reference models' data and are RMIA's comparison records ``z`` (without it, ``z``
    are the judged records themselves). Training fans out through ``executor`` (a name from
    :mod:`pipeshield.core.executor` or an executor; default: local processes from 8 models up).

    Deterministic for a given ``seed`` (given a deterministic ``train_fn``).

    Raises ValueError for mismatched lengths, labels outside the model's classes, a recipe that
    cannot be found, or ``n_reference < 2`` (LiRA online needs an IN and an OUT model per record).
    """
    return evaluate_controls(
        model, x_members, y_members, x_nonmembers, y_nonmembers,
        n_reference=n_reference, train_fn=train_fn, seed=seed, population=population, template=template,
        executor=executor, jobs=jobs, rmia_a=rmia_a, rmia_gamma=rmia_gamma, delta=delta,
        confidence=confidence, top_k=top_k,
    ).full
