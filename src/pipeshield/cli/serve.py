"""``pipeshield serve``: the guarded inference gateway (FastAPI on uvicorn).

Settings come from these options (the pipeline file has no gateway table yet). The key store and
the audit log default to ``.pipeshield/gateway.db`` and ``.pipeshield/audit-log.db`` beside the
pipeline file. With ``--ssl-ca-certs`` every client must present a certificate signed by that CA
(mutual TLS).
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
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
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
    max_body: Annotated[int, typer.Option("--max-body", help="Largest request body in bytes.")] = 1024 * 1024,
    max_batch: Annotated[int, typer.Option("--max-batch", help="Most inputs per request.")] = 1024,
    tolerance: Annotated[float, typer.Option("--range-tolerance", help="Slack around the training data's "
                                                                       "ranges, as a fraction of each range.")] = 0.05,
    on_alert: Annotated[str, typer.Option("--on-alert", help="On an extraction alert: log, throttle, deny or "
                                                             "label-only.")] = "log",
    alert_webhook: Annotated[str | None, typer.Option("--alert-webhook", help="POST each alert here (JSON).")] = None,
    log_inputs: Annotated[bool, typer.Option("--log-inputs", help="Keep each request's inputs in the audit log "
                                                                  "(not only their digest).")] = False,
    forwarded: Annotated[bool, typer.Option("--trust-forwarded-for", help="Behind a reverse proxy: take the "
                                            "client address from the last X-Forwarded-For entry.")] = False,
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
    from pipeshield.errors import ConfigError
    from pipeshield.gateway.app import Gateway, create_app
    from pipeshield.gateway.server import TLSFiles, server_config
    from pipeshield.gateway.settings import GatewaySettings

    if (ssl_ca_certs or ssl_certfile or ssl_keyfile) and not (ssl_certfile and ssl_keyfile):
        raise ConfigError("TLS needs both --ssl-certfile and --ssl-keyfile (and --ssl-ca-certs for mutual TLS)")
    tls = TLSFiles(ssl_certfile, ssl_keyfile, ssl_ca_certs) if ssl_certfile and ssl_keyfile else None
    settings = GatewaySettings(
        keys_db=db, log_db=log_db, redis=redis, intel=tuple(intel or ()), models=tuple(model) if model else None,
        max_body_bytes=max_body, max_batch=max_batch, range_tolerance=tolerance, output=_outputs(output_policy),
        on_alert=on_alert, alert_webhook=alert_webhook, log_inputs=log_inputs, trust_forwarded_for=forwarded,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    gateway = Gateway(load_pipeline(file), settings)
    for name, reason in gateway.failed.items():
        console.print(f"[red]not serving[/] {name}: {reason}", soft_wrap=True, highlight=False)
    console.print(f"serving {', '.join(gateway.models) or 'no model'} on "
                  f"{'https' if ssl_certfile else 'http'}://{host}:{port}", soft_wrap=True, highlight=False)
    uvicorn.Server(server_config(create_app(gateway), host=host, port=port, tls=tls)).run()
