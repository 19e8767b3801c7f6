"""Audit check ``supplychain.dependencies``: known vulnerabilities and hygiene of the pipeline's
Python dependencies.

It audits the running environment (``environment = true``) and any requirements files named in
the check's settings (paths relative to the pipeline file)::

    [policy.checks."supplychain.dependencies"]
    requirements = ["requirements.txt"]
    osv_db = "osv/PyPI-all.zip"     # an offline OSV export (folder of JSON or OSV's zip)
    online = false                   # true: ask api.osv.dev instead

Findings: one ``fail`` per vulnerable package and location (severity of its worst advisory, ML
frameworks floored at high), one ``warn`` per hygiene problem, a ``skipped`` finding when there is
no vulnerability data to ask (never a silent pass), and a ``pass`` naming what was checked.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline
from pipeshield.supplychain.deps.audit import audit_dependencies
from pipeshield.supplychain.deps.model import CLEAN_CAVEAT, DepsReport, Vulnerability
from pipeshield.supplychain.deps.services import Service
from pipeshield.supplychain.deps.sources import EnvironmentSource, RequirementsSource, Source

__all__ = ["DependencyAudit"]


class DependencySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    requirements: list[str] = Field(default_factory=list, description="requirements files to audit")
    environment: bool = Field(True, description="audit the running Python environment")
    osv_db: str | None = Field(None, description="offline OSV export: folder of JSON files or a zip")
    online: bool = Field(False, description="ask the OSV API (network) when no osv_db is given")
    ignore: list[str] = Field(default_factory=list, description="advisory ids or aliases to ignore (reviewed)")
    ml_floor: Severity = Field(Severity.HIGH, description="lowest severity for an ML framework's advisory")


def _service(settings: DependencySettings, pipeline: Pipeline) -> Service | None:
    if settings.osv_db:
        from pipeshield.supplychain.deps.osv_db import OfflineOSV

        return OfflineOSV(pipeline.resolve(settings.osv_db))
    if settings.online:
        from pipeshield.supplychain.deps.osv_api import OnlineOSV

        return OnlineOSV()
    return None


def _vulnerable(report: DepsReport) -> dict[tuple[str, str], list[Vulnerability]]:
    grouped: dict[tuple[str, str], list[Vulnerability]] = {}
    for v in report.vulnerabilities:
        grouped.setdefault((v.dependency.key, v.dependency.location), []).append(v)
    return grouped


class DependencyAudit(Check):
    id = "supplychain.dependencies"
    title = "Dependency audit"
    stage = Stage.TRAINING
    threat = Threat.SUPPLY_CHAIN
    cost = "cheap"
    description = ("Known vulnerabilities (OSV) in the environment and requirements files, ML framework patch "
                   "level, unpinned/unhashed/unverifiable requirements and typosquatted names.")
    remediation = "Upgrade to a fixed version (pin it with ==, and --hash it); remove packages that imitate well-known names."
    Settings = DependencySettings

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        settings: DependencySettings = ctx.settings
        pipeline = ctx.pipeline
        sources: list[Source] = []
        if settings.requirements:
            sources.append(RequirementsSource([pipeline.resolve(p) for p in settings.requirements],
                                              display_base=pipeline.base_dir))
        if settings.environment:
            sources.append(EnvironmentSource())
        service = _service(settings, pipeline)
        report = audit_dependencies(sources, service, ignore=settings.ignore, ml_floor=settings.ml_floor)
        used: dict[str, object] = {"service": report.service, "requirements": list(settings.requirements),
                "environment": settings.environment, "ml_floor": settings.ml_floor.value}
        for (key, location), vulns in _vulnerable(report).items():
            yield self._vulnerable_finding(f"{location}:{key}", vulns, used)
        for issue in report.issues:
            yield self.finding(
                Status.WARN, severity=issue.severity,
                subject=f"{issue.location}:{issue.package or ''}:{issue.kind.value}",
                message=issue.message, metrics={"kind": issue.kind.value, "package": issue.package},
                settings=used, locations=(issue.location,),
            )
        checked = sum(1 for d in report.dependencies if d.version is not None)
        if report.skipped:
            yield self.skipped("vulnerabilities", report.skipped)
        elif not report.vulnerabilities:
            unaudited = f" ({len(report.unaudited)} without a version could not be checked)" if report.unaudited else ""
            yield self.finding(
                Status.PASS, subject="vulnerabilities", settings=used, caveat=CLEAN_CAVEAT,
                message=f"{checked} exactly-versioned package(s) checked against {report.service}: "
                f"no known vulnerabilities{unaudited}",
                metrics={"checked": checked, "unaudited": len(report.unaudited)},
            )

    def _vulnerable_finding(self, subject: str, vulns: list[Vulnerability], used: dict[str, object]) -> Finding:
        """One finding per vulnerable package and location, as bad as its worst advisory."""
        dep = vulns[0].dependency
        fixes = sorted({f for v in vulns for f in v.fixed})
        names = []
        for v in vulns:
            cves = [c for c in v.advisory.cves if c != v.advisory.id]
            names.append(v.advisory.id + (f" ({'/'.join(cves)})" if cves else ""))
        tag = " [ML framework]" if vulns[0].ml_framework else ""
        upgrade = f"; fixed in {', '.join(fixes)}" if fixes else "; no fixed release"
        count = f"{len(vulns)} known vulnerabilit{'y' if len(vulns) == 1 else 'ies'}"
        return self.finding(
            Status.FAIL, severity=max(v.severity for v in vulns), subject=subject,
            message=f"{dep.name}=={dep.version}{tag}: {count}: {', '.join(names)}{upgrade}",
            metrics={"package": dep.name, "version": dep.version, "advisories": len(vulns),
                     "ml_framework": vulns[0].ml_framework, "fixed_versions": ", ".join(fixes) or None},
            settings=used,
            locations=(dep.location,),
            evidence=tuple(Evidence("text", f"{v.advisory.id} ({v.severity})",
                                    text=f"{v.advisory.summary} [{v.advisory.url}]") for v in vulns),
        )
