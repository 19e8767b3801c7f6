"""``pipeshield init``: write a commented starter pipeline file for a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli import app


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="The folder holding your data and models.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing pipeshield.toml.")] = False,
) -> None:
    """Look at the files in DIRECTORY and write DIRECTORY/pipeshield.toml to start from."""
    from pipeshield.cli.render import console
    from pipeshield.starter import write_starter

    result = write_starter(directory, force=force)
    console.print(f"wrote [bold]{result.path}[/]: {result.n_datasets} dataset(s), {result.n_models} model(s), "
                  f"{result.n_keys} key(s), {result.n_artifacts} other artifact(s)")
    for note in result.notes:
        console.print(f"  [yellow]note[/]: {note}")
    console.print("edit it, then run: pipeshield audit " + str(result.path))
