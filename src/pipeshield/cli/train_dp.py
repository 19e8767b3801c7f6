"""``pipeshield train dp``."""

from __future__ import annotations

from pipeshield.cli.train import train_app  # noqa: F401
