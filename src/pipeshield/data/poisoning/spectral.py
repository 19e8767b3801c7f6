"""Spectral signatures (Tran, Li & Madry, NeurIPS 2018): backdoored rows from activations.

Per class, centre the penultimate activations and project every row onto the top singular vector:
poisoned rows of a target class share a trigger feature that dominates that direction, so their
projections sit far out on one side. Tran et al. score rows by the squared projection and remove
the top ``1.5 * epsilon`` of each class, for an assumed poison fraction ``epsilon``. That removes
rows from every class, clean or not; we keep the score and replace the fixed budget by a
calibrated threshold: a row is flagged when its projection is ``spectral_z`` robust standard
deviations (median / MAD) from the class median. On clean classes projections are roughly normal
(max robust z ~3.5 over 1,200 demo rows), so a clean class flags nothing; the demo's triggered
rows sit at z >= 5.

Defeated by: adaptive attacks that keep poisoned activations inside the clean distribution (Tan &
Shokri 2019, "Bypassing backdoor detection algorithms in deep learning"); triggers spread over
several directions; poison above ~half of the target class (the median then sits among the
poison); and clean-label attacks whose poisoned rows are genuine members of their class.
"""

from __future__ import annotations

import numpy as np

from pipeshield.data.poisoning.registry import PoisonData, ScanConfig, detector
from pipeshield.data.poisoning.results import DetectorResult

__all__ = ["spectral_scores", "spectral_signatures"]

_MIN_ROWS = 10


def spectral_scores(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared projections on the top singular vector, and robust z of the signed projection."""
    centred = features - features.mean(axis=0)
    _u, _s, vt = np.linalg.svd(centred, full_matrices=False)
    proj = centred @ vt[0]
    med = np.median(proj)
    mad = 1.4826 * np.median(np.abs(proj - med))
    z = np.abs(proj - med) / mad if mad > 0 else np.zeros_like(proj)
    return proj**2, z


@detector("spectral-signatures", needs_features=True,
          summary="per-class top singular direction of penultimate activations (Tran et al. 2018)")
def spectral_signatures(data: PoisonData, config: ScanConfig) -> DetectorResult:
    assert data.features is not None
    n = len(data)
    scores = np.full(n, np.nan)
    zs = np.full(n, np.nan)
    flagged = np.zeros(n, dtype=bool)
    per_class: dict[str, dict[str, float | int]] = {}
    suspicious = []
    for c in range(data.n_classes):
        rows = np.flatnonzero(data.y == c)
        if len(rows) < _MIN_ROWS:
            continue
        _sq, z = spectral_scores(np.asarray(data.features[rows], dtype=np.float64))
        zs[rows] = z
        scores[rows] = z
        hit = z >= config.spectral_z
        flagged[rows[hit]] = True
        per_class[str(data.classes[c])] = {"rows": len(rows), "flagged": int(hit.sum()), "max_z": round(float(z.max()), 2)}
        if hit.any():
            suspicious.append(c)
    return DetectorResult(
        "spectral-signatures", scores, flagged, config.spectral_z,
        suspicious_classes=tuple(suspicious),
        details={"per_class": per_class, "score": "robust z of the top-singular-vector projection"},
    )
