"""The registry of extraction methods and what each one is handed.

A method is a function ``(run: Run) -> Substitute`` registered under a name with its options
and their defaults. It spends queries only through ``run.oracle`` and calls
``run.checkpoint(substitute)`` whenever the oracle's count reaches one of ``run.checkpoints``
(the engine records fidelity and accuracy there). Adding a method is one new module that
registers itself; :func:`~pipeshield.attacks.extraction.extract` never switches on names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from pipeshield.attacks.extraction._oracle import Oracle

__all__ = ["METHODS", "Method", "Run", "Substitute", "register"]


class Substitute(Protocol):
    """A stolen copy: scikit-learn-style predictions over the victim's ``classes``."""

    classes: NDArray[Any]

    def predict_proba(self, x: Any) -> NDArray[np.float64]: ...

    def predict(self, x: Any) -> NDArray[Any]: ...

    def to_module(self) -> Any:
        """An equivalent ``torch.nn.Module`` returning logits (for white-box attacks)."""
        ...


@dataclass
class Run:
    """One extraction in progress: the oracle, the attacker's knowledge and the schedule."""

    oracle: Oracle
    n_features: int
    lo: NDArray[np.float64]  # per-feature domain the attacker assumes
    hi: NDArray[np.float64]
    pool: NDArray[np.float64] | None  # unlabelled inputs the attacker holds (public/synthetic)
    classes: NDArray[Any] | None  # known before the first query only when the caller gave them
    checkpoints: tuple[int, ...]  # ascending query counts, the last is the budget
    seed: int
    options: Mapping[str, Any]
    record: Callable[[Substitute, int], None]
    notes: list[str] = field(default_factory=list)
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def uniform(self, n: int) -> NDArray[np.float64]:
        """``n`` rows drawn uniformly from the attacker's domain."""
        out: NDArray[np.float64] = self.rng.uniform(self.lo, self.hi, size=(n, self.n_features))
        return out

    def labels(self, n_classes: int) -> NDArray[Any]:
        """The class values behind the victim's output columns."""
        if self.classes is not None:
            return self.classes
        return np.arange(n_classes)

    def next_checkpoint(self) -> int | None:
        """The first checkpoint not yet reached, or None when all are."""
        return next((c for c in self.checkpoints if c > self.oracle.queries), None)

    def checkpoint(self, substitute: Substitute) -> None:
        """Record the substitute at the current query count."""
        self.record(substitute, self.oracle.queries)


@dataclass(frozen=True)
class Method:
    """A registered method: its function, option defaults, and the fewest queries it needs."""

    name: str
    fn: Callable[[Run], Substitute]
    options: Mapping[str, Any]
    min_queries: Callable[[int], int]  # n_features -> fewest queries that make sense
    needs_probabilities: bool = False
    default_first_checkpoint: Callable[[int, int], int] = lambda d, budget: max(1, budget // 16)


METHODS: dict[str, Method] = {}


def register(
    name: str,
    *,
    options: Mapping[str, Any],
    min_queries: Callable[[int], int] = lambda d: 1,
    needs_probabilities: bool = False,
    first_checkpoint: Callable[[int, int], int] | None = None,
) -> Callable[[Callable[[Run], Substitute]], Callable[[Run], Substitute]]:
    """Register ``fn`` as extraction method ``name`` (decorator)."""

    def deco(fn: Callable[[Run], Substitute]) -> Callable[[Run], Substitute]:
        kwargs: dict[str, Any] = {}
        if first_checkpoint is not None:
            kwargs["default_first_checkpoint"] = first_checkpoint
        METHODS[name] = Method(name, fn, dict(options), min_queries, needs_probabilities, **kwargs)
        return fn

    return deco
