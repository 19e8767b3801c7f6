"""``pipeshield gate``: the CI gate over an existing report.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli import app


@app.command()
def gate(
    report: Annotated[Path, typer.Argument(help="A report.json written by `pipeshield audit`.")],
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", envvar="PIPESHIELD_FAIL_ON", help="Lowest severity that fails (default: the report's)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing; use the exit code.")] = False,
) -> None:
    """Exit 1 if the report holds problems at or above --fail-on, 0 if not, 2 if it can't be read."""
    from pipeshield.cli.options import parse_severity
    from pipeshield.cli.render import console
    from pipeshield.report import Report, gate_failures

    loaded = Report.read(str(report))
    threshold = parse_severity(fail_on, "--fail-on") if fail_on else loaded.fail_on
    failing = gate_failures(list(loaded.findings), threshold)
    if not quiet:
        for f in failing:
            console.print(f"[bold red]{f.severity.value:8}[/] {f.status.value:6} {f.id}: {f.message}")
        verdict = "[bold red]gate failed[/]" if failing else "[green]gate passed[/]"
        console.print(f"{verdict}: {len(failing)} finding(s) at or above [bold]{threshold.value}[/] in {report}")
    raise typer.Exit(1 if failing else 0)
