"""``pipeshield log verify|tail|export|checkpoint``: the gateway's tamper-evident audit log.

Exit codes: ``verify`` 0 when the log (and the checkpoint, if given) verifies, 1 naming the first
bad record, 2 for usage errors (no log at ``--db``, a checkpoint without ``--key``, an unreadable
key). ``tail`` and ``export`` print JSON lines (``{"index", "leaf_hash", "record"}``) on stdout or
to ``--out``; summaries go to stderr. The log is ``--db`` (a SQLite path or a SQLAlchemy URL such
as ``postgresql+psycopg://user@host/db``), else ``$PIPESHIELD_AUDIT_DB``, else
``.pipeshield/audit-log.db`` in the current folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli import app

__all__ = ["log_app"]

DB_ENV = "PIPESHIELD_AUDIT_DB"
PASSPHRASE_ENV = "PIPESHIELD_KEY_PASSPHRASE"

log_app = typer.Typer(
    help="The gateway's tamper-evident audit log: verify it, tail it, export it, sign checkpoints.",
    no_args_is_help=True,
)
app.add_typer(log_app, name="log")

_Db = Annotated[str | None, typer.Option("--db", envvar=DB_ENV, show_default=False,
                                         help="The log: a SQLite path or a SQLAlchemy URL "
                                              "(default: .pipeshield/audit-log.db).")]


def _db(db: str | None) -> str:
    from pipeshield.gateway.audit_log import DEFAULT_DB

    return db or str(DEFAULT_DB)


@log_app.command("verify")
def verify(
    db: _Db = None,
    checkpoint: Annotated[list[Path] | None, typer.Option(
        "--checkpoint", "-c", help="A signed checkpoint kept off the host (repeatable).")] = None,
    key: Annotated[Path | None, typer.Option("--key", "-k", help="The gateway's public key (.pub).")] = None,
) -> None:
    """Verify the log: exit 0 if intact, 1 naming the first bad record, 2 on usage errors."""
    from pipeshield.cli.render import console
    from pipeshield.gateway.audit_log import Checkpoint, LogTamperedError
    from pipeshield.gateway.audit_log import verify as do_verify

    checkpoints = [Checkpoint.read(p) for p in checkpoint or []]
    try:
        result = do_verify(_db(db), checkpoints, public_key=key)
    except LogTamperedError as err:
        console.print("[bold red]audit log verification failed[/]", soft_wrap=True)
        console.print(f"  {err.message}", soft_wrap=True, markup=False, highlight=False)
        if err.hint:
            console.print(f"  hint: {err.hint}", soft_wrap=True, markup=False, highlight=False)
        raise typer.Exit(1) from None
    anchored = ", ".join(f"checkpoint of {c.size} records ({c.timestamp})" for c in result.checkpoints)
    console.print(f"[green]verified[/]: {result.size} records, root {result.root_hash.hex()}"
                  + (f"; extends the {anchored}" if anchored else
                     " (no checkpoint given: a rewrite with recomputed hashes would not be caught)"),
                  soft_wrap=True, highlight=False)


@log_app.command("tail")
def tail(
    db: _Db = None,
    n: Annotated[int, typer.Option("-n", "--lines", min=0, help="How many of the newest records.")] = 10,
) -> None:
    """Print the newest records as JSON lines (oldest first)."""
    from pipeshield.gateway.audit_log import AuditLogStore

    with AuditLogStore(_db(db), create=False) as store:
        for row in store.tail(n):
            sys.stdout.write(json.dumps(row.to_json_dict(), sort_keys=True) + "\n")


@log_app.command("export")
def export(
    db: _Db = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here (atomically) instead of stdout.")] = None,
) -> None:
    """Export every record as JSON lines: index, leaf hash and the record."""
    from pipeshield.cli.render import console
    from pipeshield.core.files import atomic_write_text
    from pipeshield.gateway.audit_log import AuditLogStore

    with AuditLogStore(_db(db), create=False) as store:
        lines = (json.dumps(row.to_json_dict(), sort_keys=True) + "\n" for row in store.records())
        if out is None:
            sys.stdout.writelines(lines)
            return
        text = "".join(lines)
    atomic_write_text(out, text)
    console.print(f"exported {text.count(chr(10))} records to [bold]{out}[/]", soft_wrap=True)


@log_app.command("checkpoint")
def checkpoint(
    key: Annotated[Path, typer.Option("--key", "-k", help="The gateway's private key (.key).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the checkpoint (then copy it off the host).")],
    db: _Db = None,
    passphrase: Annotated[str | None, typer.Option("--passphrase", envvar=PASSPHRASE_ENV, show_default=False,
                                                   help="The private key's passphrase.")] = None,
) -> None:
    """Sign a checkpoint (size and Merkle root) of the log with the gateway's key."""
    from pipeshield.cli.render import console
    from pipeshield.gateway.audit_log import AuditLogStore
    from pipeshield.integrity.keys import load_private_key

    private = load_private_key(key, passphrase)
    with AuditLogStore(_db(db), create=False) as store:
        cp = store.checkpoint(private)
    cp.write(out)
    console.print(f"checkpoint: {cp.size} records, root {cp.root_hash.hex()} -> [bold]{out}[/] "
                  "(keep a copy off this host)", soft_wrap=True, highlight=False)
