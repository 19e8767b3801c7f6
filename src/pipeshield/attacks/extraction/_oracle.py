"""The attacker's only access to the victim: a query oracle that counts rows and keeps the budget.

Every row the attack sends goes through :class:`Oracle`; it refuses (an internal error, never a
silent overrun) to send a row past ``budget``, so ``result.queries <= budget`` holds by
construction. With ``labels_only`` the attack sees what a label-only API would return: the
argmax as a one-hot row, nothing more.

The victim is a callable on flat rows returning ``(n, k)`` probabilities, or any object with
``predict_proba`` (a pipeshield ``Target``, a scikit-learn classifier). A binary victim that
returns one column (or a 1-D array) is read as ``P(class 1)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pipeshield.errors import PipeshieldError

__all__ = ["Oracle", "Victim", "resolve_victim"]

ProbaFn = Callable[[NDArray[np.float64]], Any]


@dataclass(frozen=True)
class Victim:
    """The victim's scoring function, and the object behind it (for ``classes``, ``n_features_in_``)."""

    predict_proba: ProbaFn
    owner: Any

    def declared_classes(self) -> NDArray[Any] | None:
        """``classes`` (a pipeshield Target) or ``classes_`` (scikit-learn), when declared."""
        for attr in ("classes", "classes_"):
            classes = getattr(self.owner, attr, None)
            if classes is not None and not callable(classes) and len(classes):
                return np.asarray(classes)
        return None

    def declared_n_features(self) -> int | None:
        n = getattr(self.owner, "n_features_in_", None)
        return int(n) if isinstance(n, (int, np.integer)) else None

    def probabilities(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """``(n, k)`` probabilities for flat rows ``x`` (uncounted: the oracle counts)."""
        raw = np.asarray(self.predict_proba(x), dtype=np.float64)
        if raw.ndim == 1 or (raw.ndim == 2 and raw.shape[1] == 1):  # P(class 1) of a binary model
            p1 = raw.reshape(-1)
            raw = np.stack([1.0 - p1, p1], axis=1)
        if raw.ndim != 2 or len(raw) != len(x):
            raise ValueError(
                f"the victim returned shape {raw.shape} for {len(x)} queries; "
                "expected (n, n_classes) probabilities"
            )
        if not np.isfinite(raw).all():
            raise ValueError("the victim returned non-finite probabilities")
        return raw


def resolve_victim(victim: Any) -> Victim:
    """A callable on flat rows, or an object with ``predict_proba``."""
    proba = getattr(victim, "predict_proba", None)
    if callable(proba):
        return Victim(proba, victim)
    if callable(victim):
        # a bound method such as ``model.predict_proba`` still tells us its classes
        return Victim(victim, getattr(victim, "__self__", None))
    raise TypeError(
        f"the victim must be a callable on flat rows or have predict_proba; got {type(victim).__name__}"
    )


class Oracle:
    """Counted, budgeted access to the victim, as the attacker sees it."""

    def __init__(self, victim: Victim, *, n_features: int, budget: int, labels_only: bool) -> None:
        self.victim = victim
        self.n_features = n_features
        self.budget = budget
        self.labels_only = labels_only
        self.queries = 0
        self.n_classes: int | None = None

    @property
    def remaining(self) -> int:
        return self.budget - self.queries

    def __call__(self, x: ArrayLike) -> NDArray[np.float64]:
        """What the victim answers for rows ``x``: probabilities, or one-hot labels."""
        rows = np.asarray(x, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise RuntimeError(
                f"internal error: query of shape {rows.shape}, n_features={self.n_features}"
            )
        if len(rows) > self.remaining:
            raise RuntimeError(
                f"internal error: {len(rows)} queries with {self.remaining} left of the budget"
            )
        if len(rows) == 0:
            return np.zeros((0, self.n_classes or 0))
        first = self.queries == 0
        try:
            probs = self.victim.probabilities(rows)
        except PipeshieldError:
            raise
        except Exception as err:
            if not first:
                raise
            # The first query is where a victim of another width fails: name the mismatch.
            raise ValueError(
                f"the victim rejected a query of n_features={self.n_features} features "
                f"({type(err).__name__}: {str(err)[:200]}); check n_features"
            ) from err
        self.queries += len(rows)
        if self.n_classes is None:
            self.n_classes = probs.shape[1]
        elif probs.shape[1] != self.n_classes:
            raise ValueError(
                f"the victim returned {probs.shape[1]} columns, earlier {self.n_classes}"
            )
        if self.labels_only:
            one_hot: NDArray[np.float64] = np.eye(probs.shape[1])[probs.argmax(axis=1)]
            return one_hot
        return probs
