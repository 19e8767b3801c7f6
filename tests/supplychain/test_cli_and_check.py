"""The ``pipeshield scan`` command, its JSON/SARIF output, and the audit check on the demo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeshield.cli import main
from pipeshield.core.checks import CheckContext, all_checks, check_settings
from pipeshield.core.findings import Severity, Status
from pipeshield.core.pipeline import load_pipeline
from pipeshield.demo.planted import code_executing_pickle

from .builders import call


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    clean = tmp_path / "clean.npy"
    np.save(clean, np.arange(3))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(code_executing_pickle())
    odd = tmp_path / "odd.pkl"
    odd.write_bytes(call("mypackage", "Model", "x"))
    return {"clean": clean, "bad": bad, "odd": odd}


def test_exit_codes(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    assert _run(capsys, "scan", str(files["clean"]))[0] == 0
    assert _run(capsys, "scan", str(files["bad"]), str(files["clean"]))[0] == 1
    assert _run(capsys, "scan", str(files["odd"]))[0] == 0
    assert _run(capsys, "scan", "--strict", str(files["odd"]))[0] == 1
    code, _, err = _run(capsys, "scan", str(files["clean"].parent / "missing.pt"))
    assert code == 2 and err.strip().count("\n") == 0 and "missing.pt" in err


def test_json_output_shape(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    code, out, _ = _run(capsys, "scan", "--format", "json", str(files["clean"].parent))
    assert code == 1
    doc = json.loads(out)
    by_name = {Path(f["path"]).name: f for f in doc["files"]}
    assert {"path", "verdict", "findings"} <= by_name["bad.safetensors"].keys()
    assert by_name["bad.safetensors"]["verdict"] == "malicious"
    finding = by_name["bad.safetensors"]["findings"][0]
    assert finding["rule"] == "PS-PKL-EXEC-PROCESS" and finding["callable"] == "posix.system"
    assert isinstance(finding["offset"], int)
    assert by_name["clean.npy"]["verdict"] == "clean" and "not the same as safe" in by_name["clean.npy"]["note"]
    assert by_name["odd.pkl"]["verdict"] == "inconclusive"


def test_sarif_output(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    _, out, _ = _run(capsys, "scan", "--format", "sarif", str(files["bad"]))
    log = json.loads(out)
    run = log["runs"][0]
    assert log["version"] == "2.1.0"
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {"PS-PKL-EXEC-PROCESS", "PS-FMT-DISGUISED"}
    assert run["results"][0]["level"] == "error"


def test_text_output(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    _, _, err = _run(capsys, "scan", str(files["bad"]))
    assert "malicious" in err and "posix.system" in err


def test_audit_check_on_demo(demo_pipeline: Path) -> None:
    checks = all_checks()
    assert "supplychain.model-files" in checks
    check = checks["supplychain.model-files"]()
    pipeline = load_pipeline(demo_pipeline)
    subjects = check.subjects(pipeline)
    assert {"artifacts.legacy_forest", "artifacts.forest_v2", "models.digits_cnn"} <= set(subjects)
    ctx = CheckContext(pipeline=pipeline, settings=check_settings(check, pipeline))
    findings = {s: next(iter(check.run(ctx, s))) for s in subjects}
    for subject in ("artifacts.legacy_forest", "artifacts.forest_v2"):
        f = findings[subject]
        assert f.status is Status.FAIL and f.severity is Severity.CRITICAL
        assert "posix.system" in f.message and f.metrics["verdict"] == "malicious"
    ok = findings["models.digits_cnn"]
    assert ok.status is Status.PASS and "not the same as safe" in ok.caveat
    assert findings["models.tabular_forest"].status is Status.PASS
