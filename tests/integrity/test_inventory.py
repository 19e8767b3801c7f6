"""Artifact inventory: digests match, and format lies and code-executing files are caught."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeshield.audit import run_checks
from pipeshield.core.findings import Severity, Stage, Status
from pipeshield.core.pipeline import load_pipeline


def _inventory(pipeline_file: Path) -> dict[str, object]:
    findings = run_checks(load_pipeline(pipeline_file), executor="serial", checks=["integrity.artifact-inventory"])
    assert {f.check for f in findings} == {"integrity.artifact-inventory"}
    return {f.subject: f for f in findings}


def test_every_file_is_inventoried_with_its_sha256(demo_pipeline: Path) -> None:
    inv = _inventory(demo_pipeline)
    pipeline = load_pipeline(demo_pipeline)
    assert set(inv) == {key.removesuffix(".path") for key, _, _ in pipeline.referenced_files()}
    for key, _, path in pipeline.referenced_files():
        f = inv[key.removesuffix(".path")]
        assert f.metrics["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert f.metrics["size_bytes"] == path.stat().st_size


def test_planted_pickles_are_caught(demo_pipeline: Path) -> None:
    inv = _inventory(demo_pipeline)
    disguised = inv["artifacts.forest_v2"]
    assert disguised.status is Status.FAIL and disguised.severity is Severity.CRITICAL
    assert disguised.metrics["declared_format"] == "safetensors"
    assert disguised.metrics["detected_format"] == "pickle"
    legacy = inv["artifacts.legacy_forest"]
    assert legacy.status is Status.FAIL and legacy.severity is Severity.HIGH
    assert legacy.metrics["can_execute_code"] is True
    for clean in ("models.digits_cnn", "models.tabular_forest", "datasets.digits_train", "keys.trusted[0]"):
        assert inv[clean].status is Status.PASS, inv[clean].message


def test_model_swapped_for_a_pickle_is_critical(demo_copy: Path) -> None:
    root = demo_copy.parent
    (root / "models/digits_cnn.safetensors").write_bytes((root / "models/legacy_forest.pkl").read_bytes())
    inv = _inventory_only(demo_copy)
    f = inv["models.digits_cnn"]
    assert f.status is Status.FAIL and f.severity is Severity.CRITICAL
    assert f.stage is Stage.TRAINING


def _inventory_only(pipeline_file: Path) -> dict[str, object]:
    from pipeshield.core.checks import CheckContext, check_settings
    from pipeshield.integrity.inventory import ArtifactInventory

    pipeline = load_pipeline(pipeline_file)
    check = ArtifactInventory()
    ctx = CheckContext(pipeline, check_settings(check, pipeline))
    return {s: next(iter(check.run(ctx, s))) for s in check.subjects(pipeline)}
