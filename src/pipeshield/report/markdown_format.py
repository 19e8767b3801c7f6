"""``summary.md``: the audit as a pull-request comment.

The verdict first, a table by stage, then the problems worst first, capped at ``MAX_ROWS`` so a
comment stays readable (and far below GitHub's 65,536-character limit); everything else is in
report.html. Every cell is escaped: findings carry user data (class names, paths, messages), and
in a comment a stray ``|`` breaks the table, a newline ends it, and stray markup renders.

    >>> print(render_markdown(report))                    # doctest: +SKIP
    ### pipeshield: ❌ gate failed for demo
    ...
"""

from __future__ import annotations

import re

from pipeshield.core.findings import Finding, Status
from pipeshield.report import register_format
from pipeshield.report.model import Report

__all__ = ["MAX_ROWS", "cell", "render_markdown"]

MAX_ROWS = 30
_MAX_CELL = 300
_STATUSES = [s.value for s in Status]
_MARKDOWN_PUNCT = re.compile(r"([\\`*_\[\]~|#!])")


def cell(text: object, limit: int = _MAX_CELL) -> str:
    """Text safe inside a GitHub-flavoured Markdown table cell (or any inline position).

    HTML metacharacters become entities (a comment renders inline HTML), Markdown punctuation is
    backslash-escaped (``|`` would split the cell, ``[x](...)`` would link), and line breaks
    become ``<br>``, added after escaping so it is the only tag that survives.
    """
    s = str(text)
    if len(s) > limit:
        s = s[: limit - 1] + "\u2026"
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MARKDOWN_PUNCT.sub(r"\\\1", s)
    return "<br>".join(
        line.strip() for line in s.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    )


def _table(header: list[str], rows: list[list[str]], numeric: bool = False) -> list[str]:
    """A GFM table; ``numeric`` right-aligns every column but the first."""
    rule = ["---"] + ["---:" if numeric else "---"] * (len(header) - 1)
    return ["| " + " | ".join(r) + " |" for r in [header, rule, *rows]]


def _problem_row(f: Finding) -> list[str]:
    severity = f"**{f.severity.value}**" if f.severity.rank >= 3 else f.severity.value
    return [severity, f.status.value, cell(f.id, 120), cell(f.message or f.title)]


def _capped(rows: list[list[str]], noun: str) -> tuple[list[list[str]], str]:
    if len(rows) <= MAX_ROWS:
        return rows, ""
    return rows[:MAX_ROWS], f"\n_\u2026and {len(rows) - MAX_ROWS} more {noun} in report.html._"


def _details(summary: str, lines: list[str]) -> list[str]:
    # GitHub needs the blank line after <summary> to render Markdown inside <details>.
    return ["", f"<details><summary>{summary}</summary>", "", *lines, "", "</details>"]


@register_format("markdown", "summary.md")
def render_markdown(report: Report) -> str:
    summary = report.summary()
    gate = summary["gate"]
    name = cell(report.pipeline.get("name") or "pipeline", 120)
    verdict = "\u2705 gate passed" if gate["passed"] else "\u274c gate failed"
    failing = len(gate["failing_findings"])
    counts = ", ".join(
        f"{summary['by_status'][s]} {s}" for s in _STATUSES if summary["by_status"][s]
    )
    lines = [
        f"### pipeshield: {verdict} for {name}",
        "",
        (
            f"**{failing} problem{'s' if failing != 1 else ''} at or above {gate['fail_on']}**"
            if failing
            else f"No problem at or above **{gate['fail_on']}**"
        )
        + f" (the gate's threshold). {summary['total']} findings"
        + (f": {counts}" if counts else "")
        + f"; worst severity **{summary['worst_severity']}**.",
        "",
    ]
    stage_rows = [[st, *(str(c[s]) for s in _STATUSES)] for st, c in summary["by_stage"].items()]
    lines += _table(["stage", *_STATUSES], stage_rows, numeric=True)

    problems = sorted(
        (f for f in report.findings if f.status.is_problem), key=lambda f: -f.severity.rank
    )
    if problems:
        rows, more = _capped([_problem_row(f) for f in problems], "problems")
        lines += ["", f"#### Problems ({len(problems)})", ""]
        lines += _table(["severity", "status", "finding", "message"], rows)
        lines += [more] if more else []
        fixes, more = _capped(
            [[cell(f.id, 120), cell(f.remediation)] for f in problems if f.remediation], "fixes"
        )
        if fixes:
            lines += _details(
                "Remediation", _table(["finding", "remediation"], fixes) + ([more] if more else [])
            )

    others = [f for f in report.findings if not f.status.is_problem]
    if others:
        rows, more = _capped(
            [[f.status.value, cell(f.id, 120), cell(f.message or f.title)] for f in others],
            "checks",
        )
        table = _table(["status", "finding", "message"], rows) + ([more] if more else [])
        lines += _details(f"Passed and skipped checks ({len(others)})", table)

    tool = f"{report.tool.get('name', 'pipeshield')} {report.tool.get('version', '')}".strip()
    when = f" \u00b7 {cell(report.finished_at, 40)}" if report.finished_at else ""
    lines += [
        "",
        f"<sub>{cell(tool, 60)}{when} \u00b7 details in report.html, report.sarif, report.json</sub>",
        "",
    ]
    return "\n".join(lines)
