"""Poisoning and backdoor detection, and sanitizing: find the rows an attacker planted.

Detectors register themselves (:mod:`~pipeshield.data.poisoning.registry`) and each returns a
:class:`DetectorResult` -- scores, the rows flagged at a calibrated threshold, and, against a
ground-truth mask, precision / recall / FPR:

==========================  =================================================================
``confident-learning``      label flips, from out-of-fold probabilities (Northcutt et al. 2021)
``spectral-signatures``     backdoors: top singular direction of activations (Tran et al. 2018)
``activation-clustering``   backdoors: a small, separate activation cluster (Chen et al. 2018)
``outliers``                rows far from all others (k-NN distance)
``near-duplicates``         copies and identical rows with conflicting labels
==========================  =================================================================

STRIP (:mod:`~pipeshield.data.poisoning.strip`) is the inference-time check for triggered
inputs. :func:`scan_file` runs the detectors on a CSV / Parquet / NPZ file and renders the stable
``poison-scan`` JSON; :func:`sanitize` writes the cleaned copy and its manifest.

    >>> report = scan_file("train.npz", "label", model="cnn.safetensors",
    ...                    builder="mypkg.models:build", input_shape=(1, 8, 8))   # doctest: +SKIP
    >>> [(r.row, r.detectors) for r in report.suspicious[:2]]
    [(691, ('activation-clustering', 'spectral-signatures')), (160, ('confident-learning',))]
"""

from __future__ import annotations

from pipeshield.data.poisoning.activations import penultimate_activations
from pipeshield.data.poisoning.registry import (
    DETECTORS,
    PoisonData,
    ScanConfig,
    detector,
    run_detectors,
)
from pipeshield.data.poisoning.results import DetectionMetrics, DetectorResult, detection_metrics
from pipeshield.data.poisoning.sanitize import SanitizeSummary, sanitize
from pipeshield.data.poisoning.scan import (
    ScanReport,
    SuspiciousRow,
    load_mask,
    scan_data,
    scan_file,
)
from pipeshield.data.poisoning.strip import Strip, calibrate_strip, strip_entropy

__all__ = [
    "DETECTORS",
    "DetectionMetrics",
    "DetectorResult",
    "PoisonData",
    "SanitizeSummary",
    "ScanConfig",
    "ScanReport",
    "Strip",
    "SuspiciousRow",
    "calibrate_strip",
    "detection_metrics",
    "detector",
    "load_mask",
    "penultimate_activations",
    "run_detectors",
    "sanitize",
    "scan_data",
    "scan_file",
    "strip_entropy",
]
