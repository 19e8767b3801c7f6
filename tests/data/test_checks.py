"""The audit checks ``data.validation`` and ``data.leakage`` on the demo pipeline's planted faults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeshield.core.checks import CheckContext, check_settings, get_check
from pipeshield.core.findings import Finding
from pipeshield.core.pipeline import load_pipeline


def _run(pipeline_file: Path, check_id: str) -> dict[str, Finding]:
    pipeline = load_pipeline(pipeline_file)
    check = get_check(check_id)
    out = {}
    for subject in check.subjects(pipeline):
        reason = check.skip_reason(pipeline, subject)
        if reason:
            out[subject] = check.skipped(subject, reason)
            continue
        for f in check.run(CheckContext(pipeline, check_settings(check, pipeline)), subject):
            out[f.subject] = f
    return out


@pytest.fixture(scope="module")
def leakage(demo_pipeline: Path) -> dict[str, Finding]:
    return _run(demo_pipeline, "data.leakage")


def test_validation_check_on_demo(demo_pipeline: Path, planted: dict[str, Any]) -> None:
    findings = _run(demo_pipeline, "data.validation")
    f = findings["datasets.incoming"]
    truth = planted["incoming"]
    assert f.status == "fail" and f.severity == "high" and f.stage == "preprocessing" and f.threat == "feature_injection"
    assert truth["unexpected_column"] in f.message and truth["drifted_feature"] in f.message
    assert f.metrics["unexpected_columns"] == 1 and f.metrics["drifted_columns"] == 1 and f.metrics["max_psi"] > 0.25
    assert f.settings["profile_from"] == ["datasets.tabular_train"]
    table = next(e for e in f.evidence if e.kind == "table")
    rows = {(r[0], r[1]): r for r in table.data["rows"]}
    assert rows[("range_violation", truth["out_of_range_feature"])][4] == ", ".join(map(str, truth["out_of_range_rows"]))
    plots = [e for e in f.evidence if e.kind == "plot"]
    assert plots[0].data["type"] == "bar" and plots[0].data["x"][0] == truth["drifted_feature"]
    assert [s["name"] for s in plots[1].data["series"]] == ["trusted", "batch"]


def test_leakage_check_on_demo(leakage: dict[str, Finding], planted: dict[str, Any]) -> None:
    pii = leakage["datasets.incoming"]
    assert pii.status == "fail" and pii.severity == "high" and "contact_email" in pii.message
    assert "pa*********@example.org" in pii.message
    overlap = leakage["models.tabular_forest"]
    assert overlap.status == "fail" and overlap.metrics["exact_test_rows"] == len(planted["train_test_overlap"]["test_indices"])
    assert leakage["models.digits_cnn"].status == "pass"
    for name in ("datasets.tabular_train", "datasets.tabular_test", "datasets.digits_train"):
        assert leakage[name].status == "pass" and leakage[name].caveat
    assert leakage["datasets.tabular_train.label"].status == "pass"


def test_findings_json_holds_no_raw_pii(leakage: dict[str, Finding], demo_root: Path) -> None:
    import pandas as pd

    text = json.dumps([f.to_dict() for f in leakage.values()])
    for email in pd.read_csv(demo_root / "data/incoming.csv")["contact_email"]:
        assert email not in text


def test_validation_skipped_without_trusted_data(tmp_path: Path, demo_pipeline: Path) -> None:
    import shutil

    root = tmp_path / "p"
    shutil.copytree(demo_pipeline.parent, root)
    toml = (root / "pipeshield.toml").read_text().replace('role = "train"\nlabel = "diagnosis"', 'role = "test"\nlabel = "diagnosis"')
    (root / "pipeshield.toml").write_text(toml)
    f = _run(root / "pipeshield.toml", "data.validation")["datasets.incoming"]
    assert f.status == "skipped" and "no reference or train dataset" in f.message


def test_label_leak_check_flags_planted_column(tmp_path: Path, cancer) -> None:
    import numpy as np

    frame = cancer.copy()
    frame["leak"] = frame["diagnosis"] + np.random.default_rng(0).normal(scale=0.01, size=len(frame))
    frame.to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "pipeshield.toml").write_text(
        '[datasets.train]\npath = "train.csv"\nrole = "train"\nlabel = "diagnosis"\n')
    f = _run(tmp_path / "pipeshield.toml", "data.leakage")["datasets.train.label"]
    assert f.status == "fail" and "'leak'" in f.message and f.metrics["best_feature"] == "leak"
