"""Governance mappings: threat -> MITRE ATLAS, OWASP ML Top 10, NIST AI RMF, ISO/IEC 23894.

The mapping lives in one data file, ``data/threat_map.toml``, with the framework versions it was
checked against. Checks never type framework IDs; the audit fills ``Finding.references`` from here.

    >>> ids = [r["id"] for r in references_for(Threat.DATA_POISONING)["owasp_ml"]]
    >>> "ML02" in ids
    True
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from typing import Any

from pipeshield.core.findings import Threat

__all__ = ["FRAMEWORKS", "FRAMEWORK_LABELS", "framework_sources", "references_for", "threat_info"]

#: Framework keys, in the order reports show them.
FRAMEWORKS: tuple[str, ...] = ("atlas", "atlas_mitigations", "owasp_ml", "nist_ai_rmf", "iso_23894")

#: How reports name each framework key.
FRAMEWORK_LABELS = {
    "atlas": "MITRE ATLAS",
    "atlas_mitigations": "ATLAS mitigations",
    "owasp_ml": "OWASP ML Top 10",
    "nist_ai_rmf": "NIST AI RMF",
    "iso_23894": "ISO/IEC 23894",
}


@functools.cache
def _load() -> dict[str, Any]:
    raw = resources.files("pipeshield.core").joinpath("data/threat_map.toml").read_bytes()
    data = tomllib.loads(raw.decode("utf-8"))
    missing = [t.value for t in Threat if t.value not in data.get("threats", {})]
    if missing:  # a packaging bug, not a user error
        raise RuntimeError(f"threat_map.toml lacks threats: {', '.join(missing)}")
    return data


def references_for(threat: Threat) -> dict[str, list[dict[str, str]]]:
    """The framework references of one threat, as ``{framework: [{"id", "name"}, ...]}``."""
    entry = _load()["threats"][Threat(threat).value]
    return {key: [dict(item) for item in entry.get(key, [])] for key in FRAMEWORKS}


def threat_info(threat: Threat) -> dict[str, Any]:
    """Title, stages and summary of one threat."""
    entry = _load()["threats"][Threat(threat).value]
    return {k: entry.get(k) for k in ("title", "stages", "summary", "note")}


def framework_sources() -> dict[str, dict[str, str]]:
    """Name, version and URL of each framework the mapping was checked against."""
    return {k: dict(v) for k, v in _load()["sources"].items()}
