"""What :func:`~pipeshield.attacks.membership.evaluate` returns: frozen, with a stable JSON form.

``to_dict()`` holds only JSON types (no numpy): FPR keys are written as decimal strings
(``"0.01"``, ``"0.001"``, ``"0.0"``), scores as plain floats, and every key listed here is kept
from release to release (new keys may be added).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeshield.attacks.membership.metrics import (
    ROC,
    epsilon_lower_bound_from_scores,
    membership_advantage,
    roc_auc,
    roc_curve,
    tpr_at_fpr,
)

__all__ = ["FPR_LEVELS", "AttackMetrics", "ExposedRecord", "MembershipResult", "measure"]

FPR_LEVELS: tuple[float, ...] = (0.01, 0.001, 0.0)


@dataclass(frozen=True)
class ExposedRecord:
    """A member the attack singles out: ``index`` among the members, its score, and the fraction
    of non-members scoring at least as high (0.0: exposed with no false positive at all)."""

    index: int
    score: float
    fpr: float

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "score": _json_float(self.score), "fpr": self.fpr}


@dataclass(frozen=True)
class AttackMetrics:
    """One attack's measurement. ``scores`` are members first, then non-members."""

    name: str
    method: str
    auc: float
    tpr_at_fpr: Mapping[float, float]
    advantage: float
    epsilon_lower_bound: float
    scores: NDArray[np.float64] = field(repr=False)
    n_members: int
    n_nonmembers: int
    most_exposed: tuple[ExposedRecord, ...] = ()

    @property
    def member_scores(self) -> NDArray[np.float64]:
        return self.scores[: self.n_members]

    @property
    def nonmember_scores(self) -> NDArray[np.float64]:
        return self.scores[self.n_members :]

    def roc(self) -> ROC:
        """The exact ROC (for a log-scale plot)."""
        return roc_curve(self.scores, _mask(self.n_members, self.n_nonmembers))

    def to_dict(self, *, include_scores: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "method": self.method,
            "auc": self.auc,
            "tpr_at_fpr": {repr(float(k)): float(v) for k, v in self.tpr_at_fpr.items()},
            "advantage": self.advantage,
            "epsilon_lower_bound": self.epsilon_lower_bound,
            "n_members": self.n_members,
            "n_nonmembers": self.n_nonmembers,
            "most_exposed": [r.to_dict() for r in self.most_exposed],
        }
        if include_scores:
            out["scores"] = [_json_float(s) for s in self.scores.tolist()]
        return out


@dataclass(frozen=True)
class MembershipResult:
    """All attacks on one model, with the settings that produced them.

    ``attacks[name]`` for ``loss``, ``correctness``, ``confidence``, ``lira``, ``lira_offline``,
    ``lira_fixed_variance``, ``lira_offline_fixed_variance``, ``rmia`` and ``rmia_offline``.
    ``notes`` say what the numbers do not show (read them before quoting a TPR at low FPR).
    """

    attacks: Mapping[str, AttackMetrics]
    n_reference: int
    n_members: int
    n_nonmembers: int
    n_population: int
    train_accuracy: float
    test_accuracy: float
    seed: int
    settings: Mapping[str, Any]
    notes: tuple[str, ...] = ()

    def to_dict(self, *, include_scores: bool = True) -> dict[str, Any]:
        return {
            "n_reference": self.n_reference,
            "n_members": self.n_members,
            "n_nonmembers": self.n_nonmembers,
            "n_population": self.n_population,
            "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy,
            "seed": self.seed,
            "settings": dict(self.settings),
            "attacks": {name: a.to_dict(include_scores=include_scores) for name, a in self.attacks.items()},
            "notes": list(self.notes),
        }


def _json_float(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _mask(n_members: int, n_nonmembers: int) -> NDArray[np.bool_]:
    mask: NDArray[np.bool_] = np.arange(n_members + n_nonmembers) < n_members
    return mask


def measure(
    name: str,
    method: str,
    scores: NDArray[np.float64],
    n_members: int,
    *,
    delta: float = 1e-5,
    confidence: float = 0.95,
    top_k: int = 10,
) -> AttackMetrics:
    """Every metric of one attack from its scores (members first)."""
    scores = np.asarray(scores, dtype=np.float64)
    n_nonmembers = len(scores) - n_members
    roc = roc_curve(scores, _mask(n_members, n_nonmembers))
    members, nonmembers = scores[:n_members], np.sort(scores[n_members:])
    top = np.argsort(-members, kind="stable")[:top_k]
    at_or_above = len(nonmembers) - np.searchsorted(nonmembers, members[top], side="left")
    exposed = tuple(
        ExposedRecord(int(i), float(members[i]), float(c) / n_nonmembers) for i, c in zip(top, at_or_above)
    )
    return AttackMetrics(
        name=name,
        method=method,
        auc=roc_auc(roc),
        tpr_at_fpr={f: tpr_at_fpr(roc, fpr=f) for f in FPR_LEVELS},
        advantage=membership_advantage(roc),
        epsilon_lower_bound=epsilon_lower_bound_from_scores(roc, delta=delta, confidence=confidence),
        scores=scores,
        n_members=n_members,
        n_nonmembers=n_nonmembers,
        most_exposed=exposed,
    )
