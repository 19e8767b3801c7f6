"""User mistakes found deep inside a run still end as one line and exit 2 (regressions from review)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent / "pipeshield"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def assert_one_line_error(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stderr[-1500:])
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr
    first = [ln for ln in out.stderr.splitlines() if ln.startswith("error: ")]
    assert len(first) == 1, out.stderr
    for needle in needles:
        assert needle in out.stderr, (needle, out.stderr)


def test_dataset_that_does_not_fit_its_model(demo_copy: Path) -> None:
    text = demo_copy.read_text().replace('test_data = "tabular_test"', 'test_data = "digits_test"')
    demo_copy.write_text(text)
    out = run("audit", str(demo_copy), "--only", "validation", "-q")
    # whichever validation check meets the mismatch first names it: the input shape or the labels
    if "rejected input" in out.stderr:
        assert_one_line_error(out, "models.tabular_forest: the model rejected input of shape", "64")
    else:
        assert_one_line_error(out, "datasets.digits_test: label 2 is not a class of models.tabular_forest")


def test_missing_input_shape_for_the_cnn(demo_copy: Path) -> None:
    demo_copy.write_text(demo_copy.read_text().replace("input_shape = [1, 8, 8]\n", ""))
    out = run("audit", str(demo_copy), "--only", "validation", "-q")
    assert_one_line_error(out, "models.digits_cnn: the model rejected input of shape (", ", 64)")


def test_builder_module_with_a_syntax_error(demo_copy: Path) -> None:
    (demo_copy.parent / "broken_builder.py").write_text("def build(:\n")
    text = demo_copy.read_text().replace(
        'builder = "pipeshield.demo.models:build_digits_cnn"', 'builder = "broken_builder:build"'
    )
    demo_copy.write_text(text)
    out = run("audit", str(demo_copy), "--only", "validation", "-q")
    assert_one_line_error(out, "models.digits_cnn.builder: importing 'broken_builder' failed: SyntaxError")


def test_empty_dataset(demo_copy: Path) -> None:
    np.savez(demo_copy.parent / "data/digits_test.npz", x=np.zeros((0, 64), np.float32), label=np.zeros(0, np.int64))
    out = run("audit", str(demo_copy), "--only", "validation", "-q")
    assert_one_line_error(out, "datasets.digits_test", "has no rows")


def test_empty_pipeline_and_empty_format_list(tmp_path: Path, demo_copy: Path) -> None:
    (tmp_path / "pipeshield.toml").write_text("")
    assert_one_line_error(run("audit", str(tmp_path)), "nothing to audit")
    assert_one_line_error(run("audit", str(demo_copy), "--format", ","), "--format: empty list")


def test_gate_defaults_to_the_reports_threshold(demo_copy: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "r"
    run("audit", str(demo_copy), "-q", "-f", "json", "--out", str(out_dir), "--fail-on", "critical")
    report = json.loads((out_dir / "report.json").read_text())
    assert report["summary"]["gate"]["fail_on"] == "critical"
    for f in report["findings"]:  # leave only high problems: below the report's own threshold
        if f["severity"] == "critical":
            f["severity"], f["status"] = "high", "fail"
    (out_dir / "report.json").write_text(json.dumps(report))
    assert run("gate", str(out_dir / "report.json")).returncode == 0
    assert run("gate", str(out_dir / "report.json"), "--fail-on", "high").returncode == 1


def test_gate_on_a_malformed_report(tmp_path: Path) -> None:
    bad = tmp_path / "report.json"
    bad.write_text('{"schema_version": "1.0", "pipeline": {}, "summary": [], "findings": []}')
    assert_one_line_error(run("gate", str(bad)), "not a pipeshield report")


def test_checks_prints_to_stdout() -> None:
    out = run("checks")
    assert out.returncode == 0 and "validation.clean-accuracy" in out.stdout
