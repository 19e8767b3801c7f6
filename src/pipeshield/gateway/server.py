"""Run the gateway on uvicorn, optionally with TLS or mutual TLS (client certificate required).

    config = server_config(create_app(gateway), host="0.0.0.0", port=8443,
                           tls=TLSFiles(cert="server.pem", key="server.key", client_ca="clients-ca.pem"))
    uvicorn.Server(config).run()
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeshield.errors import ConfigError

__all__ = ["TLSFiles", "server_config"]


@dataclass(frozen=True)
class TLSFiles:
    """The server's certificate and key; ``client_ca`` turns on mutual TLS (certificate required)."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def __post_init__(self) -> None:
        for name in ("cert", "key", "client_ca"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"TLS {name} file not found: {path}")


def server_config(app: Any, *, host: str = "127.0.0.1", port: int = 8000, tls: TLSFiles | None = None,
                  log_level: str = "info", access_log: bool = False) -> Any:
    """A ``uvicorn.Config``. Proxy headers are off: the gateway decides whether to trust
    ``X-Forwarded-For`` (``GatewaySettings.trust_forwarded_for``). The access log is off by default:
    the audit log already records every request (with its X-Request-ID), and one more log line per
    request costs throughput. uvloop and httptools are used when installed (uvicorn's "auto")."""
    import uvicorn

    options: dict[str, Any] = {"access_log": access_log, "loop": "auto", "http": "auto"}
    if tls is not None:
        options |= {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)}
        if tls.client_ca is not None:
            options |= {"ssl_ca_certs": str(tls.client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, proxy_headers=False, **options)
