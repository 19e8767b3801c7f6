"""write_reports finds all four built-in formats and writes each file whole."""

from __future__ import annotations

import json
from pathlib import Path

from pipeshield.report import write_reports
from pipeshield.report.model import Report


def test_writes_every_builtin_format(report: Report, tmp_path: Path) -> None:
    written = write_reports(report, tmp_path / "out")
    assert {name: path.name for name, path in written.items()} == {
        "json": "report.json",
        "html": "report.html",
        "sarif": "report.sarif",
        "markdown": "summary.md",
    }
    assert json.loads(written["json"].read_text("utf-8"))["summary"] == report.summary()
    assert json.loads(written["sarif"].read_text("utf-8"))["version"] == "2.1.0"
    assert written["html"].read_text("utf-8").startswith("<!doctype html>")
    assert written["markdown"].read_text("utf-8").startswith("### pipeshield:")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in written.values()
    )


def test_one_format_alone(report: Report, tmp_path: Path) -> None:
    written = write_reports(report, tmp_path, ["sarif"])
    assert list(written) == ["sarif"]
