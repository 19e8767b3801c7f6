"""The audit's signature check on the demo: the planted unsigned dataset, and planted tampering."""

from __future__ import annotations

from pathlib import Path

from pipeshield.audit import run_checks
from pipeshield.core.findings import Severity, Stage, Status
from pipeshield.core.pipeline import load_pipeline


def signature_findings(pipeline_file: Path) -> dict[str, object]:
    findings = run_checks(load_pipeline(pipeline_file), stages=[Stage.COLLECTION, Stage.TRAINING], executor="serial")
    return {f.subject: f for f in findings if f.check == "integrity.signatures"}


def test_demo_only_incoming_is_unsigned(demo_pipeline: Path) -> None:
    found = signature_findings(demo_pipeline)
    assert set(found) == {
        "datasets.digits_train", "datasets.digits_test", "datasets.tabular_train",
        "datasets.tabular_test", "datasets.incoming", "models.digits_cnn", "models.tabular_forest",
    }
    incoming = found.pop("datasets.incoming")
    assert incoming.status is Status.FAIL and incoming.severity is Severity.HIGH
    assert "data/incoming.csv is not signed" in incoming.message
    assert all(f.status is Status.PASS for f in found.values()), [f.message for f in found.values()]


def test_tampered_dataset_is_critical_and_named(demo_copy: Path) -> None:
    import pandas as pd

    csv = demo_copy.parent / "data/tabular_train.csv"
    frame = pd.read_csv(csv)
    frame.loc[5, "diagnosis"] = 1 - frame.loc[5, "diagnosis"]  # one flipped label: poisoning in miniature
    frame.to_csv(csv, index=False)
    found = signature_findings(demo_copy)
    f = found["datasets.tabular_train"]
    assert f.status is Status.FAIL and f.severity is Severity.CRITICAL
    assert f.message == f"{csv}: changed since it was signed"


def test_no_trusted_keys_skips_with_reason(demo_copy: Path) -> None:
    demo_copy.write_text(demo_copy.read_text().replace('trusted = ["keys/demo-signing.pub"]', "trusted = []"))
    found = signature_findings(demo_copy)
    assert found and all(f.status is Status.SKIPPED and "no trusted keys" in f.message for f in found.values())


def test_policy_can_require_artifacts(demo_copy: Path) -> None:
    demo_copy.write_text(demo_copy.read_text() + '\n[policy.checks."integrity.signatures"]\nrequire = ["artifacts"]\nunsigned_severity = "medium"\n')
    found = signature_findings(demo_copy)
    assert set(found) == {"artifacts.legacy_forest", "artifacts.forest_v2"}
    assert all(f.severity is Severity.MEDIUM for f in found.values())


def test_provenance_check_on_the_demo(demo_copy: Path) -> None:
    from pipeshield.audit import run_checks

    def provenance(pipeline_file: Path) -> dict[str, object]:
        findings = run_checks(load_pipeline(pipeline_file), stages=[Stage.TRAINING], executor="serial")
        return {f.subject: f for f in findings if f.check == "integrity.provenance"}

    found = provenance(demo_copy)
    assert found["digits_cnn"].status is Status.PASS
    assert found["tabular_forest"].status is Status.WARN and found["tabular_forest"].severity is Severity.MEDIUM
    import numpy as np

    train = demo_copy.parent / "data/digits_train.npz"
    with np.load(train) as npz:
        x, y = npz["x"], npz["label"].copy()
    y[0] = (y[0] + 1) % 10  # poison one label after the training run
    np.savez_compressed(train, x=x, label=y)
    broken = provenance(demo_copy)["digits_cnn"]
    assert broken.status is Status.FAIL and broken.severity is Severity.CRITICAL
    assert "changed since the training run" in broken.message
