"""Parsing of option values shared by commands, with errors that name the option."""

from __future__ import annotations

from pipeshield.core.findings import Severity, Stage
from pipeshield.errors import ConfigError


def parse_severity(value: str, option: str) -> Severity:
    try:
        return Severity(value.strip().lower())
    except ValueError:
        raise ConfigError(
            f"{option}: unknown severity {value!r} (expected one of {', '.join(s.value for s in Severity)})"
        ) from None


def parse_stages(values: list[str] | None) -> list[Stage] | None:
    if not values:
        return None
    stages = []
    for v in values:
        try:
            stages.append(Stage(v.lower()))
        except ValueError:
            raise ConfigError(
                f"--only: unknown stage {v!r} (expected one of {', '.join(s.value for s in Stage)})"
            ) from None
    return stages
