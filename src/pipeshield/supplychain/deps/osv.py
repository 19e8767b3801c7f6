"""OSV records (schema 1.6) and the one matcher every service uses.

An OSV record lists ``affected[]`` packages, each with ``ranges`` (``ECOSYSTEM`` or ``SEMVER``
events: ``introduced``, ``fixed``, ``last_affected``, ``limit``) and/or an explicit ``versions``
list. A version is affected when it is listed, or when, walking a range's events in version order,
the last event at or below it was an ``introduced`` (``fixed``/``limit`` close the range before
their version, ``last_affected`` just after it). Versions compare as PEP 440 versions with
:mod:`packaging`, so ``2.6.0rc1`` is before ``2.6.0`` and ``2.6`` equals ``2.6.0``. ``GIT`` ranges
name commits, not releases, and are ignored; so are withdrawn records.

    >>> match(record, "torch", "2.5.1")                      # doctest: +SKIP
    Match(advisory=Advisory(id='GHSA-53q9-r3pm-6pq6', ...), fixed=('2.6.0',))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from pipeshield.errors import ArtifactError
from pipeshield.supplychain.deps.model import Advisory
from pipeshield.supplychain.deps.names import canonical
from pipeshield.supplychain.deps.severity import advisory_severity

__all__ = ["ECOSYSTEM", "Match", "check_record", "is_affected", "match", "pypi_names"]

ECOSYSTEM = "PyPI"
_ORDER = {"introduced": 0, "fixed": 1, "last_affected": 1, "limit": 1}


@dataclass(frozen=True)
class Match:
    advisory: Advisory
    fixed: tuple[str, ...]


def _version(text: object) -> Version | None:
    if not isinstance(text, str):
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


def check_record(raw: object, where: str) -> dict[str, Any]:
    """An OSV record or an ArtifactError naming the file: a corrupt database must not pass silently."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise ArtifactError(f"{where}: not an OSV record (expected a JSON object with an 'id')")
    if not isinstance(raw.get("affected", []), list):
        raise ArtifactError(f"{where}: OSV record {raw['id']}: 'affected' must be a list")
    return raw


def _pypi_entries(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    out = []
    for entry in record.get("affected") or []:
        package = entry.get("package") if isinstance(entry, Mapping) else None
        if isinstance(package, Mapping) and package.get("ecosystem") == ECOSYSTEM and isinstance(package.get("name"), str):
            out.append(entry)
    return out


def pypi_names(record: Mapping[str, Any]) -> set[str]:
    """Canonical names of the PyPI packages a record affects."""
    return {canonical(e["package"]["name"]) for e in _pypi_entries(record)}


def _in_range(version: Version, events: Sequence[Mapping[str, Any]]) -> bool:
    parsed: list[tuple[Version | None, int, str]] = []
    for event in events:
        if not isinstance(event, Mapping):
            continue
        for kind, value in event.items():
            if kind not in _ORDER:
                continue
            if kind == "introduced" and value == "0":
                parsed.append((None, 0, kind))
            elif (v := _version(value)) is not None:
                parsed.append((v, _ORDER[kind], kind))
    parsed.sort(key=lambda e: (e[0] is not None, e[0] or Version("0"), e[1]))
    affected = False
    for at, _, kind in parsed:
        if kind == "introduced":
            if at is None or version >= at:
                affected = True
        elif kind in ("fixed", "limit"):
            if at is not None and version >= at:
                affected = False
        elif at is not None and version > at:  # last_affected
            affected = False
    return affected


def is_affected(version: str, entry: Mapping[str, Any]) -> bool:
    """Whether ``version`` falls in one affected entry (its ranges or its versions list)."""
    parsed = _version(version)
    listed = entry.get("versions") or []
    if parsed is None:
        return version in listed
    if any(_version(v) == parsed for v in listed):
        return True
    for r in entry.get("ranges") or []:
        if isinstance(r, Mapping) and r.get("type") in ("ECOSYSTEM", "SEMVER") and _in_range(parsed, r.get("events") or []):
            return True
    return False


def _fixed(entry: Mapping[str, Any]) -> list[str]:
    return [str(e["fixed"]) for r in entry.get("ranges") or [] if isinstance(r, Mapping)
            for e in r.get("events") or [] if isinstance(e, Mapping) and "fixed" in e]


def _advisory(record: Mapping[str, Any], entry: Mapping[str, Any]) -> Advisory:
    severity, source, vector = advisory_severity(record, entry)
    refs = [r.get("url") for r in record.get("references") or [] if isinstance(r, Mapping)]
    advisory_ref = next((u for r, u in zip(record.get("references") or [], refs, strict=False)
                         if isinstance(r, Mapping) and r.get("type") == "ADVISORY" and u), None)
    summary = record.get("summary") or (record.get("details") or "").strip().split("\n")[0][:200]
    return Advisory(
        id=record["id"],
        summary=str(summary or "(no summary)"),
        severity=severity,
        severity_source=source,
        aliases=tuple(str(a) for a in record.get("aliases") or []),
        details=str(record.get("details") or ""),
        cvss=vector,
        url=advisory_ref or f"https://osv.dev/vulnerability/{record['id']}",
    )


def match(record: Mapping[str, Any], name: str, version: str) -> Match | None:
    """The advisory and its fix versions if ``name==version`` is affected by ``record``."""
    if record.get("withdrawn"):
        return None
    key = canonical(name)
    hits = [e for e in _pypi_entries(record) if canonical(e["package"]["name"]) == key and is_affected(version, e)]
    if not hits:
        return None
    fixed = sorted({f for e in hits for f in _fixed(e)}, key=lambda f: (_version(f) or Version("0"), f))
    return Match(_advisory(record, hits[0]), tuple(fixed))
