"""``pipeshield scan PATH...``: scan model files without loading them.

Exit codes: 0 every file clean, 1 a file is malicious (or, with ``--strict``, inconclusive),
2 usage error (a missing path). ``--format json`` prints, on stdout::

    {"files": [{"path": ..., "format": ..., "verdict": "clean|malicious|inconclusive",
                "size": ..., "note": ...,
                "findings": [{"rule", "severity", "message", "callable", "offset", "member",
                              "references"}]}]}

This shape is stable (keys are only added). ``--format sarif`` prints SARIF 2.1.0; ``text`` (the
default) prints a table on stderr. The work is in :mod:`pipeshield.cli._scan`, which also parses the
plain invocations itself (no typer) to keep start-up short.
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
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to scan.")],
    format: Annotated[_Format, typer.Option("--format", "-f", help="text, json or sarif.")] = _Format.text,
    strict: Annotated[bool, typer.Option("--strict", envvar="PIPESHIELD_STRICT",
                                         help="Exit 1 for inconclusive files too.")] = False,
) -> None:
    """Scan model files for code execution: exit 0 clean, 1 malicious (or inconclusive with --strict)."""
    from pipeshield.cli._scan import run

    raise typer.Exit(run(paths, format.value, strict))
