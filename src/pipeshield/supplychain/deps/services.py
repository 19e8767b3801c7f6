"""Which vulnerability service is asked: the :class:`Service` interface.

A service answers, for a batch of exactly-versioned dependencies, which advisories affect each.
Two ship: :class:`~.osv_db.OfflineOSV` (an OSV export on disk, the default for CI and air-gapped
machines) and :class:`~.osv_api.OnlineOSV` (the OSV API over HTTPS). Both reduce records with the
same matcher (:func:`~.osv.match`), so they agree on what "affected" means.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pipeshield.errors import PipeshieldError
from pipeshield.supplychain.deps.model import Dependency
from pipeshield.supplychain.deps.osv import Match

__all__ = ["AdvisoryServiceError", "Service"]


class AdvisoryServiceError(PipeshieldError):
    """The vulnerability service could not be asked (network failure, a malformed answer)."""


class Service(Protocol):
    @property
    def name(self) -> str:
        """What the report says was asked (``osv-offline:PATH``, ``osv-api``)."""
        ...

    def query(self, dependencies: Sequence[Dependency]) -> dict[Dependency, list[Match]]:
        """Advisories for each dependency with a version; every one asked about is a key."""
        ...
