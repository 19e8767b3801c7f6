"""``pipeshield deps``: a planted vulnerable requirements file, output formats and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import run_cli

PLANTED = "torch==2.5.1\nonnx==1.15.0\nnumpy==2.4.6\n"


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    req = tmp_path / "requirements.txt"
    req.write_text(PLANTED)
    return req


def test_planted_file_fails_and_json_names_the_advisories(capsys: pytest.CaptureFixture[str], planted: Path,
                                                          osv_dir: Path) -> None:
    code, out, _ = run_cli(capsys, "deps", "-r", str(planted), "--osv-db", str(osv_dir), "--format", "json")
    assert code == 1
    doc = json.loads(out)
    vulns = {v["package"]: v for v in doc["vulnerabilities"]}
    assert set(vulns) == {"torch", "onnx"}  # numpy 2.4.6 is clean
    torch = vulns["torch"]
    assert "CVE-2025-32434" in [torch["id"], *torch["aliases"]]
    assert torch["severity"] in ("critical", "high") and torch["fixed_versions"] == ["2.6.0"]
    assert torch["tags"] == ["ml-framework"] and torch["location"].endswith("requirements.txt:1")
    onnx = vulns["onnx"]
    assert onnx["id"] == "CVE-2024-27318" and onnx["fixed_versions"] == ["1.16.0"]
    assert onnx["advisory_severity"] == "medium" and onnx["severity"] == "high"  # the ML-framework floor
    assert doc["summary"] == {"dependencies": 3, "vulnerabilities": 2, "issues": 0, "unaudited": 0,
                              "worst_severity": "critical", "fail_on": "high", "passed": False}


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wide terminal, so table cells are not wrapped in the middle of an advisory id."""
    from pipeshield.cli.render import console

    monkeypatch.setattr(console, "width", 240)


def test_patched_file_passes(capsys: pytest.CaptureFixture[str], tmp_path: Path, osv_dir: Path, wide: None) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("torch==2.6.0\nonnx==1.16.0\nnumpy==2.4.6\n")
    code, _, err = run_cli(capsys, "deps", "-r", str(req), "--osv-db", str(osv_dir))
    assert code == 0 and "0 known vulnerabilities" in err and "nothing at or above high" in err


def test_fail_on_threshold(capsys: pytest.CaptureFixture[str], tmp_path: Path, osv_dir: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("torch==2.6.0\nnumpy>=2\n")  # only a medium hygiene issue
    assert run_cli(capsys, "deps", "-r", str(req), "--osv-db", str(osv_dir))[0] == 0
    assert run_cli(capsys, "deps", "-r", str(req), "--osv-db", str(osv_dir), "--fail-on", "medium")[0] == 1
    assert run_cli(capsys, "deps", "-r", str(req), "--osv-db", str(osv_dir), "--fail-on", "bogus")[0] == 2


def test_ignore_vuln_by_alias(capsys: pytest.CaptureFixture[str], planted: Path, osv_dir: Path) -> None:
    code, out, _ = run_cli(capsys, "deps", "-r", str(planted), "--osv-db", str(osv_dir), "-f", "json",
                           "--ignore-vuln", "CVE-2025-32434", "--ignore-vuln", "CVE-2024-27318")
    assert code == 0 and json.loads(out)["vulnerabilities"] == []


def test_text_output(capsys: pytest.CaptureFixture[str], planted: Path, osv_dir: Path, wide: None) -> None:
    code, out, err = run_cli(capsys, "deps", "-r", str(planted), "--osv-db", str(osv_dir))
    assert code == 1 and out == ""
    assert "GHSA-53q9-r3pm-6pq6" in err and "CVE-2025-32434" in err and "2.6.0" in err and "ML framework" in err


def test_sarif_output(capsys: pytest.CaptureFixture[str], tmp_path: Path, osv_dir: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("torch==2.5.1\ntorchh==1.0\n")
    code, out, _ = run_cli(capsys, "deps", "-r", str(req), "--osv-db", str(osv_dir), "--format", "sarif")
    assert code == 1
    run = json.loads(out)["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert {"GHSA-53q9-r3pm-6pq6", "PS-DEP-TYPOSQUAT"} <= set(rules)
    assert "external/cve/CVE-2025-32434" in rules["GHSA-53q9-r3pm-6pq6"]["properties"]["tags"]
    first = run["results"][0]
    assert first["ruleId"] == "GHSA-53q9-r3pm-6pq6" and first["level"] == "error"
    assert first["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    assert all(r["ruleIndex"] == list(rules).index(r["ruleId"]) for r in run["results"])


def test_without_a_service_says_so(capsys: pytest.CaptureFixture[str], planted: Path) -> None:
    code, out, _ = run_cli(capsys, "deps", "-r", str(planted), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["service"] is None and "--osv-db" in doc["skipped"]


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path, osv_dir: Path) -> None:
    for argv in (("deps", "-r", str(tmp_path / "missing.txt")),
                 ("deps", "--osv-db", str(tmp_path / "no-db")),
                 ("deps", "--osv-db", str(osv_dir), "--online")):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and err.startswith("error: ") and "Traceback" not in err
        assert len(err.strip().splitlines()) <= 2  # the cause, and at most a hint
    corrupt = tmp_path / "db"
    corrupt.mkdir()
    (corrupt / "x.json").write_text("{")
    req = tmp_path / "requirements.txt"
    req.write_text("torch==2.5.1\n")
    code, _, err = run_cli(capsys, "deps", "-r", str(req), "--osv-db", str(corrupt))
    assert code == 2 and "x.json: not valid JSON" in err


def test_environment_audit(capsys: pytest.CaptureFixture[str], osv_dir: Path) -> None:
    code, out, _ = run_cli(capsys, "deps", "--env", "--osv-db", str(osv_dir), "--format", "json")
    doc = json.loads(out)
    names = {d["name"].lower() for d in doc["dependencies"]}
    assert {"numpy", "torch", "pipeshield"} <= names
    assert all(d["location"] == "environment" and d["pinned"] for d in doc["dependencies"])
    assert code == (1 if doc["vulnerabilities"] else 0)
