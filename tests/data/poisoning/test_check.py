"""Audit check ``data.poisoning`` on the demo: the backdoor and the flips are found and explained."""

from __future__ import annotations

from pathlib import Path

from pipeshield.core.checks import CheckContext, check_settings, get_check
from pipeshield.core.findings import Severity, Stage, Status, Threat
from pipeshield.core.pipeline import load_pipeline
from pipeshield.report.svg import render_plot


def _run(pipeline_file: Path, model: str):  # type: ignore[no-untyped-def]
    pipeline = load_pipeline(pipeline_file)
    check = get_check("data.poisoning")
    assert check.skip_reason(pipeline, model) is None
    (finding,) = check.run(CheckContext(pipeline, check_settings(check, pipeline)), model)
    return check, finding


def test_demo_cnn_backdoor_and_flips(demo_digits, demo_pipeline: Path) -> None:  # type: ignore[no-untyped-def]
    check, f = _run(demo_pipeline, "digits_cnn")
    assert (check.stage, check.threat, check.cost) == (Stage.COLLECTION, Threat.DATA_POISONING, "heavy")
    assert f.status is Status.FAIL and f.severity is Severity.HIGH
    assert f.metrics["backdoor_classes"] == "0"
    assert f.metrics["backdoor_rows"] == demo_digits.backdoor.sum()
    assert f.metrics["label_issues"] >= 32
    assert "class 0: 36 rows" in f.message and "label issues" in f.message
    assert "Tan & Shokri" in f.caveat and "clean-label" in f.caveat
    plots = [e for e in f.evidence if e.kind == "plot"]
    assert len(plots) == 2
    for e in plots:
        assert render_plot(e.data, e.label).startswith("<svg")
    table = next(e for e in f.evidence if e.kind == "table")
    backdoor_rows = {row[0] for row in table.data["rows"] if row[1] == "spectral-signatures"}
    assert backdoor_rows <= set(demo_digits.backdoor.nonzero()[0].tolist())


def test_sklearn_model_skips_backdoor_detectors_with_reason(demo_pipeline: Path) -> None:
    _check, f = _run(demo_pipeline, "tabular_forest")
    assert f.status in (Status.PASS, Status.WARN)
    assert "not a torch model" in f.message
    assert "backdoor_rows" in f.metrics and f.metrics["backdoor_rows"] == 0
