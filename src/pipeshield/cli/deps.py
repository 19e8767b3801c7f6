"""``pipeshield deps``: known vulnerabilities and hygiene of Python dependencies.

Exit codes: 0 nothing at or above ``--fail-on`` (default high), 1 something is, 2 usage error (a
missing requirements file, an unreadable OSV database). ``--format json`` prints the shape
documented in :mod:`pipeshield.supplychain.deps.output.json_output` on stdout; ``sarif`` prints
SARIF 2.1.0; ``text`` (the default) prints a table on stderr.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli import app


class _Format(enum.StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"


@app.command()
def deps(
    requirements: Annotated[list[Path] | None, typer.Option("--requirements", "-r",
                            help="A pip requirements file (repeatable; -r includes are followed).")] = None,
    env: Annotated[bool, typer.Option("--env", help="Audit the running environment (the default without -r).")] = False,
    osv_db: Annotated[Path | None, typer.Option("--osv-db", envvar="PIPESHIELD_OSV_DB",
                      help="Offline OSV export: a folder of OSV JSON files or OSV's PyPI/all.zip.")] = None,
    online: Annotated[bool, typer.Option("--online", help="Ask the OSV API (api.osv.dev) over the network.")] = False,
    format: Annotated[_Format, typer.Option("--format", "-f", help="text, json or sarif.")] = _Format.text,
    fail_on: Annotated[str, typer.Option("--fail-on", envvar="PIPESHIELD_FAIL_ON",
                       help="Lowest severity that makes the exit code 1.")] = "high",
    ignore_vuln: Annotated[list[str] | None, typer.Option("--ignore-vuln",
                           help="An advisory id or alias to ignore, after review (repeatable).")] = None,
) -> None:
    """Audit Python dependencies for known vulnerabilities (OSV) and risky requirements: exit 0 clean, 1 findings at or above --fail-on."""
    from pipeshield.cli.options import parse_severity
    from pipeshield.errors import ConfigError
    from pipeshield.supplychain.deps import (
        EnvironmentSource,
        OfflineOSV,
        OnlineOSV,
        RequirementsSource,
        Service,
        Source,
        audit_dependencies,
    )

    threshold = parse_severity(fail_on, "--fail-on")
    if osv_db is not None and online:
        raise ConfigError("--osv-db and --online: choose one vulnerability service")
    service: Service | None = OfflineOSV(osv_db) if osv_db is not None else (OnlineOSV() if online else None)
    sources: list[Source] = []
    if requirements:
        sources.append(RequirementsSource(requirements))
    if env or not requirements:
        sources.append(EnvironmentSource())
    report = audit_dependencies(sources, service, ignore=ignore_vuln or ())
    if format is _Format.text:
        _print_text(report, threshold)
    else:
        from pipeshield.supplychain.deps.output import render

        typer.echo(render(report, format.value, threshold), nl=False)
    raise typer.Exit(1 if report.failing(threshold) else 0)


def _print_text(report: object, threshold: object) -> None:
    from rich.markup import escape
    from rich.table import Table

    from pipeshield.cli.render import console
    from pipeshield.core.findings import Severity
    from pipeshield.supplychain.deps import CLEAN_CAVEAT, DepsReport

    assert isinstance(report, DepsReport) and isinstance(threshold, Severity)
    style = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}
    if report.vulnerabilities:
        table = Table("severity", "package", "advisory", "fixed in", "where", title="known vulnerabilities",
                      title_justify="left")
        for v in report.vulnerabilities:
            advisory = v.advisory.id + "".join(f"\n{a}" for a in v.advisory.cves if a != v.advisory.id)
            name = f"{v.dependency.name}=={v.dependency.version}" + ("\n[dim]ML framework[/]" if v.ml_framework else "")
            table.add_row(f"[{style[v.severity.value]}]{v.severity.value}[/]", name, escape(advisory),
                          escape(", ".join(v.fixed) or "no fix"), escape(v.dependency.location))
        console.print(table)
    if report.issues:
        table = Table("severity", "kind", "where", "what", title="hygiene", title_justify="left")
        for i in report.issues:
            table.add_row(f"[{style[i.severity.value]}]{i.severity.value}[/]", i.kind.value, escape(i.location),
                          escape(i.message))
        console.print(table)
    audited = sum(1 for d in report.dependencies if d.version is not None)
    if report.skipped:
        console.print(f"[yellow]vulnerabilities not checked[/]: {report.skipped}", soft_wrap=True)
    else:
        console.print(f"{audited} package(s) checked against {escape(report.service or '')}: "
                      f"{len(report.vulnerabilities)} known vulnerabilit{'y' if len(report.vulnerabilities) == 1 else 'ies'}",
                      soft_wrap=True)
        if not report.vulnerabilities:
            console.print(f"[dim]{CLEAN_CAVEAT}[/]")
    failing = report.failing(threshold)
    verdict = f"[bold red]{len(failing)} problem(s) at or above {threshold.value}[/]" if failing else \
        f"[green]nothing at or above {threshold.value}[/]"
    console.print(verdict)
