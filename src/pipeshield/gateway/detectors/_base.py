"""What every detector shares: the registry, the calibration of its threshold, the fitted result.

A detector scores each input (higher: less like the training data). It is fitted on part of the
clean training rows and its threshold is set on the rest (the *held-out* rows), so that a fraction
``fpr`` of clean inputs would be flagged; the test set is never used. The threshold is the
``ceil((n + 1) * (1 - fpr))``-th smallest held-out score (the split-conformal quantile): with
fewer than ``1 / fpr`` held-out rows that is the largest one, so the real false-positive rate on
new clean data is only as exact as the held-out set is large.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from pipeshield.errors import ConfigError

__all__ = ["DETECTORS", "Detector", "FittedDetector", "calibrate", "fit_detector", "register"]

Array = NDArray[np.float64]


class Detector(Protocol):
    """Scores inputs (flat rows, float64); ``probs`` are the model's answers when already known."""

    method: str

    def fit(self, x: Array, y: NDArray[Any] | None, model: Any) -> Detector: ...

    def score(self, x: Array, probs: Array | None = None) -> Array: ...


#: method name -> factory taking the method's options as keywords.
DETECTORS: dict[str, Callable[..., Detector]] = {}


def register(method: str) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    def deco(factory: Callable[..., Detector]) -> Callable[..., Detector]:
        DETECTORS[method] = factory
        return factory

    return deco


def calibrate(scores: Array, fpr: float) -> float:
    """The split-conformal threshold: a clean score exceeds it with probability at most ~``fpr``."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    if not len(ordered):
        raise ValueError("no held-out scores to calibrate on")
    k = min(math.ceil((len(ordered) + 1) * (1 - fpr)), len(ordered))
    return float(ordered[k - 1])


@dataclass(frozen=True)
class FittedDetector:
    """A fitted detector and its threshold; ``flags(scores)`` marks inputs scoring above it."""

    detector: Detector
    threshold: float
    fpr: float
    n_fit: int
    n_holdout: int

    @property
    def method(self) -> str:
        return self.detector.method

    def score(self, x: Array, probs: Array | None = None) -> Array:
        return self.detector.score(np.asarray(x, dtype=np.float64).reshape(len(x), -1), probs)

    def flags(self, scores: Array) -> NDArray[np.bool_]:
        return np.asarray(scores > self.threshold)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "threshold": self.threshold, "fpr": self.fpr, "n_fit": self.n_fit,
                "n_holdout": self.n_holdout}


def fit_detector(method: str, x: Any, y: Any = None, model: Any = None, *, fpr: float = 0.01,
                 holdout: float = 0.25, seed: int = 0, **options: Any) -> FittedDetector:
    """Fit ``method`` on clean rows ``x`` (labels ``y``, the served ``model``) and calibrate it.

    A random ``holdout`` fraction of the rows (at least 10) is kept out of the fit and sets the
    threshold at the target false-positive rate ``fpr``.
    """
    if method not in DETECTORS:
        raise ConfigError(f"detector method {method!r}: expected one of {', '.join(sorted(DETECTORS))}")
    if not 0 < fpr < 1:
        raise ConfigError(f"detector fpr must be between 0 and 1, got {fpr}")
    rows = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    labels = None if y is None else np.asarray(y)
    n_hold = max(10, int(round(len(rows) * holdout)))
    if len(rows) - n_hold < 10:
        raise ConfigError(f"detector {method}: {len(rows)} training rows are too few to fit and calibrate "
                          "(at least 20 are needed)")
    order = np.random.default_rng(seed).permutation(len(rows))
    fit_idx, hold_idx = order[n_hold:], order[:n_hold]
    detector = DETECTORS[method](seed=seed, **options)
    detector.fit(rows[fit_idx], None if labels is None else labels[fit_idx], model)
    threshold = calibrate(detector.score(rows[hold_idx]), fpr)
    return FittedDetector(detector, threshold, fpr, len(fit_idx), len(hold_idx))
