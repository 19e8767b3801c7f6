"""Command groups: ``pipeshield data ...`` and ``pipeshield attack ...``.

Modules that add a command to a group import the group from here; importing this module attaches
the groups to the root app.
"""

from __future__ import annotations

import typer

from pipeshield.cli import app

__all__ = ["attack_app", "data_app"]

data_app = typer.Typer(
    help="Data defences: profile, validate, detect poisoning and leakage, sanitize.",
    no_args_is_help=True,
)
attack_app = typer.Typer(
    help="Red-team attacks against your own data and models (poisoning, evasion, extraction, ...).",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")
app.add_typer(attack_app, name="attack")
