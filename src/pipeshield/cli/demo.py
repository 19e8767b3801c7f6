"""``pipeshield demo``: build the embedded demo pipeline and audit it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli import app


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Folder to build the demo in.")] = Path("pipeshield-demo"),
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty folder.")] = False,
    no_audit: Annotated[bool, typer.Option("--no-audit", help="Only build the pipeline.")] = False,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes for the audit.")] = None,
) -> None:
    """Build a small pipeline with planted weaknesses, audit it, and say where the report is.

    Exits 0 once the demo is built and audited: the findings are the point of the demo.
    """
    from pipeshield.cli.render import audit_progress, console, print_summary
    from pipeshield.demo import build_demo

    with console.status("building the demo pipeline (training two small models)..."):
        built = build_demo(directory, force=force)
    console.print(f"demo pipeline written to [bold]{built.pipeline_file}[/] (planted weaknesses: {built.root / 'planted.json'})")
    if no_audit:
        return
    from pipeshield.audit import audit

    with audit_progress() as progress:
        result = audit(built.pipeline_file, jobs=jobs, progress=progress)
    print_summary(result.report, result.written)
    console.print(f"\nopen the report: [bold]{result.written.get('html')}[/]")
    console.print("gate it in CI:   pipeshield gate " + str(result.written.get("json")) + " --fail-on high")
