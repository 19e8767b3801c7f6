"""The ``attacks.inversion`` audit check on the demo pipeline: MI-Face on the digits CNN (white-box,
with the output-policy controls re-run black-box) and attribute inference on the tumour forest
once the policy declares a sensitive column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeshield.core.findings import Finding, Status


def _run(pipeline_file: Path, **overrides: Any) -> dict[str, Finding]:
    from pipeshield.core.checks import CheckContext, check_settings, get_check
    from pipeshield.core.pipeline import load_pipeline

    pipeline = load_pipeline(pipeline_file)
    check = get_check("attacks.inversion")
    settings = check_settings(check, pipeline).model_copy(update=overrides)
    ctx = CheckContext(pipeline, settings)
    out: dict[str, Finding] = {}
    for subject in check.subjects(pipeline):
        reason = check.skip_reason(pipeline, subject)
        fs = [check.skipped(subject, reason)] if reason else list(check.run(ctx, subject))
        out.update({f.id: f for f in fs})
    return out


@pytest.fixture(scope="module")
def findings(demo_pipeline: Path) -> dict[str, Finding]:
    return _run(demo_pipeline)


def test_check_is_registered() -> None:
    from pipeshield.core.checks import all_checks

    check = all_checks()["attacks.inversion"]
    assert check.stage == "inference" and check.threat == "model_inversion"


def test_digits_cnn_reconstructions_are_recognised_and_shown(findings: dict[str, Finding]) -> None:
    f = findings["attacks.inversion/digits_cnn"]
    assert f.status is Status.FAIL and f.severity == "medium"
    assert f.metrics["access"] == "white-box" and f.metrics["n_classes"] == 10
    assert f.metrics["recognition_rate"] > 0.5 > f.metrics["chance"]  # type: ignore[operator]
    images = f.evidence[0].data
    assert images is not None and images["type"] == "images" and len(images["images"]) == 10
    assert all("recognised" in im["caption"] or "seen as" in im["caption"] for im in images["images"])
    # controls measured black-box: label-only output leaves the attacker at chance
    assert f.metrics["recognition_rate_black_box_label-only"] <= 0.2  # type: ignore[operator]
    assert f.metrics["queries_black_box_full"] > 0  # type: ignore[operator]
    assert "label-only" in f.message and "independent" in f.message
    assert "not a training record" in f.caveat
    json.dumps(f.to_dict())


def test_tabular_model_skips_without_a_sensitive_column(findings: dict[str, Finding]) -> None:
    f = findings["attacks.inversion/tabular_forest"]
    assert f.status is Status.SKIPPED and "sensitive" in f.message


def test_attribute_inference_on_a_declared_sensitive_column(demo_copy: Path) -> None:
    with demo_copy.open("a") as fh:
        fh.write('\n[policy.checks."attacks.inversion"]\nsensitive = ["worst radius", "no such column"]\n'
                 'max_records = 200\n')
    fs = _run(demo_copy)
    f = fs["attacks.inversion/tabular_forest/worst radius"]
    assert f.status in (Status.PASS, Status.FAIL)
    assert f.metrics["kind"] == "binned" and f.metrics["n_candidates"] == 5
    for key in ("attack_accuracy_members", "baseline_accuracy_members", "advantage_members",
                "advantage_nonmembers", "advantage_members_label-only"):
        assert key in f.metrics
    table = f.evidence[0].data
    assert table is not None and [r[0] for r in table["rows"]] == ["full", "round-2", "top-1", "label-only"]
    assert "without the model" in f.message
