"""``pipeshield serve``: the guarded inference gateway (FastAPI on uvicorn).

Settings come from the pipeline file's ``[gateway]`` table; an option given here (or its
``PIPESHIELD_*`` variable) overrides the table. The key store and the audit log default to
``.pipeshield/gateway.db`` and ``.pipeshield/audit-log.db`` beside the pipeline file. With
``--ssl-ca-certs`` every client must present a certificate signed by that CA (mutual TLS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli import app


def _outputs(values: list[str] | None) -> dict[str, str]:
    from pipeshield.errors import ConfigError

    out: dict[str, str] = {}
    for value in values or []:
        model, sep, policy = value.rpartition("=")
        if sep and not model:
            raise ConfigError(f"--output-policy {value!r}: expected POLICY or MODEL=POLICY")
        out[model or "*"] = policy
    return out


@app.command()
def serve(
    file: Annotated[Path, typer.Argument(help="The pipeline file.")] = Path("pipeshield.toml"),
    host: Annotated[str | None, typer.Option("--host", show_default=False,
                                             help="Address to listen on [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, show_default=False,
                                             help="Port to listen on [default: 8000].")] = None,
    redis: Annotated[str | None, typer.Option("--redis", envvar="PIPESHIELD_REDIS", show_default=False,
                                              help="Share rate limits between replicas through this Redis URL.")] = None,
    db: Annotated[str | None, typer.Option("--db", envvar="PIPESHIELD_KEYS_DB", show_default=False,
                                           help="The API key store (SQLite path or SQLAlchemy URL).")] = None,
    log_db: Annotated[str | None, typer.Option("--log-db", envvar="PIPESHIELD_AUDIT_DB", show_default=False,
                                               help="The audit log (SQLite path or SQLAlchemy URL).")] = None,
    intel: Annotated[list[Path] | None, typer.Option("--intel", help="A blocklist: plain list or STIX 2.1 "
                                                                      "bundle (.json); repeatable.")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="Serve only this model (repeatable).")] = None,
    output_policy: Annotated[list[str] | None, typer.Option(
        "--output-policy", help="POLICY or MODEL=POLICY: full, label-only, top-K, round-N (repeatable).")] = None,
    max_body: Annotated[int | None, typer.Option("--max-body", show_default=False,
                                                 help="Largest request body in bytes [default: 1048576].")] = None,
    max_batch: Annotated[int | None, typer.Option("--max-batch", show_default=False,
                                                  help="Most inputs per request [default: 1024].")] = None,
    tolerance: Annotated[float | None, typer.Option("--range-tolerance", show_default=False, help="Slack around the "
                                                    "training data's ranges, as a fraction of each range "
                                                    "[default: 0.05].")] = None,
    on_alert: Annotated[str | None, typer.Option("--on-alert", show_default=False, help="On an extraction alert: "
                                                 "log, throttle, deny or label-only [default: log].")] = None,
    alert_webhook: Annotated[str | None, typer.Option("--alert-webhook", help="POST each alert here (JSON).")] = None,
    log_inputs: Annotated[bool | None, typer.Option("--log-inputs/--no-log-inputs", show_default=False,
                                                    help="Keep each request's inputs in the audit log "
                                                         "(not only their digest).")] = None,
    forwarded: Annotated[bool | None, typer.Option("--trust-forwarded-for/--no-trust-forwarded-for",
                                                   show_default=False, help="Behind a reverse proxy: take the "
                                                   "client address from the last X-Forwarded-For entry.")] = None,
    audit_sync: Annotated[str | None, typer.Option(
        "--audit-sync", envvar="PIPESHIELD_AUDIT_SYNC", show_default=False,
        help="SQLite audit log durability: full (fsync before every answer) or normal (no fsync per answer: "
             "survives a crash of the process, NOT a power cut or OS crash) [default: full].")] = None,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log",
                                             help="uvicorn's per-request access log (the audit log records "
                                                  "every request anyway).")] = False,
    ssl_certfile: Annotated[Path | None, typer.Option("--ssl-certfile", help="TLS certificate.")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option("--ssl-keyfile", help="TLS private key.")] = None,
    ssl_ca_certs: Annotated[Path | None, typer.Option("--ssl-ca-certs", help="CA for client certificates: "
                                                                             "enables mutual TLS.")] = None,
) -> None:
    """Serve the pipeline's verified models behind the guarded inference gateway."""
    import logging

    import uvicorn

    from pipeshield.cli.render import console
    from pipeshield.core.pipeline import load_pipeline
    from pipeshield.gateway.app import Gateway, create_app
    from pipeshield.gateway.server import server_config
    from pipeshield.gateway.settings import serve_config

    pipeline = load_pipeline(file)
    config = serve_config(
        pipeline, host=host, port=port, keys_db=db, log_db=log_db, redis=redis,
        intel=tuple(intel) if intel else None, models=tuple(model) if model else None, max_body_bytes=max_body,
        max_batch=max_batch, range_tolerance=tolerance, output=_outputs(output_policy) or None, on_alert=on_alert,
        alert_webhook=alert_webhook, log_inputs=log_inputs, trust_forwarded_for=forwarded, audit_sync=audit_sync,
        ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile, ssl_ca_certs=ssl_ca_certs,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    gateway = Gateway(pipeline, config.settings)
    for name, reason in gateway.failed.items():
        console.print(f"[red]not serving[/] {name}: {reason}", soft_wrap=True, highlight=False)
    console.print(f"serving {', '.join(gateway.models) or 'no model'} on "
                  f"{'https' if config.tls else 'http'}://{config.host}:{config.port}", soft_wrap=True,
                  highlight=False)
    uvicorn.Server(server_config(create_app(gateway), host=config.host, port=config.port, tls=config.tls,
                                 access_log=access_log)).run()
