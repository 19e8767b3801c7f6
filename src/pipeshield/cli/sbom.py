"""``pipeshield sbom``: write the pipeline's ML-BOM (CycloneDX 1.6 JSON).

Without ``--out`` the document goes to stdout. Exit 0 when written, 2 on bad input (a missing
pipeline file or a file it names, an unwritable ``--out``), with one line on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli import app


@app.command()
def sbom(
    pipeline: Annotated[Path, typer.Option("--pipeline", "-p", help="The pipeline file (or its folder).")] = Path("pipeshield.toml"),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the SBOM here (atomically) instead of stdout.")] = None,
    no_environment: Annotated[bool, typer.Option("--no-environment", help="Leave out the Python packages.")] = False,
) -> None:
    """Write a CycloneDX 1.6 ML-BOM of the pipeline: its models, datasets and Python environment."""
    from pipeshield.cli.render import console
    from pipeshield.supplychain.sbom import write_sbom

    text = write_sbom(pipeline, out, environment=not no_environment)
    if out is None:
        typer.echo(text, nl=False)
    else:
        console.print(f"wrote CycloneDX 1.6 SBOM -> [bold]{out}[/]")
