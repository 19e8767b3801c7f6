"""The command table's entries: where a command lives, its help line, and an optional fast path.

Importing every command module (and through them typer, its pydantic-based parameter coercion,
rich and the library) made ``pipeshield scan FILE`` pay for ``audit``, ``sign`` and the rest on
every start. So the root group (:mod:`pipeshield.cli._app`) knows each command only by a
:class:`LazyCommand` -- the module that defines it and the help line ``pipeshield --help`` shows --
and imports the module when the command is resolved for invocation or completion.

A command that runs in tight loops (``scan`` in a CI step over many files) may also name a *fast
path*: a function ``fast(args) -> int | None`` that parses the plain, common invocations with the
standard library and returns the exit code, or returns ``None`` for anything else (``--help``, an
unknown option, a bad value), which then goes through typer as usual, with typer's messages.
Nothing here imports typer.

    >>> LazyCommand("pipeshield.cli.scan", "Scan model files.", fast="pipeshield.cli._scan:fast").module
    'pipeshield.cli.scan'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["LazyCommand"]


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives and the help line shown for it before it is imported."""

    module: str
    help: str
    fast: str | None = None  # "module:function", see the module docstring

    def run_fast(self, args: list[str]) -> int | None:
        """The fast path's exit code, or None when the invocation needs the full parser."""
        if self.fast is None:
            return None
        module, _, function = self.fast.partition(":")
        result: int | None = getattr(importlib.import_module(module), function)(args)
        return result
