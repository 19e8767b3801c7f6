"""``report.html``: one self-contained page that a person reads offline, top to bottom.

Everything is inline: the CSS, and the plots as SVG drawn by :mod:`pipeshield.report.svg`. There
is no JavaScript, and a Content-Security-Policy meta tag forbids any, so even a label that slipped
past escaping could not run. Jinja autoescaping is on; the only markup marked safe is what
``svg.py`` built (and escaped) itself. The page links out only in ``<a>`` tags (framework
references), never loads anything, and sends no referrer when one is followed.

    >>> html = render_html(report)                        # doctest: +SKIP
    >>> html.startswith("<!doctype html>")
    True
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from pipeshield.core.findings import STAGE_ORDER, Evidence, Finding, Severity, Status
from pipeshield.core.frameworks import FRAMEWORK_LABELS, FRAMEWORKS
from pipeshield.report import register_format
from pipeshield.report.model import Report
from pipeshield.report.svg import hbars, render_plot

__all__ = ["reference_url", "render_html"]

_ATLAS_ID = re.compile(r"AML\.(?P<kind>[TM])\d{4}(?:\.\d{3})?")
_OWASP_ML = "https://owasp.org/www-project-machine-learning-security-top-10/"
_STATUS_COLOURS = {
    "pass": "#15803d",
    "fail": "#dc2626",
    "warn": "#d97706",
    "error": "#7e22ce",
    "skipped": "#9ca3af",
}
_SEVERITY_COLOURS = {
    "critical": "#7f1d1d",
    "high": "#dc2626",
    "medium": "#d97706",
    "low": "#2563eb",
    "info": "#9ca3af",
}
_MAX_TEXT = 50_000  # characters of one text evidence shown; report.json keeps all of it


def reference_url(framework: str, ref_id: str) -> str | None:
    """The public page of a framework entry, or ``None`` where there is none to link.

    ATLAS IDs are checked against their shape first: the ID goes into a URL, and a report read
    back from an untrusted report.json must not be able to make a link point anywhere else.
    """
    match = _ATLAS_ID.fullmatch(ref_id)
    if framework.startswith("atlas") and match:
        section = "mitigations" if match["kind"] == "M" else "techniques"
        return f"https://atlas.mitre.org/{section}/{quote(ref_id)}"
    if framework == "owasp_ml":
        return _OWASP_ML
    return None


def _anchor(finding_id: str) -> str:
    """An HTML id for a finding: readable, and unique even when two ids slug alike."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", finding_id).strip("-")[:80]
    return f"f-{slug}-{hashlib.sha256(finding_id.encode()).hexdigest()[:8]}"


def _value(value: Any) -> str:
    """A metric or setting as a person reads it (floats to 6 significant digits)."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (int, str)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _when(timestamp: str) -> str:
    """An ISO time as a reader wants it: UTC, to the second; anything unparsable as written."""
    try:
        parsed = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp
    if parsed.tzinfo is None:
        return parsed.strftime("%Y-%m-%d %H:%M:%S")
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _table(data: Any) -> tuple[list[str], list[list[str]]] | None:
    """Table evidence as ``(columns, rows)``; ``None`` when ``data`` is no table we know.

    Two shapes are read: ``{"columns": [...], "rows": [[...], ...]}`` (``columns`` optional) and
    ``{"rows": [{column: value}, ...]}`` (columns in first-seen order).
    """
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        return None
    rows = data["rows"]
    if all(isinstance(r, dict) for r in rows):
        keys = list(dict.fromkeys(k for r in rows for k in r))
        return [str(k) for k in keys], [[_value(r.get(k)) for k in keys] for r in rows]
    header = data.get("columns", [])
    if isinstance(header, list) and all(isinstance(r, list) for r in rows):
        return [str(c) for c in header], [[_value(v) for v in r] for r in rows]
    return None


def _text(evidence: Evidence) -> tuple[str, int]:
    text = evidence.text or ""
    return text[:_MAX_TEXT], max(0, len(text) - _MAX_TEXT)


def _references(finding: Finding) -> list[dict[str, Any]]:
    keys = [k for k in FRAMEWORKS if finding.references.get(k)]
    keys += sorted(k for k in finding.references if k not in FRAMEWORKS and finding.references[k])
    return [
        {
            "label": FRAMEWORK_LABELS.get(key, key),
            "items": [
                {
                    "id": str(r.get("id", "")),
                    "name": str(r.get("name", "")),
                    "url": reference_url(key, str(r.get("id", ""))),
                }
                for r in finding.references[key]
            ],
        }
        for key in keys
    ]


def _plot(evidence: Evidence) -> Markup:
    return Markup(render_plot(evidence.data, evidence.label))  # svg.py escapes every string itself


def _charts(summary: dict[str, Any]) -> dict[str, Markup]:
    stages = list(summary["by_stage"])
    statuses = [s.value for s in Status]
    by_stage = hbars(
        stages,
        [(s, [summary["by_stage"][st][s] for st in stages]) for s in statuses],
        title="Findings by stage and status",
        stacked=True,
        colours=[_STATUS_COLOURS[s] for s in statuses],
    )
    severities = [s.value for s in reversed(Severity)]
    by_severity = hbars(
        severities,
        [("problems", [summary["by_severity"][s] for s in severities])],
        title="Problems by severity",
        bar_colours=[_SEVERITY_COLOURS[s] for s in severities],
    )
    return {"by_stage": Markup(by_stage), "by_severity": Markup(by_severity)}


def _stages(report: Report) -> list[dict[str, Any]]:
    out = []
    for stage in STAGE_ORDER:
        findings = [f for f in report.findings if f.stage is stage]
        problems = [f for f in findings if f.status.is_problem]
        problems.sort(key=lambda f: (-f.severity.rank, f.status is not Status.ERROR, f.id))
        out.append(
            {
                "name": stage.value,
                "anchor": f"stage-{stage.value}",
                "problems": problems,
                "others": [f for f in findings if not f.status.is_problem],
                "worst": max((f.severity for f in problems), default=None),
            }
        )
    return out


@functools.cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("pipeshield.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(anchor=_anchor, value=_value, duration=_duration, when=_when)
    env.globals.update(table=_table, text=_text, plot=_plot, references=_references)
    return env


@register_format("html", "report.html")
def render_html(report: Report) -> str:
    summary = report.summary()
    sources = {
        key: {
            **src,
            "url": src.get("url")
            if str(src.get("url", "")).startswith(("https://", "http://"))
            else None,
        }
        for key, src in report.frameworks.items()
    }
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            report=report,
            pipeline_name=str(report.pipeline.get("name") or "unnamed pipeline"),
            summary=summary,
            charts=_charts(summary),
            stages=_stages(report),
            statuses=[s.value for s in Status],
            severities=[s.value for s in reversed(Severity)],
            gate_failures=report.gate_failures,
            frameworks=sources,
            framework_labels=FRAMEWORK_LABELS,
        )
    )
