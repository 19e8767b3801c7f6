"""What ``pipeshield scan`` does once its arguments are parsed, and its standard-library fast path.

:func:`run` is shared by the typer command (:mod:`pipeshield.cli.scan`) and :func:`fast`, which
parses the plain invocations -- paths, ``--format/-f``, ``--strict``, ``--`` -- without typer, so
scanning a file in CI does not pay for typer's pydantic-based parameter coercion. Anything else
(``--help``, an unknown option or value, no path) returns ``None`` and goes through typer, which
owns every usage message. ``tests/cli/test_lazy.py`` runs both paths on the same arguments.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["FORMATS", "fast", "run"]

FORMATS = ("text", "json", "sarif")
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off", ""})


def run(paths: list[Path], fmt: str, strict: bool) -> int:
    """Scan, print (``text``: a table on stderr; ``json``/``sarif``: stdout) and return the exit code."""
    from pipeshield.supplychain import Verdict, scan_path

    result = scan_path(*paths)
    if fmt == "text":
        _print_table(result)
    else:
        from pipeshield.supplychain.output import render

        sys.stdout.write(render(result, fmt))
        sys.stdout.flush()
    failing = {Verdict.MALICIOUS, Verdict.INCONCLUSIVE} if strict else {Verdict.MALICIOUS}
    return 1 if any(f.verdict in failing for f in result.files) else 0


def fast(args: list[str]) -> int | None:
    """Run ``scan`` for plain arguments; ``None`` when typer must parse them."""
    paths: list[str] = []
    fmt, strict = "text", None
    only_paths = False
    i = 0
    while i < len(args):
        arg = args[i]
        if only_paths or arg == "-" or not arg.startswith("-"):
            paths.append(arg)
        elif arg == "--":
            only_paths = True
        elif arg == "--strict":
            strict = True
        elif arg in ("--format", "-f") and i + 1 < len(args):
            i += 1
            fmt = args[i]
        elif arg.startswith("--format="):
            fmt = arg.partition("=")[2]
        else:
            return None
        i += 1
    if not paths or fmt not in FORMATS:
        return None
    if strict is None:
        env = os.environ.get("PIPESHIELD_STRICT", "").strip().lower()
        if env not in _TRUE | _FALSE:
            return None
        strict = env in _TRUE
    return run([Path(p) for p in paths], fmt, strict)


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
