"""In-process CLI runner for the attack commands."""

from __future__ import annotations

from collections.abc import Callable

import pytest

CliRunner = Callable[[list[str]], tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """Run ``pipeshield ARGS`` in-process; returns (exit code, stdout, stderr)."""
    import pipeshield.cli.poison  # noqa: F401  (registers the commands on their groups)
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
