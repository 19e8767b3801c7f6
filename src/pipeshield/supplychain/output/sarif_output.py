"""``--format sarif``: SARIF 2.1.0 with one rule per technique (``PS-PKL-EXEC-PROCESS`` ...).

Levels and ``security-severity`` follow the audit report's SARIF (:mod:`pipeshield.report.
sarif_format`), so both land in the same code-scanning dashboard consistently. Every finding is a
result; an inconclusive file without findings cannot happen (it always has the finding that made
it inconclusive). Clean files produce no results.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from pipeshield import __version__
from pipeshield.core.findings import Severity
from pipeshield.report.sarif_format import LEVELS, SCHEMA_URI, SECURITY_SEVERITY
from pipeshield.supplychain.output import register
from pipeshield.supplychain.results import ScanResult
from pipeshield.supplychain.rules import RULES

__all__ = ["render_sarif"]


def _uri(path: str) -> dict[str, Any]:
    p = PurePath(path)
    if p.is_absolute():
        return {"uri": "file://" + quote(p.as_posix(), safe="/:")}
    return {"uri": quote(p.as_posix(), safe="/"), "uriBaseId": "SCAN_ROOT"}


@register("sarif")
def render_sarif(result: ScanResult) -> str:
    used = sorted({f.rule for file in result.files for f in file.findings})
    index = {rule: i for i, rule in enumerate(used)}
    rules = []
    for rule_id in used:
        rule = RULES[rule_id]
        tags = ["security", "machine-learning", "supply-chain", *(f"external/cve/{r}" for r in rule.references)]
        rules.append({
            "id": rule.id,
            "name": "".join(w.capitalize() for w in rule.id.lower().split("-")),
            "shortDescription": {"text": rule.title},
            "fullDescription": {"text": rule.help},
            "help": {"text": rule.help + (" References: " + ", ".join(rule.references) if rule.references else "")},
            "defaultConfiguration": {"level": LEVELS[rule.severity]},
            "properties": {"tags": tags, "security-severity": SECURITY_SEVERITY[rule.severity],
                           "verdict-effect": rule.effect.value},
        })
    results = []
    for file in result.files:
        for f in file.findings:
            severity = f.severity or Severity.INFO
            location: dict[str, Any] = {"physicalLocation": {"artifactLocation": _uri(file.path)}}
            if f.offset is not None and f.member is None:
                location["physicalLocation"]["region"] = {"byteOffset": f.offset, "byteLength": 1}
            if f.member:
                location["logicalLocations"] = [{"fullyQualifiedName": f"{file.path}!{f.member}", "kind": "member"}]
            results.append({
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": LEVELS[severity],
                "message": {"text": f.message},
                "locations": [location],
                "properties": {"verdict": file.verdict.value, "severity": severity.value,
                               "callable": f.callable, "offset": f.offset, "member": f.member,
                               "security-severity": SECURITY_SEVERITY[severity]},
            })
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "pipeshield-scan", "version": __version__,
                                "informationUri": "https://pypi.org/project/pipeshield/", "rules": rules}},
            "originalUriBaseIds": {"SCAN_ROOT": {"description": {"text": "The working directory of the scan."}}},
            "results": results,
            "properties": {"files": [{"path": f.path, "format": f.format, "verdict": f.verdict.value} for f in result.files]},
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
