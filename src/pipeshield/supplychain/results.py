"""Scan results: findings, per-file verdicts, and the JSON shape automation relies on.

Every scanned file gets exactly one :class:`Verdict`. ``clean`` means the scanner finished and saw
nothing it denies, which is not the same as "safe": the :data:`CLEAN_CAVEAT` says so wherever a
clean result is shown.

    >>> FileResult.build("m.pt", "pickle", []).verdict
    <Verdict.CLEAN: 'clean'>
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeshield.core.findings import Severity
from pipeshield.supplychain.rules import RULES, Effect

__all__ = ["CLEAN_CAVEAT", "FileResult", "ScanFinding", "ScanResult", "Verdict"]

CLEAN_CAVEAT = (
    "No findings is not the same as safe: the scanner checks known code-execution techniques "
    "against an allowlist; it does not prove the weights are benign."
)


class Verdict(enum.StrEnum):
    CLEAN = "clean"
    MALICIOUS = "malicious"
    INCONCLUSIVE = "inconclusive"

    @property
    def rank(self) -> int:
        return {Verdict.CLEAN: 0, Verdict.INCONCLUSIVE: 1, Verdict.MALICIOUS: 2}[self]


@dataclass(frozen=True)
class ScanFinding:
    """One thing found in one file: which rule, how bad, what triggered it and where."""

    rule: str
    message: str
    severity: Severity | None = None
    callable: str | None = None
    offset: int | None = None
    member: str | None = None

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}")
        if self.severity is None:
            object.__setattr__(self, "severity", RULES[self.rule].severity)

    @property
    def effect(self) -> Effect:
        return RULES[self.rule].effect

    @property
    def references(self) -> tuple[str, ...]:
        return RULES[self.rule].references

    def in_member(self, member: str) -> ScanFinding:
        """This finding, located inside archive member ``member`` (nested paths join with '!')."""
        inner = f"{member}!{self.member}" if self.member else member
        return ScanFinding(self.rule, self.message, self.severity, self.callable, self.offset, inner)

    def to_dict(self) -> dict[str, Any]:
        assert self.severity is not None
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "callable": self.callable,
            "offset": self.offset,
            "member": self.member,
            "references": list(self.references),
        }


def verdict_of(findings: Iterable[ScanFinding]) -> Verdict:
    verdict = Verdict.CLEAN
    for f in findings:
        if f.effect is Effect.MALICIOUS:
            return Verdict.MALICIOUS
        if f.effect is Effect.INCONCLUSIVE:
            verdict = Verdict.INCONCLUSIVE
    return verdict


@dataclass(frozen=True)
class FileResult:
    """The verdict on one file on disk (archive members report inside it)."""

    path: str
    format: str
    verdict: Verdict
    findings: tuple[ScanFinding, ...] = ()
    size: int = 0
    note: str = ""

    @classmethod
    def build(cls, path: str, fmt: str, findings: Iterable[ScanFinding], size: int = 0) -> FileResult:
        found = _dedupe(findings)
        verdict = verdict_of(found)
        note = CLEAN_CAVEAT if verdict is Verdict.CLEAN else ""
        return cls(path, fmt, verdict, found, size, note)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "verdict": self.verdict.value,
            "size": self.size,
            "findings": [f.to_dict() for f in self.findings],
            "note": self.note,
        }


@dataclass(frozen=True)
class ScanResult:
    """All files of one scan; ``verdict`` is the worst of them."""

    files: tuple[FileResult, ...] = field(default_factory=tuple)

    @property
    def verdict(self) -> Verdict:
        return max((f.verdict for f in self.files), key=lambda v: v.rank, default=Verdict.CLEAN)

    def to_dict(self) -> dict[str, Any]:
        return {"files": [f.to_dict() for f in self.files]}


def _dedupe(findings: Iterable[ScanFinding]) -> tuple[ScanFinding, ...]:
    seen: set[tuple[Any, ...]] = set()
    out: list[ScanFinding] = []
    for f in findings:
        key = (f.rule, f.callable, f.member, f.message if f.callable is None else None)
        if key in seen:
            continue
        seen.add(key)
        out.append(f)
    out.sort(key=lambda f: -(f.severity.rank if f.severity else 0))
    return tuple(out)
