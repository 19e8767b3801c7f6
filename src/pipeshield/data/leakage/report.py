"""One leakage report for one dataset: PII and secrets, train/test overlap, label leakage.

``LeakageReport.to_dict()`` is what ``pipeshield data leakage --format json`` prints (stable; keys
are only added)::

    {"file": PATH, "test": PATH | null, "label": COLUMN | null, "leaks": bool,
     "pii": [{"column", "detector", "kind": "pii"|"secret", "count", "rows", "examples": [masked]}],
     "overlap": {"columns", "train_rows", "test_rows", "exact_test_rows", "exact_pairs": [{"train_row",
                 "test_row"}], "near_test_rows", "near_pairs": [{"train_row", "test_row", "distance"}],
                 "near_distance", "sampled"} | null,
     "label_leakage": {"label", "task", "baseline", "threshold", "rows_used",
                       "leaking": [{"feature", "score", "method"}], "top": [...]} | null}

Examples in ``pii`` are always masked; no raw value of a detected item is ever in the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeshield.data.leakage.labels import LabelLeakResult, find_label_leakage
from pipeshield.data.leakage.overlap import OverlapResult, find_overlap
from pipeshield.data.leakage.pii import PiiHit, scan_pii

__all__ = ["LeakageReport", "scan_leakage"]


@dataclass(frozen=True)
class LeakageReport:
    file: str
    test: str | None
    label: str | None
    pii: tuple[PiiHit, ...]
    overlap: OverlapResult | None
    label_leakage: LabelLeakResult | None

    @property
    def leaks(self) -> bool:
        overlap = self.overlap is not None and (self.overlap.exact_test_rows + self.overlap.near_test_rows) > 0
        labels = self.label_leakage is not None and bool(self.label_leakage.leaking)
        return bool(self.pii) or overlap or labels

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "test": self.test,
            "label": self.label,
            "leaks": self.leaks,
            "pii": [h.to_dict() for h in self.pii],
            "overlap": None if self.overlap is None else self.overlap.to_dict(),
            "label_leakage": None if self.label_leakage is None else self.label_leakage.to_dict(),
        }


def scan_leakage(path: Path | str, *, test: Path | str | None = None, label: str | None = None,
                 seed: int = 0) -> LeakageReport:
    """Every leakage test that applies: PII always (and in ``test`` too), overlap with ``test``,
    label leakage when ``label`` is given."""
    pii = list(scan_pii(path))
    if test is not None:
        pii.extend(scan_pii(test))
    overlap = find_overlap(path, test, label=label, seed=seed) if test is not None else None
    labels = find_label_leakage(path, label, seed=seed) if label is not None else None
    return LeakageReport(str(path), None if test is None else str(test), label, tuple(pii), overlap, labels)
