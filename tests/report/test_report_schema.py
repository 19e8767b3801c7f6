"""report.json matches report.schema.json exactly, and reads back into the same Report."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pipeshield.report.json_format import render_json
from pipeshield.report.model import Report


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(
        (resources.files("pipeshield.report") / "report.schema.json").read_text("utf-8")
    )
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _json(report: Report) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(render_json(report))
    return raw


def _errors(validator: Draft202012Validator, doc: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


@pytest.mark.parametrize("name", ["report", "clean_report", "many_problems"])
def test_report_json_validates(
    name: str, validator: Draft202012Validator, request: pytest.FixtureRequest
) -> None:
    assert _errors(validator, _json(request.getfixturevalue(name))) == []


def test_round_trips_through_from_dict(report: Report) -> None:
    raw = _json(report)
    again = Report.from_dict(json.loads(json.dumps(raw)))
    assert again.to_dict() == raw
    assert again.findings == report.findings


def test_schema_describes_every_field_to_dict_writes(
    report: Report, validator: Draft202012Validator
) -> None:
    """A field added to to_dict() without a schema entry fails here, not in a user's pipeline."""
    schema = validator.schema
    defs = schema["$defs"]
    raw = _json(report)
    assert set(raw) == set(schema["properties"]) == set(schema["required"])
    assert set(raw["summary"]) == set(defs["summary"]["properties"])
    for finding in raw["findings"]:
        assert (
            set(finding) == set(defs["finding"]["properties"]) == set(defs["finding"]["required"])
        )
        for evidence in finding["evidence"]:
            assert set(evidence) <= set(defs["evidence"]["properties"])
    assert set(raw["pipeline"]) <= set(schema["properties"]["pipeline"]["properties"])
    assert set(raw["options"]) <= set(schema["properties"]["options"]["properties"])


def _broken(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(raw)
    *parents, last = path.split("/")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("findings", KeyError),
        ("summary", KeyError),
        ("schema_version", "2.0"),
        ("findings/0/severity", "urgent"),
        ("findings/0/stage", "shipping"),
        ("findings/0/status", "ok"),
        ("findings/0/metrics", {"auc": [0.5]}),
        ("findings/0/evidence/0/kind", "video"),
        ("findings/0/evidence/0/sha256", "not-a-digest"),
        ("findings/0/references", {"atlas": [{"id": "AML.T0020"}]}),
        ("summary/gate/passed", "no"),
        ("duration_s", -1),
        ("started_at", "yesterday"),
    ],
)
def test_schema_rejects_broken_reports(
    path: str, value: Any, report: Report, validator: Draft202012Validator
) -> None:
    assert _errors(validator, _broken(_json(report), path, value))


def test_schema_enforces_severity_rules(report: Report, validator: Draft202012Validator) -> None:
    raw = _json(report)
    passing = next(i for i, f in enumerate(raw["findings"]) if f["status"] == "pass")
    failing = next(i for i, f in enumerate(raw["findings"]) if f["status"] == "fail")
    assert _errors(validator, _broken(raw, f"findings/{passing}/severity", "high"))
    assert _errors(validator, _broken(raw, f"findings/{failing}/severity", "info"))


def test_unknown_fields_are_allowed_for_forward_compatibility(
    report: Report, validator: Draft202012Validator
) -> None:
    raw = _json(report)
    raw["added_in_1_1"] = {"anything": True}
    raw["findings"][0]["added_in_1_1"] = 1
    assert _errors(validator, raw) == []
