"""The Python environment as CycloneDX ``library`` components (one per installed distribution).

Reads the same list as the dependency audit (:func:`~pipeshield.supplychain.deps.
installed_distributions`), so the SBOM and ``pipeshield deps --env`` always describe the same
packages. Licences come from the metadata as it is: a PEP 639 ``License-Expression`` becomes an
SPDX expression, otherwise the ``License`` field (when it is a short name, not the whole licence
text) and the ``License ::`` classifiers become named licences. Hashes are left out: installed
files are not the wheel that was downloaded, so a hash of them would verify nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from pipeshield.supplychain.deps.names import canonical
from pipeshield.supplychain.deps.sources import Installed, installed_distributions

__all__ = ["library_components", "purl"]

_MAX_LICENSE_NAME = 80


def purl(name: str, version: str) -> str:
    """``pkg:pypi/name@version``, name normalised as the purl spec asks for PyPI."""
    return f"pkg:pypi/{canonical(name)}@{quote(version, safe='')}"


def _licenses(dist: Installed) -> list[dict[str, Any]]:
    if dist.license_expression:
        return [{"expression": dist.license_expression}]
    names: list[str] = []
    if dist.license and "\n" not in dist.license and len(dist.license) <= _MAX_LICENSE_NAME:
        names.append(dist.license)
    names += [c for c in dist.license_classifiers if c not in names]
    return [{"license": {"name": n}} for n in names]


def library_components(dists: Iterable[Installed] | None = None) -> list[dict[str, Any]]:
    """One ``library`` component per distribution; ``bom-ref`` is its purl."""
    out = []
    for dist in installed_distributions() if dists is None else dists:
        ref = purl(dist.name, dist.version)
        component: dict[str, Any] = {"type": "library", "bom-ref": ref, "name": dist.name,
                                     "version": dist.version, "purl": ref}
        if dist.summary:
            component["description"] = dist.summary
        if licenses := _licenses(dist):
            component["licenses"] = licenses
        out.append(component)
    return out
