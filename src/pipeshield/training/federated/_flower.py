"""Flower is an optional extra: import it on first use and say how to install it when it is absent."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from pipeshield.errors import ConfigError

__all__ = ["INSTALL_HINT", "quiet_flower", "require_flwr", "require_ray"]

INSTALL_HINT = "pip install 'pipeshield[train]'"


def require_flwr() -> None:
    """Raise a :class:`ConfigError` naming the extra when Flower (``flwr``) cannot be imported."""
    try:
        import flwr  # noqa: F401
    except ImportError as err:
        raise ConfigError(
            f"federated training needs Flower (flwr), which is not installed ({err})",
            hint=f"install the training extra: {INSTALL_HINT}",
        ) from err


def require_ray() -> None:
    """The simulation engine needs Ray (``flwr[simulation]``, part of the same extra)."""
    try:
        import ray  # noqa: F401
    except ImportError as err:
        raise ConfigError(
            f"Flower's simulation engine needs Ray, which is not installed ({err})",
            hint=f"install the training extra: {INSTALL_HINT} (or use engine='inprocess')",
        ) from err


@contextmanager
def quiet_flower(level: int = logging.ERROR) -> Iterator[None]:
    """Flower logs every round at INFO on its own handler; keep a run quiet but for errors."""
    logger = logging.getLogger("flwr")
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)
