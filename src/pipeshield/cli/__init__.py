"""The ``pipeshield`` command: parsing and rendering only; the work is in the library.

Exit codes, everywhere: 0 nothing at or above the threshold, 1 findings at or above it (or a failed
verification), 2 a usage or configuration error (one line on stderr; ``--debug`` for the traceback),
3 an internal error (a pipeshield bug: the traceback is printed).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from pipeshield import __version__

__all__ = ["app", "main"]

app = typer.Typer(
    name="pipeshield",
    help="Assess and defend machine-learning pipelines, from data collection to inference.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

def _version(value: bool) -> None:
    if value:
        typer.echo(f"pipeshield {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", envvar="PIPESHIELD_DEBUG", help="Show tracebacks for errors.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Options that apply to every command (``--debug`` itself is read by :func:`main`)."""


def _register() -> None:
    from pipeshield.cli import attest, audit, demo, gate, init, keys, scan, sign  # noqa: F401  (commands register on import)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn PipeshieldError into exit code 2 with one clear line."""
    from pipeshield.errors import PipeshieldError

    _register()
    args = argv if argv is not None else sys.argv[1:]
    debug = "--debug" in args or os.environ.get("PIPESHIELD_DEBUG", "").lower() in ("1", "true", "yes", "on")
    try:
        app(args=argv, standalone_mode=True)
    except PipeshieldError as err:
        if debug:
            raise
        sys.stderr.write(f"error: {err.diagnostics()}\n")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception:  # a bug, not a user error: say so, and never exit 0/1/2 for it
        import traceback

        traceback.print_exc()
        sys.stderr.write("internal error: this is a pipeshield bug; please report it with the traceback above\n")
        sys.exit(3)
