"""Per-column drift tests and the population stability index.

* numeric columns: two-sample Kolmogorov-Smirnov between the profile's row sample and the batch's
  (scipy's exact/asymptotic p-value);
* categorical and boolean columns: chi-squared test of homogeneity on the 2 x k table of counts
  (profile counts vs batch counts, unseen values pooled as "other");
* PSI as the effect size: sum over bins of (b - r) * ln(b / r), on about 10 bins of equal reference
  mass (built from the profile's fine histogram), with a 0.5 pseudo-count so an empty bin is finite.
  Conventional reading: < 0.1 stable, 0.1-0.25 moderate, > 0.25 major.

Bonferroni: with m columns tested at family-wise level alpha, each column uses alpha / m.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["chi2_homogeneity", "equal_mass_groups", "ks_two_sample", "psi"]


def psi(reference: np.ndarray, batch: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins."""
    ref = np.asarray(reference, dtype=np.float64) + 0.5
    cur = np.asarray(batch, dtype=np.float64) + 0.5
    r, b = ref / ref.sum(), cur / cur.sum()
    return float(np.sum((b - r) * np.log(b / r)))


def equal_mass_groups(counts: np.ndarray, groups: int = 10) -> np.ndarray:
    """Group consecutive fine bins so each group holds about 1/``groups`` of the reference mass;
    returns, for each fine bin, its group number."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    out = np.zeros(len(counts), dtype=np.int64)
    if total == 0:
        return out
    target = total / groups
    group, acc = 0, 0.0
    for i, c in enumerate(counts):
        out[i] = group
        acc += c
        if acc >= target * (group + 1) and group < groups - 1:
            group += 1
    # an empty trailing group (mass exhausted early) folds into the last real one
    return out


def group_counts(counts: np.ndarray, groups: np.ndarray) -> np.ndarray:
    return np.bincount(groups, weights=np.asarray(counts, dtype=np.float64), minlength=int(groups.max()) + 1)


def ks_two_sample(reference: np.ndarray, batch: np.ndarray) -> tuple[float, float]:
    from scipy.stats import ks_2samp

    ref = reference[~np.isnan(reference)]
    cur = batch[~np.isnan(batch)]
    if len(ref) == 0 or len(cur) == 0:
        return 0.0, 1.0
    result: Any = ks_2samp(ref, cur)
    return float(result.statistic), float(result.pvalue)


def chi2_homogeneity(reference: np.ndarray, batch: np.ndarray) -> tuple[float, float]:
    from scipy.stats import chi2_contingency

    table = np.vstack([reference, batch]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result: Any = chi2_contingency(table, correction=False)
    stat, p = float(result[0]), float(result[1])
    return stat, (p if math.isfinite(p) else 1.0)
