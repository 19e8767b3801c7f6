"""The audit end to end on the demo pipeline, through the library API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeshield.audit import audit, run_checks
from pipeshield.core.checks import _REGISTRY, Check, CheckContext
from pipeshield.core.findings import Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import load_pipeline
from pipeshield.errors import ConfigError


def test_findings_carry_framework_references(demo_pipeline: Path, tmp_path: Path) -> None:
    result = audit(demo_pipeline, out_dir=tmp_path, formats=["json"], executor="serial")
    for f in result.report.findings:
        assert f.references["nist_ai_rmf"], f.id
    pickle = next(f for f in result.report.findings if f.id.endswith("artifacts.forest_v2"))
    assert {r["id"] for r in pickle.references["owasp_ml"]} >= {"ML06"}


def test_local_and_serial_executors_agree(demo_pipeline: Path) -> None:
    import torch

    pipeline = load_pipeline(demo_pipeline)
    # The local executor's 2 workers get 1 torch thread each; the serial run must too: a different
    # thread count changes float sums in their last bits, which the black-box finite-difference
    # inversion can amplify into a different reconstruction.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial = run_checks(pipeline, executor="serial")
    finally:
        torch.set_num_threads(threads)
    local = run_checks(pipeline, executor="local", jobs=2)
    key = lambda fs: sorted((f.id, f.status.value, json.dumps(f.metrics, sort_keys=True)) for f in fs)  # noqa: E731
    assert key(serial) == key(local)


def test_only_filters_stages(demo_pipeline: Path) -> None:
    pipeline = load_pipeline(demo_pipeline)
    findings = run_checks(pipeline, stages=[Stage.VALIDATION], executor="serial")
    assert findings and {f.stage for f in findings} == {Stage.VALIDATION}
    assert {f.id for f in findings} >= {"validation.clean-accuracy/digits_cnn", "validation.clean-accuracy/tabular_forest"}


def test_policy_names_unknown_checks_and_settings(demo_copy: Path) -> None:
    text = demo_copy.read_text()
    demo_copy.write_text(text + '\n[policy.checks."validation.nope"]\nx = 1\n')
    with pytest.raises(ConfigError, match=r'policy\.checks\."validation\.nope": no such check'):
        audit(demo_copy, executor="serial")
    demo_copy.write_text(text.replace("min_accuracy = 0.9", "min_accuracy = 1.5"))
    with pytest.raises(ConfigError, match=r'policy\.checks\."validation\.clean-accuracy"\.min_accuracy'):
        audit(demo_copy, executor="serial")
    demo_copy.write_text(text.replace("min_accuracy = 0.9", "min_acc = 0.9"))
    with pytest.raises(ConfigError, match=r"min_acc: unknown setting \(settings of this check: min_accuracy"):
        audit(demo_copy, executor="serial")


@pytest.fixture
def crashing_check() -> Iterator[None]:
    class _Crashes(Check):  # registers itself on definition
        id = "test.crashes"
        title = "A check with a bug"
        stage = Stage.INFERENCE
        threat = Threat.AVAILABILITY

        def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
            raise ZeroDivisionError("planted bug")

    yield
    _REGISTRY.pop("test.crashes", None)


def test_a_crashing_check_becomes_an_error_finding(demo_pipeline: Path, crashing_check: None) -> None:
    findings = run_checks(load_pipeline(demo_pipeline), stages=[Stage.INFERENCE], executor="serial")
    crash = next(f for f in findings if f.check == "test.crashes")
    assert crash.status is Status.ERROR and crash.severity is Severity.HIGH
    assert "ZeroDivisionError: planted bug" in crash.message
    assert "Traceback" in (crash.evidence[0].text or "")


def test_report_is_written_whole_or_not_at_all(demo_pipeline: Path, tmp_path: Path) -> None:
    from pipeshield.report import FORMATS, register_format

    @register_format("explodes", "explodes.txt")
    def _render(report: object) -> str:
        raise RuntimeError("renderer failed")

    try:
        with pytest.raises(RuntimeError):
            audit(demo_pipeline, out_dir=tmp_path / "out", formats=["json", "explodes"], executor="serial")
    finally:
        FORMATS.pop("explodes")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_atomic_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from pipeshield.core.files import atomic_write_text

    target = tmp_path / "report.json"
    atomic_write_text(target, "old")

    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_check_that_cannot_reach_a_worker_is_an_error_finding(demo_pipeline: Path, crashing_check: None) -> None:
    """A check class defined in a test cannot be sent to a worker process: the audit reports
    that item as an error instead of crashing (the same path a worker killed by the OOM killer takes)."""
    findings = run_checks(load_pipeline(demo_pipeline), stages=[Stage.INFERENCE, Stage.VALIDATION], executor="local", jobs=2)
    crash = next(f for f in findings if f.check == "test.crashes")
    assert crash.status is Status.ERROR and "could not run in a worker process" in crash.message
    assert any(f.check == "validation.clean-accuracy" and f.status is Status.PASS for f in findings)


def test_duplicate_ids_are_disambiguated() -> None:
    from pipeshield.audit import _unique_ids

    f = Finding(check="c", title="t", stage=Stage.TRAINING, threat=Threat.SUPPLY_CHAIN, status=Status.PASS, subject="s")
    ids = [x.id for x in _unique_ids([f, f, f])]
    assert ids == ["c/s", "c/s#2", "c/s#3"]


def test_metrics_are_plain_json() -> None:
    import numpy as np

    f = Finding(
        check="c", title="t", stage=Stage.VALIDATION, threat=Threat.GOVERNANCE, status=Status.PASS,
        metrics={"a": np.float32(0.5), "b": float("nan"), "c": np.int64(3), "d": np.bool_(True)},
    )
    assert f.metrics == {"a": 0.5, "b": None, "c": 3, "d": True}
    assert json.dumps(f.to_dict(), allow_nan=False)
