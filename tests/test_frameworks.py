"""The governance mapping: every threat mapped, every ID well-formed, known facts present."""

from __future__ import annotations

import re

import pytest

from pipeshield.core.findings import Threat
from pipeshield.core.frameworks import FRAMEWORKS, framework_sources, references_for

PATTERNS = {
    "atlas": r"AML\.T\d{4}(\.\d{3})?",
    "atlas_mitigations": r"AML\.M\d{4}",
    "owasp_ml": r"ML(0[1-9]|10)",
    "nist_ai_rmf": r"(GOVERN|MAP|MEASURE|MANAGE) \d+\.\d+",
    "iso_23894": r"(\d+(\.\d+)*|Annex [A-C](\.\d+)*)",
}


@pytest.mark.parametrize("threat", list(Threat))
def test_every_threat_is_mapped_with_well_formed_ids(threat: Threat) -> None:
    refs = references_for(threat)
    assert set(refs) == set(FRAMEWORKS)
    assert refs["nist_ai_rmf"], f"{threat} has no NIST AI RMF subcategory"
    assert refs["iso_23894"], f"{threat} has no ISO/IEC 23894 clause"
    for framework, items in refs.items():
        for item in items:
            assert re.fullmatch(PATTERNS[framework], item["id"]), (framework, item)
            assert item["name"].strip()


@pytest.mark.parametrize(
    ("threat", "atlas", "owasp"),
    [
        (Threat.DATA_POISONING, "AML.T0020", "ML02"),
        (Threat.EVASION, "AML.T0015", "ML01"),
        (Threat.MODEL_INVERSION, "AML.T0024.001", "ML03"),
        (Threat.MEMBERSHIP_INFERENCE, "AML.T0024.000", "ML04"),
        (Threat.MODEL_THEFT, "AML.T0024.002", "ML05"),
        (Threat.SUPPLY_CHAIN, "AML.T0010", "ML06"),
    ],
)
def test_published_identifiers(threat: Threat, atlas: str, owasp: str) -> None:
    refs = references_for(threat)
    assert atlas in {r["id"] for r in refs["atlas"]}
    assert owasp in {r["id"] for r in refs["owasp_ml"]}


def test_sources_carry_versions() -> None:
    sources = framework_sources()
    assert set(sources) == {"atlas", "owasp_ml", "nist_ai_rmf", "iso_23894"}
    assert all(s["version"] and s["url"].startswith("https://") for s in sources.values())
