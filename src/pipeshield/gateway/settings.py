"""The gateway's settings: one frozen object, built by ``pipeshield serve`` from its options.

The pipeline file has no ``[gateway]`` table yet, so every setting comes from the command line (or
the library caller); the defaults are the secure ones.

    >>> GatewaySettings(max_batch=256, output={"digits_cnn": "top-1"}, on_alert="label-only")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeshield.errors import ConfigError
from pipeshield.gateway.extraction_monitor import MonitorSettings
from pipeshield.gateway.keys import SANCTIONS, parse_output_policy

__all__ = ["ALERT_ACTIONS", "GatewaySettings"]

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
    trust_forwarded_for: bool = False  # take the client address from X-Forwarded-For (behind a proxy)

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
