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
    return build_demo(root).pipeline_file


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
