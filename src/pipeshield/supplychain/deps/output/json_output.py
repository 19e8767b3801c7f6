"""``--format json``: the stable shape automation reads (keys are only ever added)::

    {"service": "osv-offline:PATH" | null, "skipped": null | "why vulnerabilities were not checked",
     "summary": {"dependencies", "vulnerabilities", "issues", "unaudited", "worst_severity",
                 "fail_on", "passed"},
     "vulnerabilities": [{"package", "version", "location", "id", "aliases", "summary",
                          "fixed_versions", "severity", "advisory_severity", "severity_source",
                          "cvss", "tags", "url"}],
     "issues": [{"kind", "package", "location", "severity", "message"}],
     "dependencies": [{"name", "version", "location", "specifier", "pinned", "hashed", "url",
                       "editable", "marker"}]}
"""

from __future__ import annotations

import json
from typing import Any

from pipeshield.core.findings import Severity
from pipeshield.supplychain.deps.model import DepsReport
from pipeshield.supplychain.deps.output import register

__all__ = ["report_dict"]


def report_dict(report: DepsReport, fail_on: Severity) -> dict[str, Any]:
    worst = report.worst
    return {
        "service": report.service,
        "skipped": report.skipped,
        "summary": {
            "dependencies": len(report.dependencies),
            "vulnerabilities": len(report.vulnerabilities),
            "issues": len(report.issues),
            "unaudited": len(report.unaudited),
            "worst_severity": worst.value if worst else None,
            "fail_on": fail_on.value,
            "passed": not report.failing(fail_on),
        },
        "vulnerabilities": [{
            "package": v.dependency.name,
            "version": v.dependency.version,
            "location": v.dependency.location,
            "id": v.advisory.id,
            "aliases": list(v.advisory.aliases),
            "summary": v.advisory.summary,
            "fixed_versions": list(v.fixed),
            "severity": v.severity.value,
            "advisory_severity": v.advisory.severity.value,
            "severity_source": v.advisory.severity_source,
            "cvss": v.advisory.cvss,
            "tags": ["ml-framework"] if v.ml_framework else [],
            "url": v.advisory.url,
        } for v in report.vulnerabilities],
        "issues": [{"kind": i.kind.value, "package": i.package, "location": i.location,
                    "severity": i.severity.value, "message": i.message} for i in report.issues],
        "dependencies": [{
            "name": d.name, "version": d.version, "location": d.location, "specifier": d.specifier,
            "pinned": d.pinned, "hashed": bool(d.hashes), "url": d.url, "editable": d.editable,
            "marker": d.marker,
        } for d in report.dependencies],
    }


@register("json")
def render_json(report: DepsReport, fail_on: Severity) -> str:
    return json.dumps(report_dict(report, fail_on), indent=2, ensure_ascii=False) + "\n"
