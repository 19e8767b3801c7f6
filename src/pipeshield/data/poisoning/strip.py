"""STRIP (Gao et al., ACSAC 2019): an inference-time check for triggered inputs.

Superimpose the incoming input on ``n_blend`` clean samples and look at the entropy of the model's
predictions. A clean input blended with random others gives varied, uncertain predictions (high
entropy); an input carrying a trigger keeps pulling every blend to the target class (low entropy).
The threshold is calibrated on clean inputs at a chosen false-positive rate, so it means the same
thing for every model.

Usable anywhere a ``predict_proba(rows) -> probabilities`` exists (the gateway reuses it)::

    strip = calibrate_strip(target.predict_proba, clean_rows, fpr=0.01, seed=0)
    verdict = strip.check(incoming_rows)          # True where an input looks triggered

Blending: ``superimpose`` (the paper's image blend: add, then clip to the data's range -- a
saturated trigger survives it) or ``average`` (0.5/0.5, for tables). Defeated by: triggers that
are input-specific or weak under superimposition (e.g. blended or dynamic triggers), adaptive
attacks trained to keep high entropy under blending, and source-specific backdoors whose trigger
only works on one class (blends with other classes break it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeshield.errors import DatasetError

__all__ = ["Strip", "calibrate_strip", "strip_entropy"]

Predict = Callable[[np.ndarray], np.ndarray]


def _blend(x: np.ndarray, bg: np.ndarray, mode: str, lo: float, hi: float) -> np.ndarray:
    if mode == "superimpose":
        return np.asarray(np.clip(x + bg, lo, hi))
    if mode == "average":
        return 0.5 * x + 0.5 * bg
    raise DatasetError(f"STRIP: unknown blend mode {mode!r} (superimpose or average)")


def strip_entropy(
    predict_proba: Predict,
    x: np.ndarray,
    background: np.ndarray,
    *,
    n_blend: int = 20,
    mode: str = "superimpose",
    value_range: tuple[float, float] | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Mean prediction entropy (nats) of each row of ``x`` blended with ``n_blend`` background rows."""
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    background = np.asarray(background, dtype=np.float32).reshape(len(background), -1)
    if len(background) == 0:
        raise DatasetError("STRIP: needs clean background samples")
    if background.shape[1] != x.shape[1]:
        raise DatasetError(f"STRIP: inputs have {x.shape[1]} features, background rows {background.shape[1]}")
    lo, hi = value_range if value_range is not None else (float(background.min()), float(background.max()))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(background), size=(len(x), n_blend))
    blended = _blend(np.repeat(x, n_blend, axis=0), background[picks.reshape(-1)], mode, lo, hi)
    probs = np.asarray(predict_proba(blended.astype(np.float32)), dtype=np.float64)
    ent = -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(axis=1)
    return np.asarray(ent.reshape(len(x), n_blend).mean(axis=1))


@dataclass(frozen=True)
class Strip:
    """A calibrated STRIP check: inputs with entropy below ``threshold`` are flagged."""

    predict_proba: Predict
    background: np.ndarray
    threshold: float
    fpr: float
    n_blend: int = 20
    mode: str = "superimpose"
    value_range: tuple[float, float] | None = None
    seed: int = 0

    def entropy(self, x: np.ndarray) -> np.ndarray:
        return strip_entropy(self.predict_proba, x, self.background, n_blend=self.n_blend, mode=self.mode,
                             value_range=self.value_range, seed=self.seed)

    def check(self, x: np.ndarray) -> np.ndarray:
        """``True`` for each row that looks triggered."""
        return self.entropy(x) < self.threshold


def calibrate_strip(
    predict_proba: Predict,
    clean: np.ndarray,
    *,
    fpr: float = 0.01,
    n_blend: int = 20,
    mode: str = "superimpose",
    seed: int = 0,
) -> Strip:
    """Half of ``clean`` is the blending background, the other half sets the threshold at ``fpr``."""
    if not 0 < fpr < 0.5:
        raise DatasetError(f"STRIP: fpr must be in (0, 0.5) (got {fpr})")
    clean = np.asarray(clean, dtype=np.float32).reshape(len(clean), -1)
    if len(clean) < 20:
        raise DatasetError(f"STRIP: needs at least 20 clean rows to calibrate (got {len(clean)})")
    order = np.random.default_rng(seed).permutation(len(clean))
    background, held = clean[order[: len(clean) // 2]], clean[order[len(clean) // 2 :]]
    value_range = (float(clean.min()), float(clean.max()))
    ent = strip_entropy(predict_proba, held, background, n_blend=n_blend, mode=mode, value_range=value_range, seed=seed)
    threshold = float(np.quantile(ent, fpr))
    return Strip(predict_proba, background, threshold, fpr, n_blend, mode, value_range, seed)
