"""Leakage: PII and secrets in datasets, train/test contamination, features that leak the label.

    >>> from pipeshield.data.leakage import scan_leakage
    >>> report = scan_leakage("train.csv", test="test.parquet", label="diagnosis")   # doctest: +SKIP
    >>> report.leaks                                                                  # doctest: +SKIP
"""

from pipeshield.data.leakage.detectors import (
    DETECTORS,
    Detector,
    Match,
    iban_valid,
    luhn_valid,
    scan_text,
)
from pipeshield.data.leakage.labels import FeatureScore, LabelLeakResult, find_label_leakage
from pipeshield.data.leakage.overlap import OverlapResult, find_overlap
from pipeshield.data.leakage.pii import PiiHit, scan_pii
from pipeshield.data.leakage.report import LeakageReport, scan_leakage

__all__ = [
    "DETECTORS",
    "Detector",
    "FeatureScore",
    "LabelLeakResult",
    "LeakageReport",
    "Match",
    "OverlapResult",
    "PiiHit",
    "find_label_leakage",
    "find_overlap",
    "iban_valid",
    "luhn_valid",
    "scan_leakage",
    "scan_pii",
    "scan_text",
]
