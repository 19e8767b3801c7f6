"""Shared fixtures: the demo pipeline (built once per session) and real-service helpers."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a real service is absent outside CI; fail on CI, where it must be running."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as err:
        message = f"{name} is not reachable at {host}:{port} ({err})"
        if IN_CI:
            pytest.fail(f"{message}; CI must provide it")
        pytest.skip(message)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo pipeline, built once (training two small models takes a few seconds)."""
    from pipeshield.demo import build_demo

    root = tmp_path_factory.mktemp("demo") / "pipeline"
    return _lighter(build_demo(root).pipeline_file)


def _lighter(pipeline_file: Path) -> Path:
    """The demo, made cheaper to audit for the tests that audit it whole: ``training.tradeoff`` and
    ``training.federated`` (digits_cnn retrained and simulated dozens of times: minutes) are off, and
    the evasion check attacks 150 test images instead of 500 (digits_cnn still fails at eps 0.1) and
    30 forest rows black-box instead of 100 (27 s -> 8 s).
    tests/demo runs the real demo; the recipes are measured in tests/training."""
    text = pipeline_file.read_text()
    assert '[policy.checks."attacks.evasion"]' not in text, "the demo now sets evasion settings: update this fixture"
    for check in ("training.tradeoff", "training.federated"):
        head, table, tail = text.partition(f'[policy.checks."{check}"]')
        assert table and 'models = ["digits_cnn"]' in tail.split("\n[", 1)[0], f"the demo's {check} changed: update this fixture"
        text = head + table + tail.replace('models = ["digits_cnn"]', "models = []", 1)
    pipeline_file.write_text(text)
    return set_check_policy(pipeline_file, "attacks.evasion", "max_inputs = 150\nmax_inputs_black_box = 30")


def set_check_policy(pipeline_file: Path, check: str, settings: str) -> Path:
    """Give ``[policy.checks."CHECK"]`` exactly ``settings`` (TOML lines), replacing the table if the
    file has one: TOML refuses a table declared twice, so appending is not enough."""
    header = f'[policy.checks."{check}"]'
    head, table, tail = pipeline_file.read_text().partition(header)
    rest = "\n[" + tail.split("\n[", 1)[1] if table and "\n[" in tail else ""
    pipeline_file.write_text(f"{head.rstrip()}\n\n{header}\n{settings.strip()}\n{rest}")
    return pipeline_file


@pytest.fixture
def demo_copy(demo_pipeline: Path, tmp_path: Path) -> Path:
    """A private copy of the demo pipeline that a test may modify."""
    dest = tmp_path / "pipeline"
    shutil.copytree(demo_pipeline.parent, dest)
    return dest / "pipeshield.toml"


CliRunner = Callable[[list[str]], tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """Run ``pipeshield ARGS`` in-process through the real entry point; returns (exit code, stdout,
    stderr). Faster than a subprocess; the subprocess tests cover the console script itself."""
    from pipeshield.cli import main

    def run(args: list[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
