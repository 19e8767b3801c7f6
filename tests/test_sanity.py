"""Configuration sanity rules, each triggered by a planted misconfiguration."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeshield.core.checks import CheckContext
from pipeshield.core.findings import Severity, Status
from pipeshield.core.pipeline import load_pipeline
from pipeshield.core.sanity import RULES, ConfigSanity


def sanity(pipeline_file: Path) -> dict[str, object]:
    pipeline = load_pipeline(pipeline_file)
    return {f.subject: f for f in ConfigSanity().run(CheckContext(pipeline, None), None)}


def test_demo_is_clean_and_says_what_it_checked(demo_pipeline: Path) -> None:
    found = sanity(demo_pipeline)
    assert set(found) == {"pipeline"}
    assert found["pipeline"].settings["rules_clean"] == list(RULES)


@pytest.mark.parametrize(
    ("edit", "subject", "status", "severity"),
    [
        (('test_data = "digits_test"', 'test_data = "digits_train"'), "models.digits_cnn", Status.FAIL, Severity.HIGH),
        (('trusted = ["keys/demo-signing.pub"]', "trusted = []"), "keys.trusted", Status.WARN, Severity.MEDIUM),
        (('trusted = ["keys/demo-signing.pub"]', 'trusted = [".private/demo-signing.key"]'), "keys.trusted[0]", Status.FAIL, Severity.CRITICAL),
        (("[keys]", '[endpoint]\nurl = "http://models.internal.example/predict"\n\n[keys]'), "endpoint.url", Status.FAIL, Severity.MEDIUM),
        (("[keys]", '[endpoint]\nurl = "https://m.example/p"\nheaders = { Authorization = "Bearer abc123" }\n\n[keys]'), "endpoint.headers.Authorization", Status.FAIL, Severity.HIGH),
    ],
)
def test_rules_fire_on_planted_misconfigurations(
    demo_copy: Path, edit: tuple[str, str], subject: str, status: Status, severity: Severity
) -> None:
    text = demo_copy.read_text()
    assert edit[0] in text
    demo_copy.write_text(text.replace(*edit, 1))
    found = sanity(demo_copy)
    assert subject in found, sorted(found)
    assert found[subject].status is status and found[subject].severity is severity


def test_loopback_http_endpoint_is_fine(demo_copy: Path) -> None:
    text = demo_copy.read_text().replace("[keys]", '[endpoint]\nurl = "http://127.0.0.1:8000/predict"\n\n[keys]', 1)
    demo_copy.write_text(text)
    assert "endpoint.url" not in sanity(demo_copy)


def test_credentials_in_the_endpoint_url_are_flagged_and_redacted(demo_copy: Path, tmp_path: Path) -> None:
    from pipeshield.audit import audit

    text = demo_copy.read_text().replace("[keys]", '[endpoint]\nurl = "https://bob:hunter2@models.example/predict"\n\n[keys]', 1)
    demo_copy.write_text(text)
    found = sanity(demo_copy)
    assert found["endpoint.url.credentials"].severity is Severity.HIGH
    result = audit(demo_copy, out_dir=tmp_path / "r", formats=["json"], executor="serial", checks=["core.config-sanity"])
    body = (tmp_path / "r/report.json").read_text()
    assert "hunter2" not in body and result.report.pipeline["endpoint"] == "https://***@models.example/predict"


def test_files_outside_the_pipeline_folder_warn(demo_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("a,b\n1,2\n")
    text = demo_copy.read_text().replace('path = "data/incoming.csv"', f'path = "{outside}"')
    demo_copy.write_text(text)
    found = sanity(demo_copy)
    assert found["datasets.incoming"].status is Status.WARN
