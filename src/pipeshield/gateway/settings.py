"""The gateway's settings: one frozen object, built from the pipeline file's ``[gateway]`` table
with the command line's options (or ``PIPESHIELD_*`` variables) laid over it; the defaults are the
secure ones.

    >>> GatewaySettings(max_batch=256, output={"digits_cnn": "top-1"}, on_alert="label-only")  # doctest: +SKIP
    >>> config = serve_config(load_pipeline("pipeshield.toml"), port=9000)  # doctest: +SKIP
    >>> config.settings.max_batch, config.port, config.tls                  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeshield.core.pipeline import GatewayDetectorSpec, Pipeline
from pipeshield.errors import ConfigError
from pipeshield.gateway.extraction_monitor import MonitorSettings
from pipeshield.gateway.keys import SANCTIONS, parse_output_policy
from pipeshield.gateway.server import TLSFiles

__all__ = ["ALERT_ACTIONS", "GatewaySettings", "ServeConfig", "serve_config"]

#: What the gateway does when the extraction monitor alarms for a key ("log": only log and notify).
ALERT_ACTIONS = ("log", *SANCTIONS)


@dataclass(frozen=True)
class GatewaySettings:
    """``keys_db``/``log_db``: SQLite paths or SQLAlchemy URLs (default: inside the pipeline's
    folder); ``redis``: share limits between replicas; ``intel``: blocklist files; ``output``: an
    output policy per model (``"*"`` for every model; a key's own policy wins)."""

    keys_db: str | None = None
    log_db: str | None = None
    redis: str | None = None
    intel: tuple[Path, ...] = ()
    models: tuple[str, ...] | None = None  # serve only these (default: every model)
    max_body_bytes: int = 1024 * 1024
    max_batch: int = 1024
    range_tolerance: float = 0.05
    output: dict[str, str] = field(default_factory=dict)
    on_alert: str = "log"
    alert_webhook: str | None = None
    webhook_timeout_s: float = 2.0
    throttle_rate: str = "1/s"
    throttle_inputs_rate: str = "10/s"
    log_inputs: bool = False
    key_cache_s: float = 1.0
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    detectors: dict[str, GatewayDetectorSpec] = field(default_factory=dict)  # adversarial/OOD, per model
    trust_forwarded_for: bool = False  # take the client address from X-Forwarded-For (behind a proxy)
    #: SQLite audit log durability: "full" (fsync before every answer) or "normal" (opt-in: survives a
    #: process crash, not a power cut or OS crash; see pipeshield.gateway.audit_log._store)
    audit_sync: str = "full"

    def __post_init__(self) -> None:
        if self.max_body_bytes < 64:
            raise ConfigError(f"max_body_bytes must be at least 64, got {self.max_body_bytes}")
        if self.max_batch < 1:
            raise ConfigError(f"max_batch must be at least 1, got {self.max_batch}")
        if not 0 <= self.range_tolerance <= 10:
            raise ConfigError(f"range tolerance must be between 0 and 10, got {self.range_tolerance}")
        if self.on_alert not in ALERT_ACTIONS:
            raise ConfigError(f"--on-alert {self.on_alert!r}: expected one of {', '.join(ALERT_ACTIONS)}")
        if self.alert_webhook is not None and not self.alert_webhook.startswith(("https://", "http://")):
            raise ConfigError(f"--alert-webhook must be an http(s) URL, got {self.alert_webhook!r}")
        for spec in self.output.values():
            parse_output_policy(spec)
        if self.audit_sync not in ("full", "normal"):
            raise ConfigError(f"--audit-sync {self.audit_sync!r}: expected full (the default) or normal")
        if self.audit_sync != "full" and self.log_db is not None and "://" in self.log_db \
                and not self.log_db.startswith("sqlite"):
            raise ConfigError(f"--audit-sync {self.audit_sync}: applies to a SQLite audit log only, not {self.log_db}")


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``pipeshield serve`` needs: the gateway's settings and where to listen."""

    settings: GatewaySettings
    host: str = "127.0.0.1"
    port: int = 8000
    tls: TLSFiles | None = None


def _db(pipeline: Pipeline, value: str | None) -> str | None:
    """A database from the pipeline file: URLs as written, SQLite paths relative to the file."""
    if value is None or "://" in value:
        return value
    return str(pipeline.resolve(value))


def serve_config(pipeline: Pipeline, **overrides: Any) -> ServeConfig:
    """The pipeline's ``[gateway]`` table with ``overrides`` laid over it.

    ``overrides`` are ``GatewaySettings`` field names plus ``host``, ``port``, ``ssl_certfile``,
    ``ssl_keyfile`` and ``ssl_ca_certs``; ``None`` means "not given" (keep the file's value).
    Paths given here are taken as they are (relative to the working directory); paths in the file
    are relative to the file.
    """
    from pipeshield.core.pipeline import GatewaySpec

    spec = pipeline.gateway or GatewaySpec.model_validate({})
    alerts, mon = spec.alerts, spec.monitor
    values: dict[str, Any] = {
        "keys_db": _db(pipeline, spec.keys_db),
        "log_db": _db(pipeline, spec.log_db),
        "redis": spec.redis,
        "intel": tuple(pipeline.resolve(p) for p in spec.intel),
        "models": tuple(spec.models) if spec.models is not None else None,
        "max_body_bytes": spec.max_body_bytes,
        "max_batch": spec.max_batch,
        "range_tolerance": spec.range_tolerance,
        "output": dict(spec.output),
        "on_alert": alerts.on_alert,
        "alert_webhook": alerts.webhook,
        "webhook_timeout_s": alerts.webhook_timeout_s,
        "throttle_rate": alerts.throttle_rate,
        "throttle_inputs_rate": alerts.throttle_inputs_rate,
        "log_inputs": spec.log_inputs,
        "key_cache_s": spec.key_cache_s,
        "monitor": MonitorSettings(**mon.model_dump()),
        "detectors": dict(spec.detectors),
        "trust_forwarded_for": spec.trust_forwarded_for,
        "audit_sync": "full",  # only from the command line / PIPESHIELD_AUDIT_SYNC: weakening it is explicit
    }
    listen: dict[str, Any] = {"host": spec.host, "port": spec.port}
    tls_files: dict[str, Path | None] = {
        "ssl_certfile": pipeline.resolve(spec.tls.certfile) if spec.tls else None,
        "ssl_keyfile": pipeline.resolve(spec.tls.keyfile) if spec.tls else None,
        "ssl_ca_certs": pipeline.resolve(spec.tls.client_ca) if spec.tls and spec.tls.client_ca else None,
    }
    for name, value in overrides.items():
        if value is None:
            continue
        if name in listen:
            listen[name] = value
        elif name in tls_files:
            tls_files[name] = Path(value)
        elif name in values:
            values[name] = {**values["output"], **value} if name == "output" else value
        else:
            raise TypeError(f"serve_config() got an unknown setting {name!r}")
    cert, key, ca = tls_files["ssl_certfile"], tls_files["ssl_keyfile"], tls_files["ssl_ca_certs"]
    if (cert or key or ca) and not (cert and key):
        raise ConfigError("TLS needs both a certificate and a key (--ssl-certfile and --ssl-keyfile, or "
                          "gateway.tls.certfile and gateway.tls.keyfile), and a client CA for mutual TLS")
    tls = TLSFiles(cert, key, ca) if cert and key else None
    return ServeConfig(GatewaySettings(**values), host=listen["host"], port=listen["port"], tls=tls)
