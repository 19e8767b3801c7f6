"""``pipeshield audit``: run the checks on a pipeline and write the reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli import app

_FORMATS_HELP = "Comma-separated report formats: json,html,sarif,markdown (default: all)."


def _parse_csv(value: str | None, option: str) -> list[str] | None:
    from pipeshield.errors import ConfigError

    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise ConfigError(f"{option}: empty list")
    return items


@app.command()
def audit(
    pipeline: Annotated[Path, typer.Argument(help="The pipeline file (or its folder).")] = Path("pipeshield.toml"),
    only: Annotated[str | None, typer.Option("--only", help="Comma-separated stages to audit.")] = None,
    format: Annotated[str | None, typer.Option("--format", "-f", help=_FORMATS_HELP)] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default: pipeshield-report/ beside the pipeline).")
    ] = None,
    fail_on: Annotated[
        str | None, typer.Option("--fail-on", envvar="PIPESHIELD_FAIL_ON", help="Override policy.fail_on.")
    ] = None,
    executor: Annotated[str, typer.Option("--executor", envvar="PIPESHIELD_EXECUTOR", help="local or serial.")] = "local",
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes (default: cores).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
) -> None:
    """Audit a pipeline: exit 0 if nothing at or above the threshold, 1 if something is, 2 on error."""
    from pipeshield.audit import audit as run_audit
    from pipeshield.cli.options import parse_severity, parse_stages
    from pipeshield.cli.render import audit_progress, print_summary

    stages = parse_stages(_parse_csv(only, "--only"))
    severity = parse_severity(fail_on, "--fail-on") if fail_on else None
    with audit_progress(not quiet) as progress:
        result = run_audit(
            pipeline,
            stages=stages,
            out_dir=out,
            formats=_parse_csv(format, "--format"),
            executor=executor,
            jobs=jobs,
            fail_on=severity,
            progress=progress,
        )
    if not quiet:
        print_summary(result.report, result.written)
    raise typer.Exit(0 if result.report.passed_gate else 1)


@app.command()
def checks() -> None:
    """List every check: id, stage, threat and what it measures."""
    import sys

    from rich.console import Console
    from rich.table import Table

    from pipeshield.core.checks import all_checks

    rows = [(cid, ",".join(s.value for s in c.stages), c.threat.value, c.description) for cid, c in all_checks().items()]
    if not sys.stdout.isatty():  # piped: one tab-separated line per check, for grep and cut
        for row in rows:
            print("\t".join(row))
        return
    table = Table("id", "stage", "threat", "what it measures")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
