"""The audit end to end on the demo pipeline, through the library API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeshield.audit import audit, run_checks
from pipeshield.core.checks import _REGISTRY, Check, CheckContext
from pipeshield.core.findings import Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import load_pipeline
from pipeshield.errors import ConfigError, PipeshieldError


@pytest.fixture(scope="module")
def serial_findings(demo_pipeline: Path) -> list[Finding]:
    """Every check of the demo run serially, at one torch thread: the local executor's 2 workers
    get 1 thread each, and a different thread count changes float sums in their last bits, which
    the black-box finite-difference inversion can amplify into a different reconstruction."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_checks(load_pipeline(demo_pipeline), executor="serial")
    finally:
        torch.set_num_threads(threads)


def test_findings_carry_framework_references(serial_findings: list[Finding]) -> None:
    for f in serial_findings:
        assert f.references["nist_ai_rmf"], f.id
    pickle = next(f for f in serial_findings if f.id.endswith("artifacts.forest_v2"))
    assert {r["id"] for r in pickle.references["owasp_ml"]} >= {"ML06"}


def test_local_and_serial_executors_agree(demo_pipeline: Path, serial_findings: list[Finding]) -> None:
    local = run_checks(load_pipeline(demo_pipeline), executor="local", jobs=2)
    key = lambda fs: sorted((f.id, f.status.value, json.dumps(f.metrics, sort_keys=True)) for f in fs)  # noqa: E731
    assert key(serial_findings) == key(local)


def test_only_filters_stages(demo_pipeline: Path) -> None:
    pipeline = load_pipeline(demo_pipeline)
    findings = run_checks(pipeline, stages=[Stage.PREPROCESSING], executor="serial")
    assert findings and {f.stage for f in findings} == {Stage.PREPROCESSING}
    assert {f.check for f in findings} == {"data.validation"}


def test_checks_filter_runs_only_the_named_checks(demo_pipeline: Path) -> None:
    from pipeshield.errors import CheckError

    pipeline = load_pipeline(demo_pipeline)
    findings = run_checks(pipeline, executor="serial", checks=["integrity.signatures", "core.config-sanity"])
    assert {f.check for f in findings} == {"integrity.signatures", "core.config-sanity"}
    with pytest.raises(CheckError, match="no check named 'integrity.nope'"):
        run_checks(pipeline, executor="serial", checks=["integrity.signatures", "integrity.nope"])


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
    findings = run_checks(load_pipeline(demo_pipeline), executor="serial", checks=["test.crashes"])
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
            audit(demo_pipeline, out_dir=tmp_path / "out", formats=["json", "explodes"], executor="serial",
                  checks=["integrity.signatures"])
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
    findings = run_checks(load_pipeline(demo_pipeline), executor="local", jobs=2,
                          checks=["test.crashes", "validation.clean-accuracy"])
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


def test_a_user_mistake_stops_the_other_checks_workers(demo_copy: Path) -> None:
    """The broken model aborts the audit while the evasion check still attacks the forest in the
    other worker: that worker is stopped, not left running until the interpreter exits."""
    import multiprocessing
    import time

    (demo_copy.parent / "models/digits_cnn.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(PipeshieldError, match="digits_cnn"):
        run_checks(load_pipeline(demo_copy), executor="local", jobs=2,
                   checks=["validation.clean-accuracy", "attacks.evasion"])
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert multiprocessing.active_children() == []


def test_heavy_checks_are_submitted_longest_first(demo_copy: Path) -> None:
    """The executor sees the federated comparison (the longest) first, then the trade-off, then
    evasion and extraction, then the rest in registry order; nothing runs here (every item is
    answered with an error, which the audit reports as a lost item)."""
    from pipeshield.core import executor as executors

    seen: list[str] = []

    class Recording:
        def __init__(self, jobs: int | None = None) -> None:
            pass

        def map_unordered(self, fn: Any, items: Any) -> Iterator[tuple[Any, BaseException]]:
            for item in items:
                seen.append(item.check.id)
                yield item, RuntimeError("not run")

    for check in ("training.tradeoff", "training.federated"):  # the shared demo turns them off
        head, table, tail = demo_copy.read_text().partition(f'[policy.checks."{check}"]')
        demo_copy.write_text(head + table + tail.replace("models = []", 'models = ["digits_cnn"]', 1))
    executors.register_executor("recording", Recording)
    try:
        run_checks(load_pipeline(demo_copy), executor="recording")
    finally:
        executors._EXECUTORS.pop("recording")
    firsts = list(dict.fromkeys(seen))
    assert firsts[:4] == ["training.federated", "training.tradeoff", "attacks.evasion", "attacks.extraction"]
    assert firsts[4:] == sorted(firsts[4:])  # the rest: the registry's (alphabetical) order
