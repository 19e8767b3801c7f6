"""Mahalanobis distance to the nearest class (Lee et al., NeurIPS 2018), on inputs or logits.

One Gaussian per class with a covariance shared by all classes (Ledoit-Wolf shrunk, so a few
hundred rows of 30 correlated features still give a stable inverse); the score is the distance to
the closest class mean. Features are standardised first. It sees what per-feature range checks
cannot: a row whose values are each plausible but whose *combination* never occurs (uniform noise
inside the range box, columns from another source). Lee et al. use penultimate-layer features;
``features="logits"`` is the nearest thing every white-box target offers.

    >>> det = fit_detector("mahalanobis", x_train, y_train)   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeshield.errors import ConfigError
from pipeshield.gateway.detectors._base import Array, register

__all__ = ["Mahalanobis"]


@register("mahalanobis")
class Mahalanobis:
    method = "mahalanobis"

    def __init__(self, *, features: str = "input", seed: int = 0) -> None:
        self.features, self.seed = features, seed

    def fit(self, x: Array, y: NDArray[Any] | None, model: Any) -> Mahalanobis:
        from sklearn.covariance import LedoitWolf

        if self.features not in ("input", "logits"):
            raise ConfigError(f"detector mahalanobis: features must be 'input' or 'logits', got {self.features!r}")
        if self.features == "logits" and not hasattr(model, "logits"):
            raise ConfigError("detector mahalanobis: features = 'logits' needs a white-box (torch) model")
        self.model_ = model
        z = self._features(x)
        self.mean_ = z.mean(axis=0)
        std = z.std(axis=0)
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        z = (z - self.mean_) / self.scale_
        labels = np.zeros(len(z), dtype=int) if y is None else np.asarray(y)
        classes = [c for c in np.unique(labels) if np.sum(labels == c) >= 2] or [labels[0]]
        self.centers_ = np.stack([z[labels == c].mean(axis=0) for c in classes])
        keep = np.isin(labels, classes)
        centred = z[keep] - self.centers_[np.searchsorted(np.asarray(classes), labels[keep])]
        self.precision_ = np.asarray(LedoitWolf(assume_centered=True).fit(centred).precision_, dtype=np.float64)
        # whiten once: with precision = L L^T, the distance is Euclidean between z L and each centre L
        self.whiten_ = np.linalg.cholesky(self.precision_)
        self.white_centers_ = self.centers_ @ self.whiten_
        self.center_norms_ = np.einsum("cd,cd->c", self.white_centers_, self.white_centers_)
        return self

    def score(self, x: Array, probs: Array | None = None) -> Array:
        w = ((self._features(x) - self.mean_) / self.scale_) @ self.whiten_
        sq = np.einsum("nd,nd->n", w, w)[:, None] - 2.0 * w @ self.white_centers_.T + self.center_norms_[None, :]
        return np.asarray(np.sqrt(np.maximum(sq.min(axis=1), 0.0)), dtype=np.float64)

    def _features(self, x: Array) -> Array:
        if self.features == "logits":
            return np.asarray(self.model_.logits(x.astype(np.float32)), dtype=np.float64)
        return np.asarray(x, dtype=np.float64)
