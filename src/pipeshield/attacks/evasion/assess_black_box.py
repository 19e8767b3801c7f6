"""Robustness assessment of a black-box model (scikit-learn, ONNX, an HTTP endpoint): only queries.

Three attackers, from the strongest access to the weakest:

- ``square``: sees the scores (``predict_proba``) - the Square attack, per epsilon;
- ``transfer``: crafts PGD on a surrogate the caller trained (e.g. by distilling the target on
  its training inputs, :func:`~pipeshield.attacks.evasion.transfer.train_surrogate`) and replays
  each adversarial input once;
- ``hop-skip-jump``: sees only the predicted label - one HopSkipJump run per input finds a small
  adversarial perturbation, which answers every epsilon of the curve at once.

Every adversarial input is made legal for the data domain (integer features whole, frozen ones
untouched, see :mod:`~pipeshield.attacks.evasion.domain`) and re-asked of the target before it
counts, and every query is counted. The result is the same :class:`EvasionAssessment` as the
white-box one, so the check, the CLI and the report treat both alike.

    >>> a = assess_black_box(target, x, y, eps_grid=[0, 0.1, 0.3], domain=Domain.box(64, (0, 1)))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeshield.attacks.evasion.assess import Budget, EvasionAssessment
from pipeshield.attacks.evasion.domain import Domain
from pipeshield.attacks.evasion.hop_skip_jump import hop_skip_jump
from pipeshield.attacks.evasion.projections import check_norm
from pipeshield.attacks.evasion.square_attack import square

__all__ = ["QUERIES", "assess_black_box"]

#: Query budget per input and attack.
QUERIES: dict[Budget, dict[str, int]] = {
    Budget.QUICK: {"square": 300, "hop-skip-jump": 300},
    Budget.STANDARD: {"square": 2000, "hop-skip-jump": 1000},
    Budget.THOROUGH: {"square": 5000, "hop-skip-jump": 2500},
}


def _predict_columns(target: Any, x: np.ndarray) -> np.ndarray:
    probs = np.asarray(target.predict_proba(x.reshape(len(x), -1)))
    return np.asarray(probs.argmax(axis=1), dtype=np.int64)


def _size(d: np.ndarray, norm: str) -> np.ndarray:
    flat = d.reshape(len(d), -1)
    return np.asarray(np.abs(flat).max(axis=1) if norm == "linf" else np.linalg.norm(flat, axis=1))


def assess_black_box(
    target: Any,
    x: Any,
    y: Any,
    *,
    norm: str = "linf",
    eps_grid: Sequence[float],
    domain: Domain | None = None,
    budget: Budget | str = Budget.QUICK,
    seed: int = 0,
    batch_size: int = 256,
    surrogate: Any = None,
    input_shape: Sequence[int] | None = None,
    label_only: bool = False,
) -> EvasionAssessment:
    """Attack ``x`` (labels ``y`` as output-column indices of ``target``) at every epsilon.

    ``surrogate`` (a torch module over the target's output columns) adds the transfer attack;
    ``label_only`` drops the score-based Square attack (a target that answers labels only).
    ``settings["queries"]`` holds, per attack, the total queries (for transfer including those
    spent distilling the surrogate) and the median and maximum per attacked input, summed over
    the epsilons of the curve.
    """
    n_norm = check_norm(norm)
    grid = tuple(sorted({float(e) for e in eps_grid}))
    if not grid or grid[0] < 0:
        raise ValueError("eps_grid needs at least one epsilon, all >= 0")
    xs = np.asarray(x, dtype=np.float32)
    cols = np.asarray(y, dtype=np.int64)
    n = len(xs)
    if n == 0:
        raise ValueError("cannot assess robustness on an empty set")
    if len(cols) != n:
        raise ValueError(f"{n} inputs but {len(cols)} labels")
    dom = domain if domain is not None else Domain.box(int(np.prod(xs.shape[1:])), None)
    budget = Budget(budget)
    limits = QUERIES[budget]
    classes = getattr(target, "classes", None)
    values = np.asarray(classes)[cols] if classes is not None and len(classes) else cols
    names = [*([] if label_only else ["square"]), *(["transfer"] if surrogate is not None else []), "hop-skip-jump"]
    flips = {name: [np.zeros(n, dtype=bool) for _ in grid] for name in names}
    smallest = [np.full(n, np.inf) for _ in grid]
    spent: dict[str, list[np.ndarray]] = {name: [] for name in names}
    correct = np.zeros(n, dtype=bool)
    n_classes = len(classes) if classes is not None else 0

    def legal(xo: np.ndarray, x_adv: np.ndarray, hit: np.ndarray, eps: float, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Adversarials made legal for the domain, and which still fool the target (re-asked:
        one more query for each input that was a success before)."""
        if dom.is_box or not hit.any():
            return x_adv, hit
        fixed = dom.finalize(xo, x_adv, n_norm, eps)
        still = hit.copy()
        rows = np.flatnonzero(hit)
        still[rows] = _predict_columns(target, fixed[rows]) != c[rows]
        return fixed, still

    for start in range(0, n, batch_size):
        sl = slice(start, min(start + batch_size, n))
        xb, cb = xs[sl], cols[sl]
        probs = np.asarray(target.predict_proba(xb.reshape(len(xb), -1)))
        n_classes = max(n_classes, probs.shape[1])
        ok = probs.argmax(axis=1) == cb
        correct[sl] = ok
        idx = np.flatnonzero(ok) + start
        if not len(idx):
            continue
        xo, co, vo = xs[idx], cols[idx], values[idx]
        lo, hi = dom.clip_for(xo)
        bounds = (lo, hi)
        cost = {name: np.zeros(len(idx), dtype=np.int64) for name in names}
        hsj = hop_skip_jump(target, xo, vo, norm=n_norm, max_queries=limits["hop-skip-jump"],
                            clip=bounds, input_shape=input_shape, seed=seed)
        cost["hop-skip-jump"] += hsj.queries
        for j, eps in enumerate(grid):
            if eps == 0:
                continue
            found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            if "square" in names:
                sq = square(target, xo, vo, eps=eps, norm=n_norm, max_queries=limits["square"],
                            clip=bounds, input_shape=input_shape, seed=seed)
                cost["square"] += sq.queries
                found["square"] = (sq.x_adv, sq.success)
            if surrogate is not None:
                from pipeshield.attacks.evasion.transfer import transfer

                tr = transfer(surrogate, target, xo, vo, eps=eps, norm=n_norm, attack="pgd",
                              clip=bounds, input_shape=input_shape, seed=seed)
                cost["transfer"] += tr.queries
                found["transfer"] = (tr.x_adv, tr.success)
            found["hop-skip-jump"] = (hsj.x_adv, hsj.success_at(eps))
            for name, (x_adv, hit) in found.items():
                x_adv = np.asarray(x_adv, dtype=np.float64).reshape(xo.shape)
                hit = np.asarray(hit, dtype=bool)
                if not dom.is_box:
                    cost[name] += hit
                x_adv, hit = legal(xo, x_adv, hit, eps, co)
                flips[name][j][idx] = hit
                size = _size(x_adv - xo, n_norm)
                smallest[j][idx] = np.where(hit, np.minimum(smallest[j][idx], size), smallest[j][idx])
        for name in names:
            spent[name].append(cost[name])
    ensemble = tuple(np.logical_or.reduce([flips[name][j] for name in names]) for j in range(len(grid)))
    n_correct = int(correct.sum())

    def acc(f: np.ndarray) -> float:
        return float((correct & ~f).sum()) / n

    queries: dict[str, dict[str, float | int]] = {}
    for name in names:
        q = np.concatenate(spent[name]) if spent[name] else np.zeros(0, dtype=np.int64)
        queries[name] = {"total": int(q.sum()), "median_per_input": float(np.median(q)) if len(q) else 0.0,
                         "max_per_input": int(q.max()) if len(q) else 0}
    if surrogate is not None:  # distilling the surrogate queried the target too
        trained = int(getattr(surrogate, "queries", 0))
        queries["transfer"]["surrogate_training"] = trained
        queries["transfer"]["total"] = int(queries["transfer"]["total"]) + trained
    return EvasionAssessment(
        norm=n_norm,
        eps_grid=grid,
        n_inputs=n,
        n_classes=n_classes,
        clean_accuracy=n_correct / n,
        robust_accuracy={name: tuple(acc(f) for f in flips[name]) for name in names},
        ensemble=tuple(acc(f) for f in ensemble),
        attack_success_rate=tuple(float(f.sum()) / n_correct if n_correct else float("nan") for f in ensemble),
        median_perturbation=tuple(
            float(np.median(s[np.isfinite(s)])) if np.isfinite(s).any() else float("nan") for s in smallest
        ),
        settings={
            "access": "black-box (labels only)" if label_only else "black-box (scores)",
            "budget": budget.value,
            "attacks": names,
            "max_queries": {k: v for k, v in limits.items() if k in names},
            "queries": queries,
            "seed": seed,
            "domain": dom.to_dict(),
            "batch_size": batch_size,
        },
        clean_correct=correct,
        flipped=ensemble,
    )
