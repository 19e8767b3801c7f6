"""What a validation found: violations, per-column drift, the multivariate test.

``ValidationResult.to_dict()`` is the JSON ``pipeshield data validate --format json`` prints; its
shape is stable (keys are only ever added)::

    {"file": PATH, "profile": {"sources": [...], "rows": N}, "rows": N, "conforms": bool,
     "violations": [{"kind", "column", "severity", "message", "count", "rows": [first row numbers],
                     "statistic", "value", "threshold"}],
     "drift": [{"column", "test", "statistic", "p_value", "psi", "threshold", "drifted"}],
     "multivariate": {"test": "mmd", "statistic", "p_value", "alpha", "columns", "n_reference",
                      "n_batch", "permutations", "drifted"} | null,
     "settings": {...}}

``kind`` is one of ``missing_column``, ``unexpected_column``, ``type_violation``,
``range_violation``, ``unseen_category``, ``null_spike``, ``drift``, ``multivariate_drift``.
Rows are 0-based data rows of the validated file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pipeshield.core.findings import Severity

__all__ = ["VIOLATION_KINDS", "ColumnDrift", "ValidationResult", "Violation"]

VIOLATION_KINDS = (
    "missing_column",
    "unexpected_column",
    "type_violation",
    "range_violation",
    "unseen_category",
    "null_spike",
    "drift",
    "multivariate_drift",
)


@dataclass(frozen=True)
class Violation:
    kind: str
    column: str
    severity: Severity
    message: str
    count: int = 0
    rows: tuple[int, ...] = ()
    statistic: str | None = None
    value: float | str | None = None
    threshold: float | str | None = None

    def __post_init__(self) -> None:
        if self.kind not in VIOLATION_KINDS:
            raise ValueError(f"unknown violation kind {self.kind!r}")
        object.__setattr__(self, "severity", Severity(self.severity))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["severity"] = self.severity.value
        out["rows"] = list(self.rows)
        return out


@dataclass(frozen=True)
class ColumnDrift:
    """One column's two-sample test. ``drifted``: p below the Bonferroni threshold *and* PSI at
    least the minor level, so a huge batch does not flag a shift too small to matter."""

    column: str
    test: str
    statistic: float
    p_value: float
    psi: float
    threshold: float
    drifted: bool
    reference_histogram: tuple[float, ...] = ()
    batch_histogram: tuple[float, ...] = ()
    bin_labels: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "test": self.test,
            "statistic": round(self.statistic, 6),
            "p_value": float(f"{self.p_value:.6g}"),
            "psi": round(self.psi, 6),
            "threshold": float(f"{self.threshold:.6g}"),
            "drifted": self.drifted,
        }


@dataclass(frozen=True)
class ValidationResult:
    file: str
    rows: int
    violations: tuple[Violation, ...]
    drift: tuple[ColumnDrift, ...]
    multivariate: dict[str, Any] | None
    profile: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def conforms(self) -> bool:
        return not self.violations

    @property
    def worst(self) -> Severity:
        return max((v.severity for v in self.violations), default=Severity.INFO)

    def columns_with(self, kind: str) -> list[str]:
        return [v.column for v in self.violations if v.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "profile": self.profile,
            "rows": self.rows,
            "conforms": self.conforms,
            "violations": [v.to_dict() for v in self.violations],
            "drift": [d.to_dict() for d in self.drift],
            "multivariate": self.multivariate,
            "settings": self.settings,
        }
