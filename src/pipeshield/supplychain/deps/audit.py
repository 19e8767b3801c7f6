"""The dependency audit: sources -> service -> advisories and hygiene -> one :class:`DepsReport`.

    >>> report = audit_dependencies([RequirementsSource(["requirements.txt"])],
    ...                             OfflineOSV("osv/"))      # doctest: +SKIP
    >>> [(v.dependency.name, v.advisory.id) for v in report.vulnerabilities]

ML frameworks (:data:`~.names.ML_FRAMEWORKS`) get a severity floor (``high`` by default): their
advisories are typically code execution on model load or an exposed cluster, and the audit must
not let a mislabelled "moderate" slip under the CI gate.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from pipeshield.core.findings import Severity
from pipeshield.supplychain.deps.hygiene import hygiene_issues
from pipeshield.supplychain.deps.model import Dependency, DepsReport, Issue, Vulnerability
from pipeshield.supplychain.deps.names import is_ml_framework
from pipeshield.supplychain.deps.services import Service
from pipeshield.supplychain.deps.sources import Source

__all__ = ["NO_SERVICE", "audit_dependencies"]

NO_SERVICE = ("no vulnerability data: give an offline OSV database (--osv-db PATH, or osv_db in the "
              "check's settings) or allow the OSV API (--online); only hygiene was checked")


def audit_dependencies(
    sources: Sequence[Source],
    service: Service | None,
    *,
    ignore: Collection[str] = (),
    ml_floor: Severity = Severity.HIGH,
) -> DepsReport:
    """Collect, check hygiene, ask the service (if any), and rank what was found."""
    deps: list[Dependency] = []
    issues: list[Issue] = []
    for source in sources:
        collected = source.collect()
        deps += collected.dependencies
        issues += hygiene_issues(collected)
    vulns: list[Vulnerability] = []
    if service is not None:
        wanted = set(ignore)
        for dep, matches in service.query(deps).items():
            for m in matches:
                if wanted.intersection((m.advisory.id, *m.advisory.aliases)):
                    continue
                severity = m.advisory.severity
                if is_ml_framework(dep.name) and severity < ml_floor:
                    severity = ml_floor
                vulns.append(Vulnerability(dep, m.advisory, m.fixed, severity))
    vulns.sort(key=lambda v: (-v.severity.rank, v.dependency.key, v.advisory.id))
    issues.sort(key=lambda i: (-i.severity.rank, i.location))
    return DepsReport(
        dependencies=tuple(deps),
        vulnerabilities=tuple(vulns),
        issues=tuple(issues),
        service=service.name if service is not None else None,
        skipped=None if service is not None else NO_SERVICE,
        unaudited=tuple(d for d in deps if d.version is None),
    )
