"""How well a membership score separates members from non-members, in the numbers privacy
researchers report.

Every function takes per-record ``scores`` (higher means "more likely a member") and a boolean
``is_member`` mask, so any attack -- or a score you computed yourself -- is measured the same way.

    >>> import numpy as np
    >>> from pipeshield.attacks.membership.metrics import roc_auc, tpr_at_fpr
    >>> scores = np.array([0.9, 0.8, 0.4, 0.3]); is_member = np.array([True, False, True, False])
    >>> roc_auc(scores, is_member)
    0.75
    >>> tpr_at_fpr(scores, is_member, 0.0)
    0.5

Conventions (all exact, computed from the ROC's vertices; nothing is interpolated):

- **ROC**: one vertex per distinct score; a record is called a member when its score is
  ``>= threshold``. Tied scores move together, so a vertex can jump several records at once.
- **AUC**: the trapezoid under those vertices, which equals the Mann-Whitney probability that a
  random member outscores a random non-member with ties counted as one half. (So the correctness
  attack's AUC is exactly ``0.5 + (train_acc - test_acc) / 2``.)
- **TPR at FPR alpha**: the largest TPR of a vertex whose FPR is ``<= alpha``: what one fixed
  threshold achieves. We do *not* interpolate between vertices (a coin-flipping mixture of two
  thresholds could reach the line between them, but no single threshold does). With ``N``
  non-members, FPR ``<= alpha`` allows ``floor(alpha * N)`` false positives, so when
  ``alpha * N < 1`` the TPR at alpha *is* the TPR at zero false positives: TPR at 0.1% FPR needs
  thousands of non-members to mean anything.
- **Membership advantage** (Yeom et al. 2018): ``max(TPR - FPR)`` over the vertices.
- **Empirical epsilon lower bound**: see :func:`epsilon_lower_bound`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = [
    "ROC",
    "clopper_pearson",
    "epsilon_lower_bound",
    "epsilon_lower_bound_from_scores",
    "membership_advantage",
    "roc_auc",
    "roc_curve",
    "tpr_at_fpr",
]

# Tolerance when comparing fp / N with an FPR level given as a decimal (0.01 * 300 = 3.0000000000000004).
_FPR_TOL = 1e-9


@dataclass(frozen=True)
class ROC:
    """The ROC's vertices, from (0, 0) to (1, 1), with the integer counts behind them.

    ``thresholds[k]`` is the score cut of vertex ``k`` (``inf`` for the first: nobody called a
    member); ``tp``/``fp`` count members/non-members scoring ``>= thresholds[k]``.
    """

    fpr: NDArray[np.float64]
    tpr: NDArray[np.float64]
    thresholds: NDArray[np.float64]
    tp: NDArray[np.int64]
    fp: NDArray[np.int64]
    n_members: int
    n_nonmembers: int


def _checked(scores: ArrayLike, is_member: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    m = np.asarray(is_member).reshape(-1)
    if m.dtype != np.bool_:
        if not np.isin(m, (0, 1)).all():
            raise ValueError("is_member must be boolean (or 0/1)")
        m = m.astype(bool)
    if len(s) != len(m):
        raise ValueError(f"scores has {len(s)} entries but is_member has {len(m)}")
    if np.isnan(s).any():
        raise ValueError(f"scores hold {int(np.isnan(s).sum())} NaN value(s); an attack must score every record")
    if not m.any() or m.all():
        raise ValueError("need at least one member and one non-member to measure an attack")
    return s, m


def roc_curve(scores: ArrayLike, is_member: ArrayLike) -> ROC:
    """The exact ROC: one vertex per distinct score, plus (0, 0)."""
    s, m = _checked(scores, is_member)
    order = np.argsort(-s, kind="stable")
    s, m = s[order], m[order]
    last_of_tie = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]
    tp = np.r_[0, np.cumsum(m)[last_of_tie]].astype(np.int64)
    fp = np.r_[0, np.cumsum(~m)[last_of_tie]].astype(np.int64)
    n_pos, n_neg = int(m.sum()), int((~m).sum())
    return ROC(
        fpr=fp / n_neg,
        tpr=tp / n_pos,
        thresholds=np.r_[np.inf, s[last_of_tie]],
        tp=tp,
        fp=fp,
        n_members=n_pos,
        n_nonmembers=n_neg,
    )


def _as_roc(scores: ArrayLike | ROC, is_member: ArrayLike | None) -> ROC:
    if isinstance(scores, ROC):
        return scores
    if is_member is None:
        raise ValueError("is_member is required unless an ROC is given")
    return roc_curve(scores, is_member)


def roc_auc(scores: ArrayLike | ROC, is_member: ArrayLike | None = None) -> float:
    """Area under the ROC (trapezoid over the vertices; ties count one half)."""
    roc = _as_roc(scores, is_member)
    # Integer arithmetic: sum of dFP * (TP_k + TP_{k-1}) / (2 P N) -- exact up to one division.
    area2 = int(np.sum(np.diff(roc.fp) * (roc.tp[1:] + roc.tp[:-1])))
    return area2 / (2 * roc.n_members * roc.n_nonmembers)


def tpr_at_fpr(scores: ArrayLike | ROC, is_member: ArrayLike | None = None, fpr: float = 0.01) -> float:
    """Largest TPR of a single threshold whose FPR is ``<= fpr`` (no interpolation)."""
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must be in [0, 1], got {fpr}")
    roc = _as_roc(scores, is_member)
    allowed = roc.fp <= fpr * roc.n_nonmembers + _FPR_TOL
    return float(roc.tpr[allowed].max())  # vertex 0 (0, 0) is always allowed


def membership_advantage(scores: ArrayLike | ROC, is_member: ArrayLike | None = None) -> float:
    """Yeom et al. (2018)'s membership advantage: ``max(TPR - FPR)`` over thresholds, >= 0."""
    roc = _as_roc(scores, is_member)
    return float(np.max(roc.tpr - roc.fpr))


def clopper_pearson(
    k: ArrayLike, n: ArrayLike, confidence: float = 0.95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Exact two-sided Clopper-Pearson interval for a binomial proportion ``k / n``.

    ``lo = Beta(alpha/2; k, n - k + 1)`` and ``hi = Beta(1 - alpha/2; k + 1, n - k)`` quantiles,
    with ``lo = 0`` at ``k = 0`` and ``hi = 1`` at ``k = n`` (Clopper & Pearson 1934). Each end is
    also a one-sided bound at level ``1 - alpha/2``. Vectorised over ``k`` and ``n``.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    if np.any(k_arr < 0) or np.any(k_arr > n_arr) or np.any(n_arr < 1):
        raise ValueError("clopper_pearson needs 0 <= k <= n and n >= 1")
    alpha = 1.0 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k_arr > 0, stats.beta.ppf(alpha / 2, k_arr, n_arr - k_arr + 1), 0.0)
        hi = np.where(k_arr < n_arr, stats.beta.ppf(1 - alpha / 2, k_arr + 1, n_arr - k_arr), 1.0)
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def epsilon_lower_bound(
    tp: ArrayLike,
    fp: ArrayLike,
    n_members: int,
    n_nonmembers: int,
    *,
    delta: float = 1e-5,
    confidence: float = 0.95,
) -> float:
    """Empirical epsilon lower bound from one threshold's counts (vectorised: max over them).

    Under (epsilon, delta)-differential privacy every membership test obeys both
    ``TPR <= e^eps * FPR + delta`` and ``TNR <= e^eps * FNR + delta`` (the hypothesis-testing view
    of DP: Kairouz, Oh & Viswanath 2015; used for auditing by Jagielski, Ullman & Oprea 2020 and
    Nasr et al. 2021). Replacing the observed rates by Clopper-Pearson bounds that hold together
    with probability ``>= confidence``::

        eps >= max( log((TPR_lo - delta) / FPR_hi),            # "member" calls are too right
                    log((1 - FPR_hi - delta) / (1 - TPR_lo)) )  # "non-member" calls are too right

    where ``TPR_lo`` and ``FPR_hi`` are the one-sided ends of the two-sided Clopper-Pearson
    intervals at level ``confidence`` (each fails with probability ``(1 - confidence) / 2``).
    A term whose numerator is not positive gives no bound; the result is never below 0.

    The confidence holds for a threshold fixed *before* seeing the data. When several thresholds
    are passed, the caller is choosing the best one after the fact; pass a Bonferroni-corrected
    ``confidence`` (as :func:`epsilon_lower_bound_from_scores` does).
    """
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta must be in [0, 1), got {delta}")
    tp_arr = np.atleast_1d(np.asarray(tp, dtype=np.float64))
    fp_arr = np.atleast_1d(np.asarray(fp, dtype=np.float64))
    tpr_lo, _ = clopper_pearson(tp_arr, n_members, confidence)
    _, fpr_hi = clopper_pearson(fp_arr, n_nonmembers, confidence)
    e1 = _log_ratio(tpr_lo - delta, fpr_hi)
    e2 = _log_ratio(1.0 - fpr_hi - delta, 1.0 - tpr_lo)
    best = float(max(np.max(e1), np.max(e2), 0.0))
    return best if math.isfinite(best) else 0.0


def _log_ratio(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(num / den)`` where both are positive, else 0 (no bound from that term)."""
    ok = (num > 0) & (den > 0)
    out = np.zeros_like(num)
    out[ok] = np.log(num[ok] / den[ok])
    return out


def epsilon_lower_bound_from_scores(
    scores: ArrayLike | ROC,
    is_member: ArrayLike | None = None,
    *,
    delta: float = 1e-5,
    confidence: float = 0.95,
) -> float:
    """:func:`epsilon_lower_bound` at the best ROC vertex, Bonferroni-corrected over all of them.

    Picking the best of ``m`` thresholds after looking at the data would void the Clopper-Pearson
    confidence, so each vertex is bounded at confidence ``1 - (1 - confidence) / m``: the maximum
    then holds with probability ``>= confidence`` (union bound). This is conservative; a rigorous
    audit with a threshold chosen on separate data (the DP audit of issue 6) is tighter.
    """
    roc = _as_roc(scores, is_member)
    m = len(roc.tp)
    corrected = 1.0 - (1.0 - confidence) / m
    return epsilon_lower_bound(
        roc.tp, roc.fp, roc.n_members, roc.n_nonmembers, delta=delta, confidence=corrected
    )
