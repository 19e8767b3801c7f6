"""Feature squeezing (Xu, Evans and Qi, NDSS 2018): adversarial inputs disagree with their squeezed copies.

Each input is squeezed twice, by bit-depth reduction (values rounded to ``2**bits`` levels of the
input range) and, for images, by a ``median x median`` median filter; the score is the largest L1
distance between the model's probabilities on the input and on a squeezed copy. A clean input
keeps its prediction; a perturbation tuned to the model's gradients is often undone by squeezing.

Costs two extra model calls per input. An attacker who knows the squeezers can attack them too
(He et al. 2017): this is a tripwire for off-the-shelf attacks, not a defence proof.

    >>> det = fit_detector("squeezing", x_train, y_train, target, shape=(1, 8, 8), bits=1)  # doctest: +SKIP
    >>> det.flags(det.score(x_adv)).mean()                                                    # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeshield.errors import ConfigError
from pipeshield.gateway.detectors._base import Array, register

__all__ = ["FeatureSqueezing"]


@register("squeezing")
class FeatureSqueezing:
    """``shape``: one input's shape (the last two axes are filtered); ``clip``: the value range."""

    method = "squeezing"

    def __init__(self, *, bits: int = 4, median: int = 0, shape: tuple[int, ...] | None = None,
                 clip: tuple[float, float] | None = None, seed: int = 0) -> None:
        self.bits, self.median, self.shape, self.clip, self.seed = bits, median, shape, clip, seed

    def fit(self, x: Array, y: NDArray[Any] | None, model: Any) -> FeatureSqueezing:
        if model is None or not hasattr(model, "predict_proba"):
            raise ConfigError("detector squeezing: needs the served model (it compares the model's answers)")
        if not 1 <= self.bits <= 16:
            raise ConfigError(f"detector squeezing: bits must be between 1 and 16, got {self.bits}")
        self.model_ = model
        lo, hi = self.clip if self.clip is not None else (float(x.min()), float(x.max()))
        self.lo_, self.span_ = lo, max(hi - lo, 1e-12)
        shape = tuple(self.shape) if self.shape else (x.shape[1],)
        self.image_shape_ = shape if len(shape) >= 2 and self.median > 1 else None
        return self

    def squeezed(self, x: Array) -> list[Array]:
        """The squeezed copies of ``x`` (flat rows), one per squeezer."""
        levels = 2**self.bits - 1
        unit = np.clip((x - self.lo_) / self.span_, 0.0, 1.0)
        copies = [np.round(unit * levels) / levels * self.span_ + self.lo_]
        if self.image_shape_ is not None:
            from scipy.ndimage import median_filter

            images = x.reshape(len(x), *self.image_shape_)
            size = (1,) * (images.ndim - 2) + (self.median, self.median)
            copies.append(median_filter(images, size=size, mode="reflect").reshape(len(x), -1))
        return copies

    def score(self, x: Array, probs: Array | None = None) -> Array:
        base = self._proba(x) if probs is None else np.asarray(probs, dtype=np.float64)
        dists = [np.abs(base - self._proba(c)).sum(axis=1) for c in self.squeezed(x)]
        return np.asarray(np.max(np.stack(dists), axis=0), dtype=np.float64)

    def _proba(self, x: Array) -> Array:
        return np.asarray(self.model_.predict_proba(x.astype(np.float32)), dtype=np.float64)
