"""Outliers: rows far from every other row, scored by their k-nearest-neighbour distance.

An injected row that belongs to no natural group of the data (a crafted input, a corrupted
record, a trigger strong enough to move a row off the data manifold) sits far from its
neighbours. Features are standardised; the score is the robust z-score (median / MAD) of the log
mean distance to the ``k`` nearest rows, and a row is flagged at ``outlier_z`` or more.

An outlier is not proof of poisoning (real data has rare cases), and most poison is *not* an
outlier: BadNets rows and label flips look like ordinary inputs. Optimised poisons that stay in
the clean distribution (feature collision, Shafahi et al. 2018) defeat it by design.
"""

from __future__ import annotations

import numpy as np

from pipeshield.data.poisoning.registry import PoisonData, ScanConfig, detector
from pipeshield.data.poisoning.results import DetectorResult

__all__ = ["knn_outliers", "standardize"]

_K = 10


def standardize(x: np.ndarray) -> np.ndarray:
    x = np.nan_to_num(np.asarray(x, dtype=np.float64))
    std = x.std(axis=0)
    return np.asarray((x - x.mean(axis=0)) / np.where(std > 0, std, 1.0))


@detector("outliers", needs_features=False, summary="rows far from all others (k-NN distance, robust z)")
def knn_outliers(data: PoisonData, config: ScanConfig) -> DetectorResult:
    from sklearn.neighbors import NearestNeighbors

    n = len(data)
    if n <= _K + 1:
        return DetectorResult.skip("outliers", n, f"needs more than {_K + 1} rows")
    xs = standardize(data.x)
    dist, _ = NearestNeighbors(n_neighbors=_K + 1).fit(xs).kneighbors(xs)
    score = np.log(dist[:, 1:].mean(axis=1) + 1e-12)
    med = np.median(score)
    mad = 1.4826 * np.median(np.abs(score - med))
    z = (score - med) / mad if mad > 0 else np.zeros(n)
    flagged = z >= config.outlier_z
    return DetectorResult("outliers", z, flagged, config.outlier_z, details={"k": _K, "score": "robust z of log k-NN distance"})
