"""Reports built by hand for the format tests.

``report`` covers every status, every severity and every evidence kind, and plants hostile
strings (markup, Markdown table pipes, quotes, newlines, non-ASCII) in every field a user's data
can reach: pipeline name, subjects, messages, labels, plot labels, metric keys, paths.
"""

from __future__ import annotations

import pytest

from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.frameworks import framework_sources, references_for
from pipeshield.report.model import Report

XSS = "<script>alert(1)</script>"
HOSTILE = f"{XSS} | \"quoted\" 'single' & <b>bold</b> Ünïcødé ✓ 数据 `tick` *star* [x](javascript:alert(1))"


def _finding(**kw: object) -> Finding:
    threat = Threat(kw.pop("threat"))  # type: ignore[arg-type]
    base: dict[str, object] = {"threat": threat, "references": references_for(threat)}
    base.update(kw)
    return Finding(**base)  # type: ignore[arg-type]


def hostile_findings() -> list[Finding]:
    labels = ["cat", "dog", XSS, "a|b", "ünï"]
    return [
        _finding(
            check="data.poisoning-detect",
            title=f"Poisoned samples {XSS}",
            stage=Stage.COLLECTION,
            threat=Threat.DATA_POISONING,
            status=Status.FAIL,
            severity=Severity.CRITICAL,
            subject=f"train {XSS}",
            message=f"detector found 37 planted samples | recall 0.41\nsecond line {HOSTILE}",
            metrics={
                "recall": 0.4111,
                "precision": 0.9,
                "n_poison": 37,
                "flagged": True,
                f"odd {XSS}": None,
            },
            settings={"fraction": 0.05, "trigger": {"size": 3, "label": XSS}, "classes": [1, 2]},
            evidence=(
                Evidence(
                    "file", f"dataset {XSS}", path=f"data/train set {XSS}.csv", sha256="a" * 64
                ),
                Evidence("text", "detector log", text=f"line 1\n</pre>{XSS}\nline 3"),
                Evidence(
                    "table",
                    "Top flagged rows",
                    data={
                        "columns": ["row", "score", XSS],
                        "rows": [[1, 0.99, XSS], [7, 0.5, "a|b"]],
                    },
                ),
                Evidence(
                    "plot",
                    f"Confusion matrix {XSS}",
                    data={
                        "type": "heatmap",
                        "x": labels,
                        "y": labels,
                        "values": [
                            [50, 2, 0, 1, 0],
                            [3, 40, 1, 0, 2],
                            [0, 1, 33, 0, 0],
                            [1, 0, 0, 45, 4],
                            [0, 2, 0, 3, 38],
                        ],
                    },
                ),
                Evidence(
                    "plot",
                    "Recall per class",
                    data={
                        "type": "bar",
                        "x": labels,
                        "values": [0.9, 0.8, 0.3, 1.0, 0.55],
                        "max": 1.0,
                    },
                ),
                Evidence(
                    "plot",
                    "A plot type nobody draws",
                    data={"type": "radar", "x": [XSS], "values": [1]},
                ),
            ),
            locations=(f"data/train set {XSS}.csv",),
            remediation=f"Sign data sources and run the detector before training. {HOSTILE}",
            caveat=f"Only label-flip poisoning was planted. {XSS}",
        ),
        _finding(
            check="supplychain.model-file",
            title="Unsafe model file",
            stage=Stage.TRAINING,
            threat=Threat.SUPPLY_CHAIN,
            status=Status.FAIL,
            severity=Severity.HIGH,
            subject="models/model.pkl",
            message="pickle imports os.system",
            metrics={"opcodes": 412},
            evidence=(
                Evidence(
                    "file",
                    "model",
                    path="models/model.pkl",
                    sha256="b" * 64,
                    text="GLOBAL os system",
                ),
            ),
            locations=("models/model.pkl",),
            remediation="Save the state_dict as safetensors.",
        ),
        _finding(
            check="attacks.evasion",
            title="Robust accuracy",
            stage=Stage.VALIDATION,
            threat=Threat.EVASION,
            status=Status.WARN,
            severity=Severity.MEDIUM,
            subject="digits_cnn",
            message="robust accuracy falls to 0.12 at eps 8/255",
            metrics={"clean_accuracy": 0.98, "robust_accuracy": 0.12},
            settings={"norm": "linf", "steps": 50, "seed": 0},
            evidence=(
                Evidence(
                    "plot",
                    "Accuracy vs epsilon",
                    data={
                        "type": "line",
                        "x": [0, 1 / 255, 2 / 255, 4 / 255, 8 / 255],
                        "series": [
                            {"name": "PGD", "values": [0.98, 0.8, 0.55, 0.3, 0.12]},
                            {"name": f"APGD {XSS}", "values": [0.98, 0.75, None, 0.25, 0.1]},
                        ],
                        "x_label": "epsilon",
                        "y_label": "accuracy",
                    },
                ),
            ),
            locations=(),
            remediation="Adversarial training.",
            caveat="White-box attacks only.",
        ),
        _finding(
            check="attacks.extraction",
            title="Model extraction",
            stage=Stage.DEPLOYMENT,
            threat=Threat.MODEL_THEFT,
            status=Status.ERROR,
            severity=Severity.HIGH,
            subject="endpoint",
            message="the check crashed: RuntimeError: boom",
            evidence=(
                Evidence(
                    "text",
                    "traceback",
                    text='Traceback (most recent call last):\n  File "x.py"\nRuntimeError: boom',
                ),
            ),
            remediation="This is a pipeshield bug; please report it with the traceback.",
        ),
        _finding(
            check="attacks.membership",
            title="Membership inference",
            stage=Stage.INFERENCE,
            threat=Threat.MEMBERSHIP_INFERENCE,
            status=Status.WARN,
            severity=Severity.LOW,
            subject="digits_cnn",
            message="AUC 0.56",
            metrics={"auc": 0.56, "tpr_at_0.1pct_fpr": 0.004},
            locations=("/abs/path/with space/model.pt",),
        ),
        _finding(
            check="data.drift",
            title="Feature drift",
            stage=Stage.PREPROCESSING,
            threat=Threat.FEATURE_INJECTION,
            status=Status.WARN,
            severity=Severity.INFO,
            subject="features",
            message="2 columns drift slightly",
        ),
        _finding(
            check="validation.clean-accuracy",
            title="Clean accuracy",
            stage=Stage.VALIDATION,
            threat=Threat.GOVERNANCE,
            status=Status.PASS,
            subject="digits_cnn",
            message="accuracy 0.98 >= 0.9",
            metrics={"accuracy": 0.98},
        ),
        _finding(
            check="attacks.inversion",
            title="Model inversion",
            stage=Stage.INFERENCE,
            threat=Threat.MODEL_INVERSION,
            status=Status.SKIPPED,
            subject="digits_cnn",
            message=f"skipped: the model is not white-box {XSS}",
        ),
    ]


def make_report(findings: list[Finding], **kw: object) -> Report:
    base: dict[str, object] = {
        "pipeline": {
            "name": f"demo {HOSTILE}",
            "description": f"A pipeline with planted weaknesses. {XSS}",
            "source": "/tmp/demo pipe/pipeshield.toml",
            "datasets": ["train", "test"],
            "models": ["digits_cnn"],
            "endpoint": None,
        },
        "findings": tuple(findings),
        "fail_on": Severity.HIGH,
        "tool": {"name": "pipeshield", "version": "0.1.0"},
        "started_at": "2026-11-26T10:00:00+00:00",
        "finished_at": "2026-11-26T10:02:03+00:00",
        "duration_s": 123.4567,
        "options": {
            "stages": [s.value for s in Stage],
            "executor": "local",
            "jobs": None,
            "seed": 0,
        },
        "frameworks": framework_sources(),
    }
    base.update(kw)
    return Report(**base)  # type: ignore[arg-type]


@pytest.fixture
def report() -> Report:
    return make_report(hostile_findings())


@pytest.fixture
def many_problems() -> Report:
    """45 problems: more than any capped table shows."""
    findings = [
        Finding(
            check=f"data.check-{i:02d}",
            title=f"Check {i}",
            stage=Stage.COLLECTION,
            threat=Threat.DATA_LEAKAGE,
            status=Status.FAIL,
            severity=Severity.MEDIUM,
            message=f"problem {i} | with pipe",
        )
        for i in range(45)
    ]
    return make_report(findings)


@pytest.fixture
def clean_report() -> Report:
    """Only passes and skips: the gate passes."""
    return make_report([f for f in hostile_findings() if not f.status.is_problem])
