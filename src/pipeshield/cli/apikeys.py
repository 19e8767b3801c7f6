"""``pipeshield keys create|list|revoke``: the gateway's API keys.

``create`` prints the key once (``{"key": ...}`` with ``--format json``); only its SHA-256 is
stored. The store is ``--db`` (a SQLite path or a SQLAlchemy URL), else ``$PIPESHIELD_KEYS_DB``,
else ``.pipeshield/gateway.db`` in the pipeline's folder (``--pipeline``, default
``pipeshield.toml`` in the current folder).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeshield.cli import app

if TYPE_CHECKING:
    from pipeshield.gateway.keys import ApiKeyStore

__all__ = ["keys_app"]

DB_ENV = "PIPESHIELD_KEYS_DB"

keys_app = typer.Typer(help="The gateway's API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

_Db = Annotated[str | None, typer.Option("--db", envvar=DB_ENV, show_default=False,
                                         help="The key store: a SQLite path or a SQLAlchemy URL "
                                              "(default: .pipeshield/gateway.db beside the pipeline file).")]
_PipelineOpt = Annotated[Path, typer.Option("--pipeline", "-p", help="The pipeline file.")]


def _store(db: str | None, pipeline: Path, *, create: bool = True) -> ApiKeyStore:
    from pipeshield.gateway.keys import DEFAULT_KEYS_DB, ApiKeyStore

    if db is None:
        folder = pipeline.parent if pipeline.suffix == ".toml" or not pipeline.is_dir() else pipeline
        db = str(folder / DEFAULT_KEYS_DB)
    return ApiKeyStore(db, create=create)


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="A unique name for the key's holder.")],
    models: Annotated[str | None, typer.Option("--models", help="Comma-separated models it may use "
                                                                 "(default: every model).")] = None,
    rate: Annotated[str | None, typer.Option("--rate", help="Requests per time, e.g. 10/s.")] = "10/s",
    inputs_rate: Annotated[str | None, typer.Option("--inputs-rate", help="Inputs per time (a batch of n "
                                                                           "costs n), e.g. 1000/s.")] = "1000/s",
    budget: Annotated[int | None, typer.Option("--budget", min=1, help="Total inputs over the key's life.")] = None,
    daily: Annotated[int | None, typer.Option("--daily", min=1, help="Inputs per UTC day.")] = None,
    output: Annotated[str | None, typer.Option("--output", help="Its output policy: full, label-only, top-K, "
                                                                 "round-N (default: the model's).")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="May also read /metrics.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    db: _Db = None,
    pipeline: _PipelineOpt = Path("pipeshield.toml"),
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from pipeshield.cli.render import console

    model_list = [m.strip() for m in models.split(",") if m.strip()] if models else None
    if model_list and pipeline.is_file():
        from pipeshield.core.pipeline import load_pipeline
        from pipeshield.errors import ConfigError

        known = load_pipeline(pipeline, check_files=False).models
        unknown = [m for m in model_list if m not in known]
        if unknown:
            raise ConfigError(f"--models: no model named {', '.join(map(repr, unknown))} in {pipeline} "
                              f"(known: {', '.join(known) or 'none'})")
    store = _store(db, pipeline)
    try:
        created = store.create(name, models=model_list, rate=rate or None, inputs_rate=inputs_rate or None,
                               budget=budget, daily=daily, output=output, admin=admin)
    finally:
        store.close()
    if fmt == "json":
        sys.stdout.write(json.dumps({"key": created.secret, **created.key.to_dict()}, sort_keys=True) + "\n")
        return
    sys.stdout.write(created.secret + "\n")
    console.print(f"created key {created.key.id} ({created.key.name}); it is shown only now: store it safely",
                  soft_wrap=True, highlight=False)


@keys_app.command("list")
def list_keys(
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    db: _Db = None,
    pipeline: _PipelineOpt = Path("pipeshield.toml"),
) -> None:
    """List the keys (ids, names, scopes, limits; never secrets)."""
    store = _store(db, pipeline, create=False)
    try:
        keys = [k.to_dict() for k in store.list()]
    finally:
        store.close()
    if fmt == "json":
        sys.stdout.write(json.dumps({"keys": keys}, sort_keys=True) + "\n")
        return
    for k in keys:
        state = "revoked" if k["revoked"] else (k["sanction"] or "active")
        sys.stdout.write(f"{k['id']}  {k['name']}  models={','.join(k['models'] or ['*'])}  rate={k['rate']}  "
                         f"inputs_rate={k['inputs_rate']}  daily={k['daily_budget']}  budget={k['lifetime_budget']}  "
                         f"output={k['output'] or '-'}  admin={k['admin']}  {state}\n")


@keys_app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="The key's name or id.")],
    db: _Db = None,
    pipeline: _PipelineOpt = Path("pipeshield.toml"),
) -> None:
    """Revoke a key by name or id (every gateway refuses it within its key cache time)."""
    from pipeshield.cli.render import console

    store = _store(db, pipeline, create=False)
    try:
        revoked = store.revoke(key)
    finally:
        store.close()
    console.print(f"revoked {revoked.id} ({revoked.name})", soft_wrap=True, highlight=False)


@keys_app.command("lift")
def lift(
    key: Annotated[str, typer.Argument(help="The key's name or id.")],
    db: _Db = None,
    pipeline: _PipelineOpt = Path("pipeshield.toml"),
) -> None:
    """Lift the extraction monitor's sanction (throttle, deny, label-only) from a key."""
    from pipeshield.cli.render import console

    store = _store(db, pipeline, create=False)
    try:
        found = store.get(key)
        before = found.sanction
        store.set_sanction(found.id, None)
    finally:
        store.close()
    what = f"lifted '{before}' from" if before else "no sanction on"
    console.print(f"{what} {found.id} ({found.name})", soft_wrap=True, highlight=False)
