"""The report: every finding of one audit, a summary, and the gate's verdict.

``report.json`` is this object serialised; its schema (``report.schema.json``) is versioned by
``SCHEMA_VERSION``: a new optional field bumps the minor number, anything that can break a reader
bumps the major. :meth:`Report.from_json` refuses a major version it does not know.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipeshield.core.findings import STAGE_ORDER, Finding, Severity, Status
from pipeshield.errors import ReportError

__all__ = ["SCHEMA_VERSION", "Report", "gate_failures"]

SCHEMA_VERSION = "1.0"


def gate_failures(findings: list[Finding], fail_on: Severity) -> list[Finding]:
    """Problems (fail, warn, error) at or above ``fail_on``: what makes the gate exit 1."""
    return [f for f in findings if f.status.is_problem and f.severity >= fail_on]


def _sort_key(f: Finding) -> tuple[int, int, int, str]:
    status_rank = {Status.ERROR: 0, Status.FAIL: 1, Status.WARN: 2, Status.PASS: 3, Status.SKIPPED: 4}
    return (STAGE_ORDER.index(f.stage), -f.severity.rank, status_rank[f.status], f.id)


@dataclass(frozen=True)
class Report:
    pipeline: dict[str, Any]
    findings: tuple[Finding, ...]
    fail_on: Severity = Severity.HIGH
    tool: dict[str, str] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    frameworks: dict[str, dict[str, str]] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "findings", tuple(sorted(self.findings, key=_sort_key)))
        object.__setattr__(self, "fail_on", Severity(self.fail_on))

    @property
    def gate_failures(self) -> list[Finding]:
        return gate_failures(list(self.findings), self.fail_on)

    @property
    def passed_gate(self) -> bool:
        return not self.gate_failures

    def summary(self) -> dict[str, Any]:
        by_status = Counter(f.status.value for f in self.findings)
        by_severity = Counter(f.severity.value for f in self.findings if f.status.is_problem)
        by_stage: dict[str, dict[str, int]] = {}
        for stage in STAGE_ORDER:
            counts = Counter(f.status.value for f in self.findings if f.stage is stage)
            by_stage[stage.value] = {s.value: counts.get(s.value, 0) for s in Status}
        worst = max((f.severity for f in self.findings if f.status.is_problem), default=Severity.INFO)
        return {
            "total": len(self.findings),
            "by_status": {s.value: by_status.get(s.value, 0) for s in Status},
            "by_severity": {s.value: by_severity.get(s.value, 0) for s in Severity},
            "by_stage": by_stage,
            "worst_severity": worst.value,
            "gate": {
                "fail_on": self.fail_on.value,
                "passed": self.passed_gate,
                "failing_findings": [f.id for f in self.gate_failures],
            },
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "tool": dict(self.tool),
            "pipeline": dict(self.pipeline),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": round(self.duration_s, 3),
            "options": dict(self.options),
            "frameworks": self.frameworks,
            "summary": self.summary(),
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "report.json") -> Report:
        version = str(raw.get("schema_version", ""))
        major = version.split(".")[0]
        if major != SCHEMA_VERSION.split(".")[0]:
            raise ReportError(
                f"{source}: schema_version {version or '(missing)'} is not supported "
                f"(this pipeshield reads {SCHEMA_VERSION.split('.')[0]}.x)"
            )
        try:
            findings = tuple(Finding.from_dict(f) for f in raw["findings"])
            fail_on = Severity(raw.get("summary", {}).get("gate", {}).get("fail_on", "high"))
            return cls(
                pipeline=dict(raw["pipeline"]),
                findings=findings,
                fail_on=fail_on,
                tool=dict(raw.get("tool", {})),
                started_at=raw.get("started_at", ""),
                finished_at=raw.get("finished_at", ""),
                duration_s=float(raw.get("duration_s", 0.0)),
                options=dict(raw.get("options", {})),
                frameworks=dict(raw.get("frameworks", {})),
                schema_version=version,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ReportError(f"{source}: not a pipeshield report ({type(err).__name__}: {err})") from None

    @classmethod
    def read(cls, path: str) -> Report:
        try:
            with open(path, encoding="utf-8") as fh:
                raw = json.load(fh)
        except FileNotFoundError:
            raise ReportError(f"{path}: report not found") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ReportError(f"{path}: cannot read: {err}") from None
        except json.JSONDecodeError as err:
            raise ReportError(f"{path}: not JSON ({err.msg} at line {err.lineno})") from None
        if not isinstance(raw, dict):
            raise ReportError(f"{path}: not a pipeshield report (top level is not an object)")
        return cls.from_dict(raw, source=path)
