"""The typer application behind ``pipeshield``: the root options and the lazy command group.

Command modules register on :data:`app` with ``@app.command()`` (or ``app.add_typer``); the group
imports a module only when one of its commands is resolved, using the table
:data:`pipeshield.cli.COMMANDS` for everything ``--help`` shows (see :mod:`pipeshield.cli._lazy`).
A command group (``pipeshield data ...``) needs one entry whose module imports every module that
adds a command to the group.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from pipeshield import __version__
from pipeshield.cli._lazy import LazyCommand

__all__ = ["LazyGroup", "app"]


class _Unloaded(TyperCommand):
    """Stands in for a command in the listing until it is resolved; never invoked."""

    def __init__(self, name: str, entry: LazyCommand, rich_markup_mode: Any) -> None:
        super().__init__(name, help=entry.help, rich_markup_mode=rich_markup_mode)
        self.entry = entry


class LazyGroup(TyperGroup):
    """Lists the command table in order; imports a command's module when it is resolved.

    Commands that modules imported some other way registered on :data:`app` are listed and run
    too, so eager registration keeps working.
    """

    def __init__(self, **kwargs: Any) -> None:
        from importlib.util import find_spec

        from pipeshield.cli import COMMANDS

        super().__init__(**kwargs)
        present = {m for m in {e.module for e in COMMANDS.values()} if find_spec(m) is not None}
        for name, entry in COMMANDS.items():
            if entry.module in present:
                self.commands.setdefault(name, _Unloaded(name, entry, getattr(self, "rich_markup_mode", None)))
        self._sync()

    def list_commands(self, ctx: Any) -> list[str]:
        self._sync()
        return list(self.commands)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        unloaded = self.commands.get(args[0]) if args else None
        if isinstance(unloaded, _Unloaded):
            import importlib

            importlib.import_module(unloaded.entry.module)
            self._sync()
            if isinstance(self.commands.get(args[0]), _Unloaded):
                raise LookupError(f"{unloaded.entry.module} registers no command named {args[0]!r}")  # noqa: TRY004
        return super().resolve_command(ctx, args)

    def _sync(self) -> None:
        """Build click commands for what the modules registered on ``app`` and we have not."""
        from typer.main import get_command_from_info, get_command_name, get_group_from_info

        short, mode = app.pretty_exceptions_short, app.rich_markup_mode
        for info in app.registered_commands:
            assert info.callback is not None
            name = info.name or get_command_name(info.callback.__name__)
            if self._replaceable(name):
                self.commands[name] = get_command_from_info(info, pretty_exceptions_short=short,
                                                            rich_markup_mode=mode)
        for group in app.registered_groups:
            group_name = group.name if isinstance(group.name, str) else None
            if group_name and self._replaceable(group_name):
                self.commands[group_name] = get_group_from_info(group, pretty_exceptions_short=short,
                                                          rich_markup_mode=mode,
                                                          suggest_commands=app.suggest_commands)


    def _replaceable(self, name: str) -> bool:
        """Not built yet; a listed command only once its own module ran (a group's module imports
        every module that adds to the group, so building it earlier would miss commands)."""
        current = self.commands.get(name, _UNSET)
        if isinstance(current, _Unloaded):
            return current.entry.module in sys.modules
        return isinstance(current, _Unset)


class _Unset:
    pass


_UNSET = _Unset()

app = typer.Typer(
    cls=LazyGroup,
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
