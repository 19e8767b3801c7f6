"""Shared fixtures for the dependency audit: the hand-written OSV fixture and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeshield.cli import main

OSV_FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "osv"


@pytest.fixture
def osv_dir() -> Path:
    return OSV_FIXTURE


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err
