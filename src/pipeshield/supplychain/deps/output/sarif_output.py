"""``--format sarif``: SARIF 2.1.0, one rule per advisory and one per hygiene kind.

Levels and ``security-severity`` are the audit report's (:mod:`pipeshield.report.sarif_format`),
like the model-file scanner's SARIF, so all three land in one code-scanning dashboard
consistently. A requirement points at its file and line; an installed package has no file, so it
gets a logical location ``environment/NAME``.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from pipeshield import __version__
from pipeshield.core.findings import Severity
from pipeshield.report.sarif_format import LEVELS, SCHEMA_URI, SECURITY_SEVERITY
from pipeshield.supplychain.deps.model import DepsReport
from pipeshield.supplychain.deps.output import register
from pipeshield.supplychain.deps.sources import ENVIRONMENT

__all__ = ["render_sarif"]


def _location(location: str, package: str | None) -> dict[str, Any]:
    path, _, line = location.rpartition(":") if location[-1:].isdigit() and ":" in location else (location, "", "")
    if path == ENVIRONMENT:
        return {"logicalLocations": [{"fullyQualifiedName": f"{ENVIRONMENT}/{package}", "kind": "package"}]}
    p = PurePath(path)
    artifact: dict[str, Any] = ({"uri": "file://" + quote(p.as_posix(), safe="/:")} if p.is_absolute()
                                else {"uri": quote(p.as_posix(), safe="/"), "uriBaseId": "SRCROOT"})
    physical: dict[str, Any] = {"artifactLocation": artifact}
    if line:
        physical["region"] = {"startLine": int(line)}
    return {"physicalLocation": physical}


def _rule(rule_id: str, title: str, text: str, severity: Severity, tags: list[str], uri: str | None) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": rule_id,
        "shortDescription": {"text": title},
        "fullDescription": {"text": text or title},
        "defaultConfiguration": {"level": LEVELS[severity]},
        "properties": {"tags": ["security", "supply-chain", *tags], "security-severity": SECURITY_SEVERITY[severity]},
    }
    if uri:
        rule["helpUri"] = uri
    return rule


@register("sarif")
def render_sarif(report: DepsReport, fail_on: Severity) -> str:
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for v in report.vulnerabilities:
        a = v.advisory
        tags = [*(f"external/cve/{c}" for c in a.cves), *(["ml-framework"] if v.ml_framework else [])]
        rules.setdefault(a.id, _rule(a.id, a.summary, a.details, v.severity, tags, a.url))
        fix = f"; fixed in {', '.join(v.fixed)}" if v.fixed else "; no fixed version"
        results.append({
            "ruleId": a.id,
            "level": LEVELS[v.severity],
            "message": {"text": f"{v.dependency.name}=={v.dependency.version}: {a.summary}{fix}"},
            "locations": [_location(v.dependency.location, v.dependency.name)],
            "properties": {"package": v.dependency.name, "version": v.dependency.version,
                           "fixed_versions": list(v.fixed), "aliases": list(a.aliases),
                           "security-severity": SECURITY_SEVERITY[v.severity]},
        })
    for i in report.issues:
        rule_id = f"PS-DEP-{i.kind.value.upper()}"
        rules.setdefault(rule_id, _rule(rule_id, f"Dependency hygiene: {i.kind.value}", i.message, i.severity, ["hygiene"], None))
        results.append({
            "ruleId": rule_id,
            "level": LEVELS[i.severity],
            "message": {"text": i.message},
            "locations": [_location(i.location, i.package)],
            "properties": {"package": i.package, "security-severity": SECURITY_SEVERITY[i.severity]},
        })
    index = {rule_id: n for n, rule_id in enumerate(rules)}
    for result in results:
        result["ruleIndex"] = index[result["ruleId"]]
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "pipeshield-deps", "version": __version__,
                                "informationUri": "https://pypi.org/project/pipeshield/", "rules": list(rules.values())}},
            "originalUriBaseIds": {"SRCROOT": {"description": {"text": "The working directory of the audit."}}},
            "results": results,
            "properties": {"service": report.service, "skipped": report.skipped, "fail_on": fail_on.value,
                           "dependencies": len(report.dependencies)},
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
