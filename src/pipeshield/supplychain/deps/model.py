"""The typed, frozen results of a dependency audit: what was found, where, and how bad.

A :class:`Dependency` is one requirement line or one installed distribution; a
:class:`Vulnerability` ties a dependency to an :class:`Advisory` it is affected by; an
:class:`Issue` is a hygiene problem (unpinned, unhashed, unverifiable, a typosquat). A
:class:`DepsReport` holds them all, plus what the audit could *not* check.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from pipeshield.core.findings import Severity
from pipeshield.supplychain.deps.names import canonical, is_ml_framework

__all__ = ["Advisory", "Dependency", "DepsReport", "Issue", "IssueKind", "Vulnerability"]

#: No known vulnerabilities is not the same as no vulnerabilities.
CLEAN_CAVEAT = (
    "no known vulnerabilities means none in the advisory data used, at its date; it says nothing "
    "of unpublished flaws or of malicious packages without an advisory"
)


class IssueKind(enum.StrEnum):
    """Hygiene problems; each is its own SARIF rule (``PS-DEP-<KIND>``)."""

    UNPINNED = "unpinned"
    UNHASHED = "unhashed"
    UNVERIFIABLE = "unverifiable"
    EDITABLE = "editable"
    EXTRA_INDEX = "extra-index"
    TYPOSQUAT = "typosquat"


@dataclass(frozen=True)
class Dependency:
    """One requirement or installed distribution. ``version`` is set only when it is exact."""

    name: str
    version: str | None
    source: str
    line: int | None = None
    specifier: str = ""
    extras: tuple[str, ...] = ()
    marker: str | None = None
    url: str | None = None
    editable: bool = False
    hashes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return canonical(self.name)

    @property
    def location(self) -> str:
        return self.source if self.line is None else f"{self.source}:{self.line}"

    @property
    def pinned(self) -> bool:
        return self.version is not None and self.url is None and not self.editable


@dataclass(frozen=True)
class Advisory:
    """An OSV record reduced to what a report needs (matching stays in :mod:`.osv`)."""

    id: str
    summary: str
    severity: Severity
    severity_source: str
    aliases: tuple[str, ...] = ()
    details: str = ""
    cvss: str | None = None
    url: str | None = None

    @property
    def cves(self) -> tuple[str, ...]:
        return tuple(a for a in (self.id, *self.aliases) if a.startswith("CVE-"))


@dataclass(frozen=True)
class Vulnerability:
    """A dependency affected by an advisory, with the versions that fix it (none: no fix yet)."""

    dependency: Dependency
    advisory: Advisory
    fixed: tuple[str, ...]
    severity: Severity

    @property
    def ml_framework(self) -> bool:
        return is_ml_framework(self.dependency.name)


@dataclass(frozen=True)
class Issue:
    """A hygiene problem at ``location`` (``file:line`` or ``environment``); ``package`` may be
    ``None`` for file-wide problems such as an extra index URL."""

    kind: IssueKind
    package: str | None
    location: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class DepsReport:
    """Everything one audit found. ``skipped`` says why vulnerabilities were not looked up."""

    dependencies: tuple[Dependency, ...]
    vulnerabilities: tuple[Vulnerability, ...] = ()
    issues: tuple[Issue, ...] = ()
    service: str | None = None
    skipped: str | None = None
    unaudited: tuple[Dependency, ...] = field(default=())

    def problems(self) -> list[Vulnerability | Issue]:
        return [*self.vulnerabilities, *self.issues]

    @property
    def worst(self) -> Severity | None:
        return max((p.severity for p in self.problems()), default=None)

    def failing(self, threshold: Severity) -> list[Vulnerability | Issue]:
        return [p for p in self.problems() if p.severity >= threshold]
