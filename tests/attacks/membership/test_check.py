"""The ``attacks.membership`` check and ``pipeshield attack membership`` on the demo pipeline,
whose tabular forest memorises its training rows (planted: members = every row of tabular_train,
non-members = tabular_test less the rows duplicated into the training set)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeshield.attacks.membership.check import (
    MembershipCheck,
    MembershipReport,
    MembershipSettings,
    assess_model,
    findings_for,
    load_members,
    skip_reason,
)
from pipeshield.core.checks import CheckContext, check_settings, get_check
from pipeshield.core.findings import Finding, Severity, Status, Threat
from pipeshield.core.pipeline import load_pipeline


@pytest.fixture(scope="module")
def report(demo_pipeline: Path) -> MembershipReport:
    pipeline = load_pipeline(demo_pipeline)
    settings = check_settings(MembershipCheck(), pipeline)
    assert isinstance(settings, MembershipSettings) and settings.n_reference == 4 and settings.controls
    return assess_model(CheckContext(pipeline, settings), "tabular_forest", settings)


@pytest.fixture(scope="module")
def finding(report: MembershipReport) -> Finding:
    return findings_for(MembershipCheck(), "tabular_forest", report, MembershipSettings(), "models/tabular_forest.skops")


def test_registered_lazily_as_an_inference_check() -> None:
    check = get_check("attacks.membership")
    assert isinstance(check, MembershipCheck)
    assert check.threat is Threat.MEMBERSHIP_INFERENCE and check.stage.value == "inference"


def test_members_and_nonmembers_are_the_planted_ones(demo_pipeline: Path) -> None:
    pipeline = load_pipeline(demo_pipeline)
    planted = json.loads((demo_pipeline.parent / "planted.json").read_text())
    ctx = CheckContext(pipeline, MembershipSettings())
    data = load_members(ctx, "tabular_forest", MembershipSettings())
    n_train, n_test = len(ctx.dataset("tabular_train")), len(ctx.dataset("tabular_test"))
    assert n_train == planted["membership"]["n_members"]
    np.testing.assert_array_equal(data.member_rows, np.arange(n_train))
    duplicated = planted["train_test_overlap"]["test_indices"]
    np.testing.assert_array_equal(data.excluded_duplicates, duplicated)
    np.testing.assert_array_equal(data.nonmember_rows, np.setdiff1d(np.arange(n_test), duplicated))
    # a seeded sample when the data is larger than the cap
    small = load_members(ctx, "tabular_forest", MembershipSettings(max_members=50, max_nonmembers=20))
    assert len(small.member_rows) == 50 and len(small.nonmember_rows) == 20
    assert not set(small.nonmember_rows) & set(duplicated)


def test_overfit_forest_membership_is_caught(finding: Finding, report: MembershipReport) -> None:
    assert finding.status is Status.FAIL and finding.severity is Severity.HIGH
    assert finding.metrics["best_auc"] > 0.7 and finding.metrics["best_tpr_at_1pct_fpr"] > 0.1
    assert finding.metrics["n_reference"] == 4 and finding.metrics["excluded_duplicates"] == 15
    assert finding.metrics["train_accuracy"] == 1.0
    for name in ("loss", "lira", "rmia"):
        for key in ("auc", "tpr_at_1pct_fpr", "tpr_at_0_1pct_fpr", "advantage", "epsilon_lower_bound"):
            assert isinstance(finding.metrics[f"{key}_{name}"], float)
    # the reference attacks beat the loss baseline
    assert report.full.attacks["lira"].auc > report.full.attacks["loss"].auc
    assert "tells training members from non-members with AUC 0." in finding.message
    assert "at 1% false positives it finds" in finding.message
    assert "4 reference models" in finding.caveat and "179 non-members" in finding.caveat
    assert "less 15 that also appear" in finding.caveat and "thousands of non-members" in finding.caveat


def test_evidence_log_roc_exposed_records_and_controls(finding: Finding, report: MembershipReport) -> None:
    plot, exposed, controls = finding.evidence
    assert plot.kind == "plot" and plot.data is not None and plot.data["x_scale"] == "log"
    names = [s["name"] for s in plot.data["series"]]
    assert names[-1] == "chance" and any(n.startswith("lira ") for n in names)
    assert plot.data["series"][-1]["values"] == plot.data["x"] and min(plot.data["x"]) > 0
    assert exposed.kind == "table" and exposed.data is not None and len(exposed.data["rows"]) == 10
    rows = [r[0] for r in exposed.data["rows"]]
    assert all(0 <= r < 304 for r in rows)  # rows of tabular_train
    assert controls.data is not None
    assert [r[0] for r in controls.data["rows"]] == ["full", "round-2", "top-1", "label-only"]


def test_controls_label_only_lowers_auc(finding: Finding, report: MembershipReport) -> None:
    full = finding.metrics["best_auc"]
    label_only = finding.metrics["control_label-only_best_auc"]
    assert isinstance(full, float) and isinstance(label_only, float)
    assert label_only < full - 0.1
    assert f"label-only output cuts membership AUC from {full:.2f} to {label_only:.2f}" in finding.message
    # label-only scores carry nothing beyond correctness for the baselines
    lo = report.result.controlled["label-only"].attacks
    assert lo["confidence"].auc == 0.5
    assert lo["loss"].auc == pytest.approx(lo["correctness"].auc)


def test_controls_can_be_turned_off_and_full_equals_evaluate(demo_pipeline: Path, report: MembershipReport) -> None:
    from pipeshield.attacks.membership import evaluate
    from pipeshield.demo.models import train_tabular_forest

    pipeline = load_pipeline(demo_pipeline)
    s = MembershipSettings(controls=False)
    ctx = CheckContext(pipeline, s)
    off = assess_model(ctx, "tabular_forest", s)
    assert off.result.controlled == {}
    d = off.data
    direct = evaluate(ctx.target("tabular_forest"), d.x_members, d.y_members, d.x_nonmembers, d.y_nonmembers,
                      n_reference=4, train_fn=train_tabular_forest, seed=0)
    for name, a in direct.attacks.items():
        np.testing.assert_allclose(off.full.attacks[name].scores, a.scores)
        np.testing.assert_allclose(report.full.attacks[name].scores, a.scores)
    f = findings_for(MembershipCheck(), "tabular_forest", off, s, "x")
    assert len(f.evidence) == 2 and "Controls" not in f.message


def test_skip_reasons(demo_copy: Path) -> None:
    text = demo_copy.read_text()
    text = text.replace('training = "pipeshield.demo.models:train_digits_cnn"    # fn(x, y, *, seed) -> model\n', "")
    text = text.replace('train_data = "tabular_train"\n', "", 1)
    demo_copy.write_text(text)
    pipeline = load_pipeline(demo_copy)
    assert "without `training`" in (skip_reason(pipeline, "digits_cnn") or "")
    assert "has no train_data" in (skip_reason(pipeline, "tabular_forest") or "")


def _policy(demo_copy: Path, body: str) -> Path:
    demo_copy.write_text(demo_copy.read_text().replace('models = ["tabular_forest"]', body, 1))
    return demo_copy


def test_cli_exit_1_json(demo_pipeline: Path, cli: Any) -> None:
    code, out, err = cli(["attack", "membership", str(demo_pipeline), "--model", "tabular_forest",
                          "--format", "json", "--references", "2", "--no-controls"])
    assert code == 1, err
    doc = json.loads(out)
    assert doc["passed"] is False and doc["best_auc"] > 0.6 and doc["full"]["n_reference"] == 2
    assert doc["controls"] == {} and doc["excluded_duplicates"] == [3, 8, 64, 76, 78, 81, 86, 96, 112, 113, 144, 158, 172, 177, 184]
    assert set(doc["full"]["attacks"]) >= {"loss", "lira", "rmia"}
    assert "scores" not in doc["full"]["attacks"]["lira"]


def test_cli_exit_0_text_within_a_lenient_policy(demo_copy: Path, cli: Any) -> None:
    _policy(demo_copy, "max_auc = 1.0\nmax_tpr_at_1pct_fpr = 1.0")
    code, out, err = cli(["attack", "membership", str(demo_copy), "--model", "tabular_forest", "--references", "2"])
    assert code == 0, err
    text = out + err
    assert "within policy" in text and "label-only output" in text and "lira" in text


@pytest.mark.parametrize(
    ("args", "edit", "expected"),
    [
        (["--model", "nope"], None, "no model named 'nope'"),
        (["--model", "tabular_forest"], ('train_data = "tabular_train"\n', ""), "has no train_data"),
        (["--model", "tabular_forest"], ('models = ["tabular_forest"]', "max_auc = 2"),
         'policy.checks."attacks.membership".max_auc'),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(
    demo_copy: Path, cli: Any, args: list[str], edit: tuple[str, str] | None, expected: str
) -> None:
    if edit is not None:
        demo_copy.write_text(demo_copy.read_text().replace(*edit, 1))
    code, out, err = cli(["attack", "membership", str(demo_copy), *args])
    assert code == 2 and out == ""
    assert expected in err and "Traceback" not in err
    assert len([ln for ln in err.splitlines() if ln.strip() and not ln.strip().startswith("hint:")]) == 1


def test_policy_models_selects_what_the_audit_measures(demo_pipeline: Path) -> None:
    pipeline = load_pipeline(demo_pipeline)  # the demo measures the forest only (CNNs are slow)
    check = MembershipCheck()
    assert check.skip_reason(pipeline, "tabular_forest") is None
    assert 'policy.checks."attacks.membership".models' in (check.skip_reason(pipeline, "digits_cnn") or "")
    assert skip_reason(pipeline, "digits_cnn") is None  # the CLI measures any model it is asked to


def test_a_missing_recipe_is_a_config_error_naming_training(demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: every ValueError became a DatasetError, the "pass train_fn" one included.
    from pipeshield.errors import ConfigError

    demo_copy.write_text(demo_copy.read_text() + """
[models.no_recipe]
path = "models/tabular_forest.skops"
trusted_types = ["sklearn.tree._tree.Tree"]
train_data = "tabular_train"
test_data = "tabular_test"
""")
    pipeline = load_pipeline(demo_copy)
    settings = MembershipSettings(references=2, controls=False)
    ctx = CheckContext(pipeline, settings)
    real = ctx.target("no_recipe")

    class BlackBox:  # what the target turns out to be: no estimator to clone
        classes = real.classes

        def predict_proba(self, x: Any) -> Any:
            return real.predict_proba(x)

    monkeypatch.setattr(ctx, "target", lambda name: BlackBox())
    with pytest.raises(ConfigError, match=r"models\.no_recipe\.training: a black-box BlackBox cannot be cloned"):
        assess_model(ctx, "no_recipe", settings)


def test_worker_detection_is_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeshield.attacks.membership.check import _executor
    from pipeshield.core.executor import nested_executor

    monkeypatch.setenv("PIPESHIELD_WORKER", "1")
    assert nested_executor() == "serial" == _executor(MembershipSettings())
    monkeypatch.setenv("PIPESHIELD_WORKER", "0")  # set but not "1": not a worker, in both checks
    assert nested_executor() is None and _executor(MembershipSettings()) is None
    assert _executor(MembershipSettings(executor="local")) == "local"
