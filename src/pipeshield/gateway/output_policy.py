"""Output hardening: what a served model reveals per query (full scores, top-k, rounded, label).

Extraction, inversion and membership attacks feed on the scores a model returns. An output policy
withholds some of them; :class:`HardenedTarget` applies one to any Target so that the attack checks
can measure what each policy buys ("label-only output cuts membership AUC from 0.81 to 0.62") with
the same implementation the gateway enforces. The hardened answer keeps the shape of
``predict_proba`` (one column per class) so that every attack runs unchanged:

- ``top_k``: the k highest scores, every other class 0 (not renormalised: an API shows k scores);
- ``decimals``: scores rounded to that many decimals;
- ``label_only``: a one-hot row for the predicted class (alone: with ``top_k`` or ``decimals`` the
  policy would be ambiguous, and is refused).

No policy changes the predicted class. Where rounding would move a row's argmax (two scores tie
at the rounded top, or ``decimals=0`` rounds every score to 0), the predicted class is shown one
unit (``10**-decimals``) above the highest rounded score of its row, so the caller still reads
the label the model gave.

    >>> OutputPolicy(top_k=1, decimals=2).apply(np.array([[0.614, 0.386]]))
    array([[0.61, 0.  ]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FULL", "HardenedTarget", "OutputPolicy", "STANDARD_POLICIES"]


@dataclass(frozen=True)
class OutputPolicy:
    """How much of a prediction a caller sees; the default reveals everything."""

    top_k: int | None = None
    decimals: int | None = None
    label_only: bool = False

    def __post_init__(self) -> None:
        for key in ("top_k", "decimals"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
                raise ValueError(f"{key} must be an integer or None, got {value!r}")
        if not isinstance(self.label_only, (bool, np.bool_)):
            raise ValueError(f"label_only must be True or False, got {self.label_only!r}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.decimals is not None and not 0 <= self.decimals <= 15:
            raise ValueError(f"decimals must be between 0 and 15, got {self.decimals}")
        if self.label_only and (self.top_k is not None or self.decimals is not None):
            raise ValueError(
                "label_only=True reveals the label alone; it cannot be combined with top_k or decimals "
                "(which scores would be shown is ambiguous)"
            )

    @property
    def name(self) -> str:
        """A short stable name for reports and JSON: ``full``, ``top-1``, ``round-2``, ``label-only``."""
        if self.label_only:
            return "label-only"
        parts = [f"top-{self.top_k}"] if self.top_k is not None else []
        parts += [f"round-{self.decimals}"] if self.decimals is not None else []
        return "+".join(parts) or "full"

    def describe(self) -> str:
        if self.label_only:
            return "the predicted label only"
        if self.top_k is None and self.decimals is None:
            return "every class's score at full precision"
        scores = f"the top {self.top_k} scores" if self.top_k is not None else "every score"
        return scores + (f" rounded to {self.decimals} decimals" if self.decimals is not None else "")

    def apply(self, probs: Any) -> np.ndarray:
        """The answer a caller gets for ``probs`` (rows of class scores)."""
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 2:
            raise ValueError(f"expected rows of class scores, got shape {p.shape}")
        if self.label_only:
            out = np.zeros_like(p)
            out[np.arange(len(p)), p.argmax(axis=1)] = 1.0
            return out
        if self.top_k is not None and self.top_k < p.shape[1]:
            # ties broken by column order, as argsort is stable
            keep = np.argsort(-p, axis=1, kind="stable")[:, : self.top_k]
            mask = np.zeros_like(p, dtype=bool)
            np.put_along_axis(mask, keep, True, axis=1)
            p = np.where(mask, p, 0.0)
        if self.decimals is not None:
            p = _round_keeping_label(p, self.decimals)
        return p

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "top_k": self.top_k, "decimals": self.decimals, "label_only": self.label_only}


def _round_keeping_label(p: np.ndarray, decimals: int) -> np.ndarray:
    """``p`` rounded to ``decimals``; where that moves a row's argmax (a tie at the rounded top,
    an all-zero row), the original top class is shown one unit above the row's rounded maximum."""
    rounded = np.round(p, decimals)
    if not p.shape[1]:
        return rounded
    top = p.argmax(axis=1)
    moved = np.flatnonzero(rounded.argmax(axis=1) != top)
    if len(moved):
        unit = 10.0 ** -decimals
        rounded[moved, top[moved]] = np.round(rounded[moved].max(axis=1) + unit, decimals)
    return rounded


FULL = OutputPolicy()

#: The controls the attack checks measure by default, weakest first.
STANDARD_POLICIES: tuple[OutputPolicy, ...] = (
    OutputPolicy(decimals=2),
    OutputPolicy(top_k=1),
    OutputPolicy(label_only=True),
)


class HardenedTarget:
    """A Target whose answers pass through an :class:`OutputPolicy` (never white-box: a served
    model's gradients are not the attacker's to take)."""

    white_box = False

    def __init__(self, target: Any, policy: OutputPolicy) -> None:
        self.target, self.policy = target, policy
        self.name = f"{getattr(target, 'name', 'model')}[{policy.name}]"
        self.classes = getattr(target, "classes", None)
        self.input_shape = getattr(target, "input_shape", None)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.policy.apply(self.target.predict_proba(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        idx = np.asarray(self.target.predict_proba(x)).argmax(axis=1)
        return np.asarray(np.asarray(self.classes)[idx]) if self.classes is not None and len(self.classes) else idx
