"""The ``attacks.extraction`` audit check and ``pipeshield attack extraction`` on the demo pipeline,
and what output controls buy against a victim whose behaviour we know (a logistic regression)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from pipeshield.core.findings import Finding, Status
from pipeshield.report.svg import render_plot


@pytest.fixture(scope="module")
def findings(demo_pipeline: Path) -> dict[str, Finding]:
    from pipeshield.core.checks import CheckContext, check_settings, get_check
    from pipeshield.core.pipeline import load_pipeline

    pipeline = load_pipeline(demo_pipeline)
    check = get_check("attacks.extraction")
    ctx = CheckContext(pipeline, check_settings(check, pipeline))
    out = {}
    for subject in check.subjects(pipeline):
        assert check.skip_reason(pipeline, subject) is None
        out.update({f.id: f for f in check.run(ctx, subject)})
    return out


@pytest.mark.parametrize("model", ["digits_cnn", "tabular_forest"])
def test_demo_models_are_cloned_from_500_queries(findings: dict[str, Finding], model: str) -> None:
    f = findings[f"attacks.extraction/{model}"]
    m = f.metrics
    # neither model is linear: knockoff only at the quick budget, on the training inputs as the pool
    assert m["method"] == "knockoff" and "fidelity_equation_solving" not in m and m["budget"] == 500
    assert f.status is Status.FAIL and f.severity == "high" and f.threat == "model_theft"
    assert m["fidelity"] > 0.9 > m["baseline_fidelity"]  # type: ignore[operator]
    assert m["queries"] <= 500 and "queries an attacker builds a copy" in f.message
    # adversarials crafted on the copy transfer far better than noise of the same size
    assert m["transfer_rate"] > m["transfer_baseline_rate"] + 0.1  # type: ignore[operator]
    for control in ("round-2", "top-1", "label-only"):
        assert 0.0 <= m[f"fidelity_control_{control}"] <= 1.0  # type: ignore[operator]
    plot, table = f.evidence
    assert plot.data is not None and plot.data["x_scale"] == "log" and plot.data["series"][0]["name"] == "knockoff"
    assert render_plot(plot.data).startswith("<svg")
    assert table.data is not None and len(table.data["rows"]) == 4
    assert "pool" in f.caveat and "not protection" in f.caveat


def test_label_only_buys_what_equation_solving_needs(digits: dict[str, np.ndarray], logistic: LogisticRegression) -> None:
    """Planted: a logistic victim is solved exactly from its probabilities; behind label-only
    output equation solving cannot run and the learned copy is worse at the same budget."""
    from pipeshield.attacks.extraction.assess import assess_extraction

    a = assess_extraction(logistic, pool=digits["pool"], x_eval=digits["x_test"], y_eval=digits["y_test"],
                          budget=300, methods=["equation_solving", "knockoff"],
                          bounds=(np.zeros(64), np.ones(64)), transfer_eps=None)
    assert a.fidelity == 1.0 and a.best_method == "equation_solving"
    label_only = next(c for c in a.controls if c.policy.label_only)
    assert "equation_solving" in label_only.skipped and label_only.best < a.fidelity
    assert label_only.best <= a.results["knockoff"].final_fidelity + 0.02
    top1 = next(c for c in a.controls if c.policy.name == "top-1")
    assert top1.fidelity["equation_solving"] < 0.5  # one score per answer: no equations to solve
    d = json.loads(json.dumps(a.to_dict()))
    assert d["controls"][2]["policy"]["name"] == "label-only" and d["transfer_note"].startswith("not measured")


def test_is_linear_reads_the_estimator_type(logistic: LogisticRegression) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from pipeshield.attacks.extraction.check import is_linear
    from pipeshield.core.targets.sklearn import SklearnTarget

    assert is_linear(SklearnTarget("lr", logistic)) is True
    assert is_linear(SklearnTarget("p", make_pipeline(StandardScaler(), LogisticRegression()))) is True
    assert is_linear(SklearnTarget("rf", RandomForestClassifier())) is False
    assert is_linear(object()) is None  # an endpoint: unknown, so equation solving is tried


def test_cli_json_and_exit_codes(demo_copy: Path, cli: Any) -> None:
    code, out, err = cli(["attack", "extraction", str(demo_copy), "--model", "tabular_forest",
                          "--budget", "200", "--no-controls", "--labels-only", "--format", "json"])
    assert code == 1, err
    report = json.loads(out)
    assert report["model"] == "tabular_forest" and report["labels_only"] is True and report["passed"] is False
    assert report["budget"] == 200 and report["methods"]["knockoff"]["queries"] <= 200
    assert report["controls"] == [] and report["fidelity"] > report["max_fidelity"]
    # a maximum nobody can beat: exit 0
    demo_copy.write_text(demo_copy.read_text() + '\n[policy.checks."attacks.extraction"]\nmax_fidelity = 1.0\n')
    code, _, err = cli(["attack", "extraction", str(demo_copy), "--model", "tabular_forest", "--budget", "100",
                        "--no-controls"])
    assert code == 0 and "agrees on" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "nope"], "no model named 'nope'"),
    (["--endpoint"], "no [endpoint] section"),
    ([], "exactly one of --model NAME and --endpoint"),
    (["--model", "digits_cnn", "--budget", "lots"], "--budget: expected a positive number"),
])
def test_cli_usage_errors_are_one_line(demo_pipeline: Path, cli: Any, args: list[str], message: str) -> None:
    code, out, err = cli(["attack", "extraction", str(demo_pipeline), *args])
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # the error, and at most a hint
