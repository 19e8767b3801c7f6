"""``evaluate``: every membership attack against one model, from one set of reference models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pipeshield.attacks.membership._predict import model_classes, predict_probabilities, signals
from pipeshield.attacks.membership._reference import (
    keep_mask,
    model_seeds,
    reference_signals,
    resolve_recipe,
)
from pipeshield.attacks.membership.attacks import ATTACKS, Signals
from pipeshield.attacks.membership.results import MembershipResult, measure
from pipeshield.core.executor import Executor

__all__ = ["evaluate"]


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
    position = {c: j for j, c in enumerate(classes.tolist())}
    unknown = sorted({v for v in y.tolist() if v not in position}, key=repr)
    if unknown:
        raise ValueError(
            f"y_{what} holds labels that are not among the model's classes "
            f"{classes.tolist()[:20]}: {unknown[:10]}"
        )
    return np.fromiter((position[v] for v in y.tolist()), dtype=np.intp, count=len(y))


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
    p_true, phi = signals(probs, label_index)
    correct = probs.argmax(axis=1) == label_index

    keep = keep_mask(n_reference, len(x_pool), seed)
    ref_p, ref_phi = reference_signals(
        recipe, x_pool, y_pool, label_index, classes, keep, model_seeds(n_reference, seed), executor, jobs
    )
    z_index = np.arange(n_targets, len(x_pool)) if population is not None else np.arange(n_targets)
    sig = Signals(
        target_p=p_true,
        target_phi=phi,
        target_max=probs.max(axis=1),
        target_correct=correct,
        ref_p=ref_p,
        ref_phi=ref_phi,
        keep=keep,
        n_targets=n_targets,
        z_index=z_index,
        rmia_a=rmia_a,
        rmia_gamma=rmia_gamma,
    )
    attacks = {
        spec.name: measure(spec.name, spec.method, spec.score(sig), n_m, delta=delta, confidence=confidence, top_k=top_k)
        for spec in ATTACKS.values()
        if n_reference >= spec.min_reference
    }
    notes = [
        f"{n_reference} reference models, each record IN for {n_reference // 2} of them",
        (
            f"{n_n} non-members: TPR at FPR alpha allows floor(alpha * {n_n}) false positives; "
            "TPR at 0.1% FPR needs thousands of non-members to mean anything"
        ),
        (
            "epsilon_lower_bound: Clopper-Pearson at the best threshold, Bonferroni-corrected over "
            "thresholds; a lower bound on the privacy loss, never a proof of privacy"
        ),
    ]
    if n_n < 1000:
        notes.append(f"with {n_n} < 1000 non-members, TPR at 0.1% FPR is the TPR at zero false positives")
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
        notes=tuple(notes),
    )
