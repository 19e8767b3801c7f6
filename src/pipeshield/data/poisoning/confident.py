"""Label issues by confident learning (Northcutt, Jiang & Chuang, JAIR 2021), implemented natively.

Written from the paper (cleanlab is AGPL and is used only as the reference in ``bench/``):

1. per-class thresholds ``t_j`` = mean out-of-fold probability of class ``j`` over the rows
   labelled ``j`` (how confident the model is, on average, about a true ``j``);
2. the confident joint ``C[i][j]`` counts rows labelled ``i`` whose probability for ``j`` is at
   least ``t_j`` (when several classes pass, the most probable of those);
3. calibration: each row of ``C`` is rescaled to the count of its given label, then the whole
   matrix to the number of rows (rounded keeping row totals);
4. prune by noise rate: for each given label ``i`` and true label ``j != i``, the ``C[i][j]`` rows
   labelled ``i`` with the largest margin ``p_j - p_i`` are issues; rows whose given label is the
   model's own prediction are never issues.

With ``cl_rounds`` = 2 (the default) the out-of-fold probabilities are computed again without the
rows found in the first round, and issues of both rounds are reported: a targeted flip of a
quarter of a class teaches the first-round models part of the wrong mapping; without it they see
the rest clearly (demo: recall of the 40 flipped sevens 0.78 -> 0.85). One round is exactly the
published algorithm (``bench/`` checks it against cleanlab on the same probabilities).

Issues are ranked by self-confidence ``p[given]`` (or by normalized margin). A flip made to look
right to the model -- a clean-label attack, or a targeted flip of a whole cluster the model then
learns -- is invisible to it: confident learning finds labels that disagree with the features,
not features crafted to agree with a wrong label.

    >>> issues = find_label_issues(y, probs)                       # doctest: +SKIP
    >>> result = confident_learning(PoisonData(x, y, classes), ScanConfig())   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pipeshield.data.poisoning.crossval import out_of_fold_probabilities
from pipeshield.data.poisoning.registry import PoisonData, ScanConfig, detector
from pipeshield.data.poisoning.results import DetectorResult

__all__ = [
    "ConfidentJoint",
    "calibrate_joint",
    "confident_joint",
    "confident_learning",
    "find_label_issues",
    "per_class_thresholds",
]


def per_class_thresholds(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``t_j``: mean predicted probability of class ``j`` over rows labelled ``j``."""
    k = probs.shape[1]
    out = np.ones(k)
    for j in range(k):
        rows = labels == j
        if rows.any():
            out[j] = probs[rows, j].mean()
    return out


@dataclass(frozen=True)
class ConfidentJoint:
    """Counts of (given label, confidently guessed true label); ``guess`` is -1 where no class passed."""

    counts: np.ndarray
    guess: np.ndarray
    thresholds: np.ndarray


def confident_joint(labels: np.ndarray, probs: np.ndarray) -> ConfidentJoint:
    thresholds = per_class_thresholds(labels, probs)
    above = probs >= thresholds - 1e-6  # the tolerance keeps a row exactly at the mean above it
    masked = np.where(above, probs, -np.inf)
    guess = np.where(above.any(axis=1), masked.argmax(axis=1), -1)
    k = probs.shape[1]
    counts = np.zeros((k, k), dtype=np.int64)
    ok = guess >= 0
    np.add.at(counts, (labels[ok], guess[ok]), 1)
    # every class keeps at least one correctly labelled row, so no row of C is all zeros
    np.fill_diagonal(counts, np.maximum(counts.diagonal(), 1))
    return ConfidentJoint(counts, guess, thresholds)


def _round_keep_sum(row: np.ndarray) -> np.ndarray:
    """Round to integers whose sum is the rounded sum (largest remainders get the spare units)."""
    floor = np.floor(row)
    spare = round(float(row.sum() - floor.sum()))
    if spare > 0:
        floor[np.argsort(-(row - floor), kind="stable")[:spare]] += 1
    return np.asarray(floor, dtype=np.int64)


def calibrate_joint(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rescale each row to its label count, then the matrix to the number of rows; integers."""
    k = counts.shape[0]
    label_counts = np.bincount(labels, minlength=k).astype(float)
    row_sums = counts.sum(axis=1, keepdims=True).astype(float)
    cal = counts / np.maximum(row_sums, 1) * label_counts[:, None]
    cal = cal / max(cal.sum(), 1e-12) * label_counts.sum()
    return np.vstack([_round_keep_sum(r) for r in cal])


def find_label_issues(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Boolean mask of label issues by prune-by-noise-rate on the calibrated confident joint."""
    labels = np.asarray(labels, dtype=np.int64)
    k = probs.shape[1]
    joint = calibrate_joint(confident_joint(labels, probs).counts, labels)
    issues = np.zeros(len(labels), dtype=bool)
    for given in range(k):
        rows = np.flatnonzero(labels == given)
        if len(rows) == 0:
            continue
        # keep at least one row per class: never prune a whole class away
        budget = len(rows) - 1
        for true in range(k):
            n = int(min(joint[given, true], budget))
            if true == given or n <= 0:
                continue
            margin = probs[rows, true] - probs[rows, given]
            issues[rows[np.argsort(-margin, kind="stable")[:n]]] = True
    issues &= probs.argmax(axis=1) != labels
    return issues


def _rank_scores(labels: np.ndarray, probs: np.ndarray, ranked_by: str) -> np.ndarray:
    """Suspicion in [0, 1]: 1 - self-confidence, or 1 - normalized margin."""
    self_conf = probs[np.arange(len(labels)), labels]
    if ranked_by == "self_confidence":
        return np.asarray(1.0 - self_conf)
    others = probs.copy()
    others[np.arange(len(labels)), labels] = -np.inf
    margin = self_conf - others.max(axis=1)  # in [-1, 1]
    return np.asarray((1.0 - margin) / 2.0)


@detector("confident-learning", needs_features=False,
          summary="label issues from out-of-fold probabilities (Northcutt et al. 2021)")
def confident_learning(data: PoisonData, config: ScanConfig) -> DetectorResult:
    flagged = np.zeros(len(data), dtype=bool)
    suggested = np.zeros(len(data), dtype=np.int64)
    result: DetectorResult | None = None
    for _ in range(config.cl_rounds):
        probs = out_of_fold_probabilities(
            data.x, data.y, n_classes=data.n_classes, folds=config.folds, model=config.cl_model,
            seed=config.seed, where=data.source, train_rows=np.flatnonzero(~flagged) if flagged.any() else None,
        )
        result = confident_learning_from_probs(data.y, probs, ranked_by=config.cl_ranked_by, also=flagged)
        new = result.flagged & ~flagged
        # a row keeps the suggestion of the round that found it (it differs from its label there)
        suggested = np.where(flagged, suggested, probs.argmax(axis=1))
        flagged = result.flagged
        if not new.any():
            break
    assert result is not None
    return replace(result, suggested=suggested)


def confident_learning_from_probs(
    labels: np.ndarray, probs: np.ndarray, *, ranked_by: str = "self_confidence", also: np.ndarray | None = None
) -> DetectorResult:
    """The detector on probabilities you already have (they must be out-of-fold); ``also``:
    rows flagged by an earlier round, kept flagged."""
    flagged = find_label_issues(labels, probs)
    if also is not None:
        flagged = flagged | also
    scores = _rank_scores(labels, probs, ranked_by)
    threshold = float(scores[flagged].min()) if flagged.any() else float("nan")
    cj = confident_joint(labels, probs)
    by_class = np.bincount(labels[flagged], minlength=probs.shape[1])
    return DetectorResult(
        "confident-learning",
        scores,
        flagged,
        threshold,
        suspicious_classes=tuple(int(c) for c in np.flatnonzero(by_class)),
        suggested=probs.argmax(axis=1),
        details={
            "thresholds": [round(float(t), 4) for t in cj.thresholds],
            "flagged_per_class": by_class.tolist(),
            "ranked_by": ranked_by,
            "out_of_fold_accuracy": round(float((probs.argmax(axis=1) == labels).mean()), 4),
        },
    )
