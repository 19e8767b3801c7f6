"""How bad an advisory is, from what its OSV record says, in a fixed order of trust.

1. ``database_specific.severity`` (GitHub's curated label: CRITICAL, HIGH, MODERATE, LOW), on the
   record or on the affected entry;
2. a CVSS v3.x vector in ``severity[]``: the base score is computed here (FIRST's formula) and
   rated (9.0+ critical, 7.0+ high, 4.0+ medium, else low);
3. a CVSS v4 vector: rated by a documented approximation (below), not FIRST's lookup tables;
4. nothing: ``medium``, because an advisory without a score is still an advisory.

    >>> cvss3_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    9.8
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pipeshield.core.findings import Severity

__all__ = ["advisory_severity", "cvss3_score", "cvss4_rating", "rating"]

_LABELS = {"CRITICAL": Severity.CRITICAL, "HIGH": Severity.HIGH, "MODERATE": Severity.MEDIUM,
           "MEDIUM": Severity.MEDIUM, "LOW": Severity.LOW}
_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC = {"L": 0.77, "H": 0.44}
_PR_UNCHANGED = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_CHANGED = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI = {"N": 0.85, "R": 0.62}
_CIA = {"H": 0.56, "L": 0.22, "N": 0.0}


def _metrics(vector: str) -> dict[str, str]:
    parts = vector.strip().split("/")
    return dict(p.split(":", 1) for p in parts[1:] if ":" in p)


def _roundup(value: float) -> float:
    """CVSS 3.1's Roundup: the smallest one-decimal number >= value, free of float noise."""
    scaled = round(value * 100_000)
    return scaled / 100_000.0 if scaled % 10_000 == 0 else (math.floor(scaled / 10_000) + 1) / 10.0


def cvss3_score(vector: str) -> float | None:
    """The CVSS v3.0/v3.1 base score of a vector, or ``None`` when it is not a valid v3 vector."""
    if not vector.startswith("CVSS:3."):
        return None
    m = _metrics(vector)
    try:
        changed = m["S"] == "C"
        iss = 1 - (1 - _CIA[m["C"]]) * (1 - _CIA[m["I"]]) * (1 - _CIA[m["A"]])
        impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
        pr = (_PR_CHANGED if changed else _PR_UNCHANGED)[m["PR"]]
        exploitability = 8.22 * _AV[m["AV"]] * _AC[m["AC"]] * pr * _UI[m["UI"]]
    except KeyError:
        return None
    if impact <= 0:
        return 0.0
    total = 1.08 * (impact + exploitability) if changed else impact + exploitability
    return _roundup(min(total, 10.0))


def rating(score: float) -> Severity:
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    return Severity.LOW


def cvss4_rating(vector: str) -> Severity | None:
    """An approximation of a CVSS v4 rating (FIRST's score needs its 270-entry lookup table).

    High impact on the vulnerable system (VC/VI/VA:H) reached over the network without privileges
    or user interaction is critical; any high impact is high; any low impact is medium; else low.
    It errs on the side of the published labels, which GitHub's records carry anyway.
    """
    if not vector.startswith("CVSS:4."):
        return None
    m = _metrics(vector)
    impacts = [m.get(k, "N") for k in ("VC", "VI", "VA")]
    easy = m.get("AV") == "N" and m.get("PR") == "N" and m.get("UI") == "N" and m.get("AT", "N") == "N"
    if "H" in impacts:
        return Severity.CRITICAL if easy and impacts.count("H") == 3 else Severity.HIGH
    if "L" in impacts:
        return Severity.MEDIUM
    return Severity.LOW


def advisory_severity(record: Mapping[str, Any], affected: Mapping[str, Any] | None = None) -> tuple[Severity, str, str | None]:
    """``(severity, where it came from, CVSS vector)`` for an OSV record (and one affected entry)."""
    vectors = [s.get("score", "") for s in (record.get("severity") or []) if isinstance(s, Mapping)]
    vectors += [s.get("score", "") for s in ((affected or {}).get("severity") or []) if isinstance(s, Mapping)]
    vector = next((v for v in vectors if isinstance(v, str) and v.startswith("CVSS:")), None)
    for where in (affected or {}, record):
        label = (where.get("database_specific") or {}).get("severity")
        if isinstance(label, str) and label.upper() in _LABELS:
            return _LABELS[label.upper()], "database_specific", vector
    for v in vectors:
        if not isinstance(v, str):
            continue
        score = cvss3_score(v)
        if score is not None:
            return rating(score), f"cvss_v3 ({score})", v
    for v in vectors:
        if isinstance(v, str) and (r := cvss4_rating(v)) is not None:
            return r, "cvss_v4 (approximate)", v
    return Severity.MEDIUM, "default", vector
