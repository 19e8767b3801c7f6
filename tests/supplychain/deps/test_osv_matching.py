"""OSV range matching and severity: introduced/fixed/last_affected/limit, versions lists, pre-releases."""

from __future__ import annotations

from typing import Any

import pytest

from pipeshield.core.findings import Severity
from pipeshield.supplychain.deps.osv import is_affected, match
from pipeshield.supplychain.deps.severity import advisory_severity, cvss3_score, cvss4_rating


def _entry(*events: dict[str, str], versions: list[str] | None = None, kind: str = "ECOSYSTEM") -> dict[str, Any]:
    entry: dict[str, Any] = {"package": {"ecosystem": "PyPI", "name": "demo-pkg"},
                             "ranges": [{"type": kind, "events": list(events)}] if events else []}
    if versions is not None:
        entry["versions"] = versions
    return entry


FIXED = _entry({"introduced": "0"}, {"fixed": "2.6.0"})


@pytest.mark.parametrize(("version", "affected"), [
    ("1.0", True), ("2.5.1", True), ("2.6.0rc1", True), ("2.6.0.dev3", True),
    ("2.6.0", False), ("2.6", False), ("2.6.0.post1", False), ("2.7.0a1", False), ("3.0", False),
])
def test_fixed_is_not_affected_and_prereleases_sort_before(version: str, affected: bool) -> None:
    assert is_affected(version, FIXED) is affected


def test_introduced_and_last_affected() -> None:
    entry = _entry({"introduced": "3.0.0"}, {"last_affected": "3.8.1"})
    assert not is_affected("2.15.0", entry)
    assert is_affected("3.0.0", entry) and is_affected("3.8.1", entry)
    assert not is_affected("3.8.2", entry) and not is_affected("3.9.0", entry)


def test_several_introduced_fixed_pairs_in_any_order() -> None:
    entry = _entry({"fixed": "1.5"}, {"introduced": "2.0"}, {"introduced": "1.0"}, {"fixed": "2.2"})
    assert [is_affected(v, entry) for v in ("0.9", "1.0", "1.4.9", "1.5", "1.9", "2.0", "2.1.9", "2.2")] == [
        False, True, True, False, False, True, True, False]


def test_limit_closes_the_range() -> None:
    entry = _entry({"introduced": "0"}, {"limit": "4.0"})
    assert is_affected("3.9", entry) and not is_affected("4.0", entry)


def test_open_range_without_fix() -> None:
    entry = _entry({"introduced": "0"})
    assert is_affected("0.0.1", entry) and is_affected("99.0", entry)


def test_versions_list_compares_as_versions() -> None:
    entry = _entry(versions=["1.2.0", "1.3"])
    assert is_affected("1.2", entry) and is_affected("1.3.0", entry) and not is_affected("1.2.1", entry)


def test_git_ranges_are_ignored_and_invalid_versions_fall_back_to_the_list() -> None:
    assert not is_affected("1.0", _entry({"introduced": "abc123"}, {"fixed": "def456"}, kind="GIT"))
    assert is_affected("weird-build", _entry(versions=["weird-build"]))
    assert not is_affected("weird-build", FIXED)


def test_match_normalises_names_and_ignores_other_ecosystems() -> None:
    record = {"id": "PSTEST-1", "summary": "demo", "affected": [
        {"package": {"ecosystem": "npm", "name": "Demo_Pkg"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]},
        {"package": {"ecosystem": "PyPI", "name": "Demo_Pkg"}, "ranges": [{"type": "ECOSYSTEM", "events": [
            {"introduced": "0"}, {"fixed": "1.1"}, {"introduced": "2.0"}, {"fixed": "2.0.3"}]}]},
    ]}
    hit = match(record, "demo.pkg", "2.0.1")
    assert hit is not None and hit.fixed == ("1.1", "2.0.3")
    assert match(record, "demo-pkg", "1.5") is None
    assert match({**record, "withdrawn": "2024-01-01T00:00:00Z"}, "demo-pkg", "2.0.1") is None


def test_cvss3_scores_match_first_calculator() -> None:
    assert cvss3_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == 9.8
    assert cvss3_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H") == 9.6
    assert cvss3_score("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N") == 5.5
    assert cvss3_score("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:N") == 0.0
    assert cvss3_score("CVSS:3.1/AV:N") is None


def test_severity_precedence() -> None:
    v3 = {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
    assert advisory_severity({"database_specific": {"severity": "MODERATE"}, "severity": [v3]})[:2] == (
        Severity.MEDIUM, "database_specific")
    assert advisory_severity({"severity": [v3]})[0] is Severity.CRITICAL
    assert advisory_severity({})[:2] == (Severity.MEDIUM, "default")
    assert cvss4_rating("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N") is Severity.CRITICAL
    assert cvss4_rating("CVSS:4.0/AV:L/AC:L/AT:P/PR:L/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H") is Severity.HIGH
