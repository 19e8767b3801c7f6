"""``report.sarif``: SARIF 2.1.0 for code-scanning dashboards and CI gates.

One run, one rule per check id, and one result per *problem* (``fail``, ``warn``, ``error``).
Passing and skipped findings are not results: GitHub code scanning shows every result as an
alert whatever its ``kind``, so a clean check would read as a problem. Their counts are in
``run.properties.summary`` (the same summary as report.json), so nothing is lost.

    >>> log = json.loads(render_sarif(report))            # doctest: +SKIP
    >>> log["runs"][0]["results"][0]["level"]
    'error'

Levels follow severity: critical and high are ``error``, medium ``warning``, low and info
``note``; ``security-severity`` carries GitHub's numeric scale. Locations are paths relative to
the folder that holds the pipeline file (``uriBaseId`` ``PIPELINE_ROOT``); a finding about the
pipeline as a whole points at the pipeline file itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from importlib import metadata
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from pipeshield.core.findings import Finding, Severity, Status
from pipeshield.core.frameworks import FRAMEWORK_LABELS, FRAMEWORKS, threat_info
from pipeshield.report import register_format
from pipeshield.report.markdown_format import cell
from pipeshield.report.model import Report

__all__ = ["LEVELS", "SECURITY_SEVERITY", "render_sarif"]

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
ROOT = "PIPELINE_ROOT"
LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
#: GitHub code scanning reads these as CVSS-like scores: >9 critical, 7-8.9 high, 4-6.9 medium.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
_TAXONOMY = {
    "atlas": "atlas",
    "atlas_mitigations": "atlas",
    "owasp_ml": "owasp-ml",
    "nist_ai_rmf": "nist-ai-rmf",
    "iso_23894": "iso-23894",
}
_FALLBACK_URI = "https://pypi.org/project/pipeshield/"


def _information_uri() -> str:
    """The project's home page from its package metadata, so it is written down in one place."""
    try:
        for entry in metadata.metadata("pipeshield").get_all("Project-URL") or []:
            label, _, url = str(entry).partition(",")
            if (
                label.strip().lower() in ("homepage", "home", "source", "repository")
                and url.strip()
            ):
                return url.strip()
    except metadata.PackageNotFoundError:
        pass
    return _FALLBACK_URI


def _artifact(path: str) -> dict[str, Any]:
    """An artifactLocation: relative paths against PIPELINE_ROOT, absolute ones as file URIs."""
    if PureWindowsPath(path).drive or path.startswith("/"):
        posix = PureWindowsPath(path).as_posix() if PureWindowsPath(path).drive else path
        return {"uri": "file://" + ("" if posix.startswith("/") else "/") + quote(posix, safe="/:")}
    return {
        "uri": quote(PurePosixPath(path.replace("\\", "/")).as_posix(), safe="/"),
        "uriBaseId": ROOT,
    }


def _root(report: Report) -> dict[str, Any]:
    base: dict[str, Any] = {"description": {"text": "The folder that holds the pipeline file."}}
    source = str(report.pipeline.get("source") or "")
    if source.startswith("/"):
        folder = str(PurePosixPath(source).parent).rstrip("/") + "/"
        base["uri"] = "file://" + quote(folder, safe="/")
    return base


def _utc(timestamp: str) -> str | None:
    """An ISO time as SARIF wants it (UTC, ``Z``); ``None`` when it has no known offset."""
    try:
        parsed = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _fingerprint(finding: Finding) -> str:
    return hashlib.sha256(finding.id.encode("utf-8")).hexdigest()[:32]


def _tags(findings: list[Finding]) -> list[str]:
    """Tags in CodeQL's ``external/<taxonomy>/<id>`` style, so "6.4" says which framework."""
    tags = ["security", "machine-learning"]
    for f in findings:
        tags += [f"stage/{f.stage.value}", f"threat/{f.threat.value}"]
        for key in FRAMEWORKS:
            prefix = _TAXONOMY.get(key, key)
            tags += [
                f"external/{prefix}/{r['id']}" for r in f.references.get(key, []) if r.get("id")
            ]
    return list(dict.fromkeys(tags))  # SARIF wants tags unique; the order stays stable


def _rule(check: str, findings: list[Finding]) -> dict[str, Any]:
    first = findings[0]
    problems = [f for f in findings if f.status.is_problem]
    worst = max((f.severity for f in problems), default=Severity.INFO)
    remediation = next((f.remediation for f in findings if f.remediation), "")
    threat = threat_info(first.threat)
    threat_title = threat["title"] or first.threat.value
    full = f"{first.title}: checks {threat_title} at the {first.stage.value} stage."
    if threat.get("summary"):
        full += f" {threat['summary']}"
    refs = [
        f"- {FRAMEWORK_LABELS.get(key, key)} {cell(r.get('id'), 80)}: {cell(r.get('name'), 300)}"
        for key in FRAMEWORKS
        for r in first.references.get(key, [])
    ]
    help_text = remediation or "See the finding's message and the pipeshield HTML report."
    help_md = cell(help_text, 4000) + (
        "\n\nFramework references:\n\n" + "\n".join(refs) if refs else ""
    )
    return {
        "id": check,
        "name": "".join(
            w.capitalize() for w in check.replace("-", ".").replace("_", ".").split(".")
        ),
        "shortDescription": {"text": first.title},
        "fullDescription": {"text": full},
        "help": {"text": help_text, "markdown": help_md},
        "defaultConfiguration": {"level": LEVELS[worst] if problems else "none"},
        "properties": {
            "stage": first.stage.value,
            "threat": first.threat.value,
            "stages": sorted({f.stage.value for f in findings}),
            "threats": sorted({f.threat.value for f in findings}),
            "tags": _tags(findings),
            "security-severity": SECURITY_SEVERITY[worst],
        },
    }


def _result(finding: Finding, index: int, pipeline_file: str) -> dict[str, Any]:
    paths = list(finding.locations) or [pipeline_file]
    message = finding.message or finding.title
    return {
        "ruleId": finding.check,
        "ruleIndex": index,
        "kind": "fail",
        "level": LEVELS[finding.severity],
        "message": {"text": f"{finding.title}: {message}" if finding.message else message},
        "locations": [{"physicalLocation": {"artifactLocation": _artifact(p)}} for p in paths],
        "partialFingerprints": {"pipeshieldFindingId/v1": _fingerprint(finding)},
        "properties": {
            "id": finding.id,
            "subject": finding.subject,
            "severity": finding.severity.value,
            "status": finding.status.value,
            "stage": finding.stage.value,
            "threat": finding.threat.value,
            "metrics": dict(finding.metrics),
            "remediation": finding.remediation,
            "security-severity": SECURITY_SEVERITY[finding.severity],
        },
    }


@register_format("sarif", "report.sarif")
def render_sarif(report: Report) -> str:
    by_check: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_check.setdefault(f.check, []).append(f)
    checks = sorted(by_check)
    index = {c: i for i, c in enumerate(checks)}
    pipeline_file = PurePosixPath(
        str(report.pipeline.get("source") or "pipeshield.toml").replace("\\", "/")
    ).name
    errors = [f for f in report.findings if f.status is Status.ERROR]
    invocation: dict[str, Any] = {
        # A crashed check is a partial failure of the run, not only a finding.
        "executionSuccessful": not errors,
        "toolExecutionNotifications": [
            {"level": "error", "message": {"text": f"{f.id}: {f.message or 'the check crashed'}"}}
            for f in errors
        ],
    }
    for key, value in (("startTimeUtc", report.started_at), ("endTimeUtc", report.finished_at)):
        if value and _utc(value):
            invocation[key] = _utc(value)
    run = {
        "tool": {
            "driver": {
                "name": "pipeshield",
                "version": str(report.tool.get("version", "")) or "unknown",
                "informationUri": _information_uri(),
                "rules": [_rule(c, by_check[c]) for c in checks],
            }
        },
        "automationDetails": {"id": f"pipeshield/{report.pipeline.get('name') or 'pipeline'}/"},
        "originalUriBaseIds": {ROOT: _root(report)},
        "invocations": [invocation],
        "results": [
            _result(f, index[f.check], pipeline_file)
            for f in report.findings
            if f.status.is_problem
        ],
        "properties": {
            "pipeline": report.pipeline.get("name"),
            "schema_version": report.schema_version,
            "summary": report.summary(),
        },
    }
    log = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
