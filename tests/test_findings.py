"""Finding invariants: severity ordering, severity belongs to problems, JSON round trip."""

from __future__ import annotations

import pytest

from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat


def make(**kw: object) -> Finding:
    base = dict(check="c.x", title="t", stage=Stage.TRAINING, threat=Threat.SUPPLY_CHAIN, status=Status.FAIL, severity=Severity.HIGH)
    base.update(kw)
    return Finding(**base)  # type: ignore[arg-type]


def test_severity_is_ordered() -> None:
    assert Severity.CRITICAL > Severity.HIGH > Severity.MEDIUM > Severity.LOW > Severity.INFO
    assert max([Severity.LOW, Severity.CRITICAL, Severity.MEDIUM]) is Severity.CRITICAL


def test_pass_and_skip_carry_no_severity() -> None:
    assert make(status=Status.PASS, severity=Severity.CRITICAL).severity is Severity.INFO
    assert make(status="skipped").severity is Severity.INFO


def test_a_failure_needs_a_severity() -> None:
    with pytest.raises(ValueError, match="needs a severity"):
        make(severity=Severity.INFO)


def test_round_trip_and_id() -> None:
    f = make(subject="m", metrics={"a": 1.5}, evidence=(Evidence("plot", "p", data={"type": "bar"}),), locations=("m.pt",))
    assert f.id == "c.x/m"
    assert Finding.from_dict(f.to_dict()) == f
    with pytest.raises(ValueError):
        Evidence("video", "x")


def test_severity_compares_by_rank_with_names_too() -> None:
    assert not (Severity.HIGH >= "critical")  # alphabetically "high" > "critical"; by rank it is not
    assert Severity.HIGH < "critical" and Severity.MEDIUM >= "low"
    with pytest.raises(ValueError):
        assert Severity.HIGH > "severe"
    with pytest.raises(TypeError):
        assert Severity.HIGH > 3
