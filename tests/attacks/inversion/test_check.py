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


def _planted_pipeline(root: Path, planted: dict[str, Any], model: Any, *, label_shift: int = 0) -> Path:
    """The planted table as a pipeline: members are ``train``, non-members ``test``; NPZ columns are
    named x0..x4, the sensitive one is ``x2``."""
    import numpy as np
    import skops.io as sio

    root.mkdir(parents=True, exist_ok=True)
    np.savez(root / "train.npz", x=planted["xm"], label=planted["ym"])
    np.savez(root / "test.npz", x=planted["xn"], label=planted["yn"] + label_shift)
    (root / "model.skops").write_bytes(sio.dumps(model))
    (root / "pipeshield.toml").write_text(f"""
[datasets.members]
path = "train.npz"
role = "train"
label = "label"

[datasets.others]
path = "test.npz"
role = "test"
label = "label"

[models.table]
path = "model.skops"
trusted_types = ["sklearn.tree._tree.Tree"]
train_data = "members"
test_data = "others"

[policy.checks."attacks.inversion"]
sensitive = ["x{planted['sensitive']}"]
max_records = 400
""")
    return root / "pipeshield.toml"


def _memoriser(planted: dict[str, Any]) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(100, bootstrap=False, max_features=0.5, random_state=0)
    return forest.fit(planted["xm"], planted["ym"])


def _ignores_sensitive(planted: dict[str, Any]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    drop = ColumnTransformer([("sensitive", "drop", [planted["sensitive"]])], remainder="passthrough")
    return make_pipeline(drop, RandomForestClassifier(100, random_state=0)).fit(planted["xm"], planted["ym"])


def test_a_model_that_uses_the_sensitive_column_fails_one_that_ignores_it_passes(
    planted: dict[str, Any], tmp_path: Path
) -> None:
    """Planted ground truth (test_attribute's table): the memorising forest gives its members'
    sensitive value away; the same forest trained without that column gives nothing away."""
    leaky = _run(_planted_pipeline(tmp_path / "leaky", planted, _memoriser(planted)))["attacks.inversion/table/x2"]
    assert leaky.status is Status.FAIL and leaky.severity == "high"
    assert leaky.metrics["advantage_members"] > 0.3  # type: ignore[operator]
    blind = _run(_planted_pipeline(tmp_path / "blind", planted, _ignores_sensitive(planted)))
    f = blind["attacks.inversion/table/x2"]
    assert f.status is Status.PASS and f.severity == "info"
    assert f.metrics["advantage_members"] <= 0.05  # type: ignore[operator]


def test_a_label_the_model_does_not_know_is_a_one_line_error(planted: dict[str, Any], tmp_path: Path) -> None:
    """Regression: a test label outside the model's classes crashed the check (a bare ValueError)."""
    from pipeshield.errors import DatasetError

    toml = _planted_pipeline(tmp_path / "p", planted, _memoriser(planted), label_shift=5)
    with pytest.raises(DatasetError) as caught:
        _run(toml)
    first = caught.value.diagnostics().splitlines()[0]
    assert 'policy.checks."attacks.inversion".sensitive' in first and "'x2'" in first
    assert "models.table" in first and "datasets.others" in first


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
