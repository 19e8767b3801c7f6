"""The command line through the real entry points: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "pipeshield"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_help_and_version_via_both_entry_points() -> None:
    out = run("--help")
    assert out.returncode == 0
    for command in ("audit", "gate", "init", "demo", "checks"):
        assert command in out.stdout
    mod = subprocess.run([sys.executable, "-m", "pipeshield", "--version"], capture_output=True, text=True)
    assert mod.returncode == 0 and mod.stdout.startswith("pipeshield ")


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; sys.argv=['pipeshield','--help']\n"
        "from pipeshield.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch','pandas','onnxruntime','sklearn','numpy','jinja2') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY=\n" in out.stdout or out.stdout.rstrip().endswith("HEAVY="), out.stdout[-300:]


@pytest.fixture(scope="module")
def whole_audit(demo_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    """One whole audit of the demo through the console script (a minute under load): its exit
    code, stderr and report folder, shared by the tests that read them."""
    out_dir = tmp_path_factory.mktemp("cli-audit") / "r"
    high = run("audit", str(demo_pipeline), "--out", str(out_dir), "-q")
    return high.returncode, high.stderr, out_dir


def test_audit_exit_codes_follow_the_threshold(whole_audit: tuple[int, str, Path], demo_copy: Path,
                                                tmp_path: Path) -> None:
    code, stderr, out_dir = whole_audit
    assert code == 1, stderr  # the demo's planted pickles are high and critical
    report = json.loads((out_dir / "report.json").read_text())
    assert report["summary"]["gate"]["passed"] is False
    lenient = run("audit", str(demo_copy), "--out", str(tmp_path / "r"), "-q", "--fail-on", "critical",
                  "--only", "validation")
    assert lenient.returncode == 0, lenient.stderr


def test_gate_reads_a_report(whole_audit: tuple[int, str, Path], tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_bytes((whole_audit[2] / "report.json").read_bytes())
    failing = run("gate", str(report), "--fail-on", "high")
    assert failing.returncode == 1
    assert "forest_v2" in failing.stderr
    assert run("gate", str(report), "--fail-on", "critical").returncode == 1  # forest_v2 is critical
    data = json.loads(report.read_text())
    for f in data["findings"]:
        if f["severity"] == "critical":
            f["status"] = "pass"
    report.write_text(json.dumps(data))
    assert run("gate", str(report), "--fail-on", "critical").returncode == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("audit", "/nonexistent/pipeshield.toml"), "pipeline file not found"),
        (("gate", "/nonexistent/report.json"), "report not found"),
        (("gate", "{report}", "--fail-on", "severe"), "--fail-on: unknown severity 'severe'"),
        (("audit", "{pipeline}", "--only", "training,testing"), "--only: unknown stage 'testing'"),
        (("audit", "{pipeline}", "--format", "pdf"), "--format: unknown format 'pdf'"),
        (("audit", "{pipeline}", "--executor", "cluster"), "--executor: unknown executor 'cluster'"),
    ],
)
def test_usage_and_config_errors_exit_2_with_one_line(demo_copy: Path, tmp_path: Path, args: tuple[str, ...], needle: str) -> None:
    report = tmp_path / "report.json"
    report.write_text('{"schema_version": "1.0", "pipeline": {}, "findings": []}')
    argv = [a.format(report=report, pipeline=demo_copy) for a in args]
    out = run(*argv)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert needle in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_pipeline_file_and_broken_model_exit_2(demo_copy: Path) -> None:
    text = demo_copy.read_text()
    demo_copy.write_text(text.replace('role = "test"', 'role = "holdout"', 1))
    out = run("audit", str(demo_copy))
    assert out.returncode == 2
    assert "datasets.digits_test.role" in out.stderr and "Traceback" not in out.stderr

    demo_copy.write_text(text)
    (demo_copy.parent / "models/digits_cnn.safetensors").write_bytes(b"\x00" * 64)
    out = run("audit", str(demo_copy), "--only", "validation")
    assert out.returncode == 2
    assert "digits_cnn" in out.stderr and "safetensors" in out.stderr and "Traceback" not in out.stderr
    debug = run("--debug", "audit", str(demo_copy), "--only", "validation")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_wrong_type_of_report_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "report.json"
    bad.write_text('{"schema_version": "9.0", "findings": []}')
    out = run("gate", str(bad))
    assert out.returncode == 2 and "schema_version 9.0 is not supported" in out.stderr
    bad.write_text("not json")
    out = run("gate", str(bad))
    assert out.returncode == 2 and "not JSON" in out.stderr


def test_init_writes_a_file_that_audits(tmp_path: Path) -> None:
    import numpy as np
    import skops.io as sio
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    frame = load_breast_cancer(as_frame=True).frame
    train, test = frame.iloc[:400], frame.iloc[400:]
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    model = LogisticRegression(max_iter=5000).fit(train.drop(columns="target").to_numpy(np.float32), train["target"])
    (tmp_path / "model.skops").write_bytes(sio.dumps(model))
    (tmp_path / "old.pkl").write_bytes(b"\x80\x04N.")
    out = run("init", str(tmp_path))
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "pipeshield.toml").read_text()
    assert 'label = "target"' in text and 'test_data = "test"' in text and "[artifacts.old]" in text
    again = run("init", str(tmp_path))
    assert again.returncode == 2 and "already exists" in again.stderr
    audit = run("audit", str(tmp_path), "-q", "--fail-on", "critical")
    assert audit.returncode == 0, audit.stderr
    report = json.loads((tmp_path / "pipeshield-report/report.json").read_text())
    acc = next(f for f in report["findings"] if f["id"] == "validation.clean-accuracy/model")
    assert acc["metrics"]["accuracy"] == pytest.approx(model.score(test.drop(columns="target").to_numpy(np.float32), test["target"]), abs=1e-6)
