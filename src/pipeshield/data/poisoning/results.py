"""What every poisoning detector returns, and how it is scored against a planted ground truth.

A detector gives each row a ``score`` (higher = more suspicious; ``nan`` for rows it did not
score, e.g. classes it skipped), a ``threshold`` calibrated by the detector itself, and the rows it
``flagged`` at that threshold. With a ground-truth mask (from ``pipeshield attack poison`` or a
demo's ``planted.json``) :func:`detection_metrics` turns that into precision, recall, F1 and the
false-positive rate on clean rows.

    >>> m = detection_metrics(np.array([True, True, False, False]), np.array([True, False, False, False]))
    >>> (m.precision, m.recall, m.fpr)
    (0.5, 1.0, 0.3333333333333333)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeshield.errors import DatasetError

__all__ = ["DetectionMetrics", "DetectorResult", "detection_metrics"]


@dataclass(frozen=True)
class DetectionMetrics:
    """Detection quality against a ground-truth mask (``True`` = poisoned)."""

    precision: float
    recall: float
    f1: float
    fpr: float
    true_positives: int
    false_positives: int
    n_poisoned: int
    n_clean: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "fpr": round(self.fpr, 4),
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "n_poisoned": self.n_poisoned,
            "n_clean": self.n_clean,
        }


def detection_metrics(flagged: np.ndarray, truth: np.ndarray, *, where: str = "mask") -> DetectionMetrics:
    """Precision, recall, F1 and false-positive rate of ``flagged`` against ``truth``.

    Precision of an empty flag set is 1.0 (nothing claimed, nothing wrong); recall with no
    poisoned rows is 1.0 (nothing to find). Both conventions are the ones scikit-learn warns about;
    we pick them so a clean dataset scores as a success, not as a NaN.
    """
    flagged = np.asarray(flagged, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    if flagged.shape != truth.shape:
        raise DatasetError(f"{where}: has {truth.size} entries but the dataset has {flagged.size} rows")
    tp = int((flagged & truth).sum())
    fp = int((flagged & ~truth).sum())
    n_pos, n_neg = int(truth.sum()), int((~truth).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / n_pos if n_pos else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fpr = fp / n_neg if n_neg else 0.0
    return DetectionMetrics(precision, recall, f1, fpr, tp, fp, n_pos, n_neg)


@dataclass(frozen=True)
class DetectorResult:
    """One detector's verdict on one dataset.

    ``scores`` has one entry per row (``nan`` = not scored); ``flagged`` is the rows at or above
    the calibrated ``threshold`` (per-class detectors calibrate per class: ``threshold`` is then
    the most lenient one, and ``details`` holds the rest); ``suspicious_classes`` names the
    classes a per-class detector judged poisoned; ``suggested`` holds a suggested label per row
    where the detector has one (confident learning), else ``None``.
    """

    detector: str
    scores: np.ndarray
    flagged: np.ndarray
    threshold: float
    suspicious_classes: tuple[Any, ...] = ()
    suggested: np.ndarray | None = None
    details: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None

    @property
    def ranked(self) -> np.ndarray:
        """Flagged rows, most suspicious first (ties broken by row number)."""
        rows = np.flatnonzero(self.flagged)
        order = np.lexsort((rows, -np.nan_to_num(self.scores[rows], nan=-np.inf)))
        return rows[order]

    def metrics(self, truth: np.ndarray, *, where: str = "mask") -> DetectionMetrics:
        return detection_metrics(self.flagged, truth, where=where)

    @classmethod
    def skip(cls, detector: str, n_rows: int, reason: str) -> DetectorResult:
        """A detector that could not run here says why, instead of silently flagging nothing."""
        return cls(detector, np.full(n_rows, np.nan), np.zeros(n_rows, dtype=bool), float("nan"), skipped=reason)
