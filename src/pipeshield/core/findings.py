"""Findings: the common currency of every check, attack and control.

A :class:`Finding` says what was checked (``check``, ``subject``), where in the pipeline
(``stage``) against which threat (``threat``), how it came out (``status``) and how bad that is
(``severity``), with the measured numbers (``metrics``), the settings they were measured with
(``settings``), the evidence and the control that fixes it (``remediation``). Framework references
are filled from the threat map, never typed in by a check.

Severity belongs to problems: a ``pass`` or ``skipped`` finding always has severity ``info``, so
"anything at or above high" is one comparison.

    >>> f = Finding(check="validation.clean-accuracy", title="Clean accuracy", stage=Stage.VALIDATION,
    ...             threat=Threat.GOVERNANCE, status=Status.PASS, subject="digits_cnn")
    >>> f.id
    'validation.clean-accuracy/digits_cnn'
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Evidence", "Finding", "Severity", "Stage", "Status", "Threat", "STAGE_ORDER"]


class Stage(enum.StrEnum):
    """The six stages of an ML pipeline, in the order data flows through them."""

    COLLECTION = "collection"
    PREPROCESSING = "preprocessing"
    TRAINING = "training"
    VALIDATION = "validation"
    DEPLOYMENT = "deployment"
    INFERENCE = "inference"


STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)


class Threat(enum.StrEnum):
    """The threats of the design's threat table; each maps to framework IDs in threat_map.toml."""

    DATA_POISONING = "data_poisoning"
    DATA_LEAKAGE = "data_leakage"
    FEATURE_INJECTION = "feature_injection"
    SUPPLY_CHAIN = "supply_chain"
    TESTING_BYPASS = "testing_bypass"
    EVASION = "evasion"
    MODEL_THEFT = "model_theft"
    MODEL_INVERSION = "model_inversion"
    MEMBERSHIP_INFERENCE = "membership_inference"
    AVAILABILITY = "availability"
    GOVERNANCE = "governance"


class Severity(enum.StrEnum):
    """Ordered severity; compare with ``rank`` or the rich comparison operators."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def __ge__(self, other: object) -> bool:
        return self.rank >= _coerce(other).rank

    def __gt__(self, other: object) -> bool:
        return self.rank > _coerce(other).rank

    def __le__(self, other: object) -> bool:
        return self.rank <= _coerce(other).rank

    def __lt__(self, other: object) -> bool:
        return self.rank < _coerce(other).rank


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


def _coerce(other: object) -> Severity:
    """Severities compare by rank, also against their names (never alphabetically)."""
    if isinstance(other, Severity):
        return other
    if isinstance(other, str):
        return Severity(other)
    raise TypeError(f"cannot compare a Severity with {type(other).__name__}")


class Status(enum.StrEnum):
    """How a check came out. ``error`` means the check itself crashed: never read it as a pass."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    ERROR = "error"
    SKIPPED = "skipped"

    @property
    def is_problem(self) -> bool:
        return self in (Status.FAIL, Status.WARN, Status.ERROR)


def _json_scalar(value: Any) -> float | int | str | bool | None:
    """A metric as a plain JSON value: numpy scalars unwrapped, NaN and infinities as ``None``
    (JSON has no NaN; a report must still be written when one number could not be measured)."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence: a file (with its digest), a table, a text or a plot.

    ``kind`` is one of ``file``, ``text``, ``table``, ``plot``. Plots are data, not pictures:
    ``data`` holds a plot spec (``{"type": "bar"|"heatmap"|"images"|"line", ...}``) that the HTML report
    draws, so report.json stays diffable and the picture is never out of sync with the numbers.
    """

    kind: str
    label: str
    path: str | None = None
    sha256: str | None = None
    text: str | None = None
    data: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("file", "text", "table", "plot"):
            raise ValueError(f"unknown evidence kind {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "label": self.label}
        for key in ("path", "sha256", "text", "data"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Evidence:
        return cls(
            kind=str(raw["kind"]),
            label=str(raw.get("label", "")),
            path=raw.get("path"),
            sha256=raw.get("sha256"),
            text=raw.get("text"),
            data=raw.get("data"),
        )


@dataclass(frozen=True)
class Finding:
    """One result of one check on one subject (a model, a dataset, a file, or the pipeline)."""

    check: str
    title: str
    stage: Stage
    threat: Threat
    status: Status
    severity: Severity = Severity.INFO
    subject: str | None = None
    message: str = ""
    metrics: dict[str, float | int | str | bool | None] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()
    locations: tuple[str, ...] = ()
    remediation: str = ""
    references: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    caveat: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "stage", Stage(self.stage))
        object.__setattr__(self, "threat", Threat(self.threat))
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "severity", Severity(self.severity))
        if not self.status.is_problem and self.severity is not Severity.INFO:
            # Severity measures a problem; a pass or a skip has none.
            object.__setattr__(self, "severity", Severity.INFO)
        if self.status.is_problem and self.severity is Severity.INFO and self.status is not Status.WARN:
            raise ValueError(f"{self.check}: a {self.status} finding needs a severity above info")
        object.__setattr__(self, "metrics", {str(k): _json_scalar(v) for k, v in self.metrics.items()})
        object.__setattr__(self, "evidence", tuple(self.evidence))
        object.__setattr__(self, "locations", tuple(self.locations))

    @property
    def id(self) -> str:
        return self.check if self.subject is None else f"{self.check}/{self.subject}"

    def with_references(self, references: dict[str, list[dict[str, str]]]) -> Finding:
        return replace(self, references=references)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "check": self.check,
            "title": self.title,
            "subject": self.subject,
            "stage": self.stage.value,
            "threat": self.threat.value,
            "severity": self.severity.value,
            "status": self.status.value,
            "message": self.message,
            "metrics": dict(self.metrics),
            "settings": dict(self.settings),
            "evidence": [e.to_dict() for e in self.evidence],
            "locations": list(self.locations),
            "remediation": self.remediation,
            "references": self.references,
            "caveat": self.caveat,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Finding:
        return cls(
            check=raw["check"],
            title=raw["title"],
            stage=Stage(raw["stage"]),
            threat=Threat(raw["threat"]),
            status=Status(raw["status"]),
            severity=Severity(raw["severity"]),
            subject=raw.get("subject"),
            message=raw.get("message", ""),
            metrics=dict(raw.get("metrics", {})),
            settings=dict(raw.get("settings", {})),
            evidence=tuple(Evidence.from_dict(e) for e in raw.get("evidence", [])),
            locations=tuple(raw.get("locations", [])),
            remediation=raw.get("remediation", ""),
            references=dict(raw.get("references", {})),
            caveat=raw.get("caveat", ""),
        )
