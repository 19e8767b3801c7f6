"""The ``supplychain.dependencies`` audit check on the demo pipeline, with a planted requirements file."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeshield.core.checks import CheckContext, all_checks, check_settings, validate_policy
from pipeshield.core.findings import Severity, Stage, Status, Threat
from pipeshield.core.pipeline import load_pipeline


def _demo(pipeline_file: Path, policy: str) -> Path:
    """The demo (built once per session by ``build_demo`` into a tmp dir, copied per test) + a policy."""
    with pipeline_file.open("a") as fh:
        fh.write(policy)
    return pipeline_file


def _run(pipeline_file: Path) -> list:  # type: ignore[type-arg]
    pipeline = load_pipeline(pipeline_file)
    validate_policy(pipeline)
    check = all_checks()["supplychain.dependencies"]()
    assert check.stage is Stage.TRAINING and check.threat is Threat.SUPPLY_CHAIN and check.cost == "cheap"
    ctx = CheckContext(pipeline=pipeline, settings=check_settings(check, pipeline))
    return [f for s in check.subjects(pipeline) for f in check.run(ctx, s)]


def test_check_on_demo_with_planted_requirements(demo_copy: Path, tmp_path: Path, osv_dir: Path) -> None:
    db = tmp_path / "osv"
    shutil.copytree(osv_dir, db)
    pipeline_file = _demo(demo_copy, f'''
[policy.checks."supplychain.dependencies"]
requirements = ["requirements.txt"]
osv_db = "{db}"
environment = false
''')
    (pipeline_file.parent / "requirements.txt").write_text(
        "torch==2.5.1\nonnx==1.15.0\nnumpy==2.4.6\nreqeusts==2.31.0\nscikit-learn>=1.4\n")
    findings = _run(pipeline_file)
    fails = {f.subject: f for f in findings if f.status is Status.FAIL}
    assert set(fails) == {"requirements.txt:1:torch", "requirements.txt:2:onnx"}
    torch = fails["requirements.txt:1:torch"]
    assert torch.severity is Severity.CRITICAL and "CVE-2025-32434" in torch.message and "2.6.0" in torch.message
    assert torch.locations == ("requirements.txt:1",) and torch.metrics["ml_framework"] is True
    assert fails["requirements.txt:2:onnx"].severity is Severity.HIGH
    warns = {(f.metrics["kind"], f.metrics["package"]) for f in findings if f.status is Status.WARN}
    assert warns == {("typosquat", "reqeusts"), ("unpinned", "scikit-learn")}
    assert len({f.id for f in findings}) == len(findings)


def test_check_without_vulnerability_data_is_skipped_not_passed(demo_copy: Path) -> None:
    pipeline_file = _demo(demo_copy, "")
    findings = _run(pipeline_file)
    skipped = [f for f in findings if f.status is Status.SKIPPED]
    assert len(skipped) == 1 and "osv_db" in skipped[0].message
    assert not [f for f in findings if f.status is Status.PASS]


def test_clean_environment_passes_with_caveat(demo_copy: Path, osv_dir: Path) -> None:
    pipeline_file = _demo(demo_copy, f'''
[policy.checks."supplychain.dependencies"]
osv_db = "{osv_dir}"
''')
    findings = _run(pipeline_file)
    vulnerable = [f for f in findings if f.status is Status.FAIL]
    passed = [f for f in findings if f.status is Status.PASS]
    assert vulnerable or (len(passed) == 1 and "no known vulnerabilities" in passed[0].message
                          and "advisory data" in passed[0].caveat)


def test_unknown_setting_is_a_config_error(demo_copy: Path) -> None:
    import pytest

    from pipeshield.errors import ConfigError

    pipeline_file = _demo(demo_copy, '\n[policy.checks."supplychain.dependencies"]\nosv = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        _run(pipeline_file)
