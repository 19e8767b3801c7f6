"""``pipeshield scan PATH...``: scan model files without loading them.

Exit codes: 0 every file clean, 1 a file is malicious (or, with ``--strict``, inconclusive),
2 usage error (a missing path). ``--format json`` prints, on stdout::

    {"files": [{"path": ..., "format": ..., "verdict": "clean|malicious|inconclusive",
                "size": ..., "note": ...,
                "findings": [{"rule", "severity", "message", "callable", "offset", "member",
                              "references"}]}]}

This shape is stable (keys are only added). ``--format sarif`` prints SARIF 2.1.0; ``text`` (the
default) prints a table on stderr.
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
    from pipeshield.supplychain import Verdict, scan_path

    result = scan_path(*paths)
    if format is _Format.text:
        _print_table(result)
    else:
        from pipeshield.supplychain.output import render

        typer.echo(render(result, format.value), nl=False)
    failing = {Verdict.MALICIOUS, Verdict.INCONCLUSIVE} if strict else {Verdict.MALICIOUS}
    raise typer.Exit(1 if any(f.verdict in failing for f in result.files) else 0)


def _print_table(result: object) -> None:
    from rich.markup import escape
    from rich.table import Table

    from pipeshield.cli.render import console
    from pipeshield.supplychain import CLEAN_CAVEAT, ScanResult

    assert isinstance(result, ScanResult)
    style = {"clean": "green", "malicious": "bold red", "inconclusive": "yellow"}
    table = Table("file", "format", "verdict", "findings", title="pipeshield scan", title_justify="left")
    for f in result.files:
        lines = [escape(f"[{x.severity}] {x.rule}: {x.message}" + (f" ({x.member})" if x.member else ""))
                 for x in f.findings[:8]]
        if len(f.findings) > 8:
            lines.append(f"... {len(f.findings) - 8} more (use --format json)")
        table.add_row(escape(f.path), f.format, f"[{style[f.verdict.value]}]{f.verdict.value}[/]", "\n".join(lines))
    console.print(table)
    if any(f.verdict.value == "clean" for f in result.files):
        console.print(f"[dim]{CLEAN_CAVEAT}[/]")
