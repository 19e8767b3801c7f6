"""Where dependencies come from: the :class:`Source` interface and its two implementations.

A source yields :class:`~.model.Dependency` records and what the hygiene rules need to know
about them (whether pip's hash rule applies, extra package indexes). ``RequirementsSource`` reads
pip requirements files; ``EnvironmentSource`` reads the running interpreter's installed
distributions with :mod:`importlib.metadata` (the SBOM reads the same list through
:func:`installed_distributions`).

    >>> collected = RequirementsSource(["requirements.txt"]).collect()   # doctest: +SKIP
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Protocol

from pipeshield.supplychain.deps.model import Dependency
from pipeshield.supplychain.deps.names import canonical
from pipeshield.supplychain.deps.requirements import parse_requirements

__all__ = ["Collected", "EnvironmentSource", "Installed", "RequirementsSource", "Source", "installed_distributions"]

ENVIRONMENT = "environment"


@dataclass(frozen=True)
class Collected:
    """A source's dependencies; ``hash_rule`` is true where pip's all-or-nothing hash rule applies."""

    dependencies: tuple[Dependency, ...]
    hash_rule: bool = False
    require_hashes: bool = False
    extra_index_urls: tuple[tuple[str, str], ...] = ()


class Source(Protocol):
    """Anything that can list dependencies."""

    @property
    def name(self) -> str: ...

    def collect(self) -> Collected: ...


@dataclass(frozen=True)
class RequirementsSource:
    """pip requirements files, read together as one ``pip install -r a -r b`` would."""

    paths: Sequence[Path | str]
    display_base: Path | None = None

    @property
    def name(self) -> str:
        return "requirements"

    def collect(self) -> Collected:
        parsed = parse_requirements(*self.paths, display_base=self.display_base)
        return Collected(
            dependencies=tuple(parsed.dependencies),
            hash_rule=True,
            require_hashes=parsed.require_hashes,
            extra_index_urls=tuple(parsed.extra_index_urls),
        )


@dataclass(frozen=True)
class Installed:
    """One installed distribution, as its metadata describes it."""

    name: str
    version: str
    license_expression: str | None
    license: str | None
    license_classifiers: tuple[str, ...]
    summary: str | None


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if value and value.upper() != "UNKNOWN" else None


def installed_distributions(path: Iterable[str] | None = None) -> list[Installed]:
    """Installed distributions, first one per canonical name in ``sys.path`` order (what imports)."""
    seen: set[str] = set()
    out: list[Installed] = []
    for dist in metadata.distributions(path=list(path) if path is not None else sys.path):
        meta = dist.metadata
        name = meta["Name"] if meta is not None else None
        if not name or canonical(name) in seen:
            continue
        seen.add(canonical(name))
        classifiers = tuple(
            c.split("::")[-1].strip() for c in (meta.get_all("Classifier") or []) if c.startswith("License ::")
        )
        out.append(Installed(
            name=name,
            version=dist.version,
            license_expression=_clean(meta["License-Expression"]),
            license=_clean(meta["License"]),
            license_classifiers=classifiers,
            summary=_clean(meta["Summary"]),
        ))
    return sorted(out, key=lambda d: canonical(d.name))


@dataclass(frozen=True)
class EnvironmentSource:
    """The distributions installed for this interpreter (or on ``path``): every one is exact."""

    path: Sequence[str] | None = None

    @property
    def name(self) -> str:
        return ENVIRONMENT

    def collect(self) -> Collected:
        deps = tuple(
            Dependency(name=d.name, version=d.version, source=ENVIRONMENT, specifier=f"=={d.version}")
            for d in installed_distributions(self.path)
        )
        return Collected(dependencies=deps)
