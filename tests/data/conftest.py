"""Fixtures for the data-defence tests: the demo's planted ground truth and real sklearn tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def demo_root(demo_pipeline: Path) -> Path:
    return demo_pipeline.parent


@pytest.fixture(scope="session")
def planted(demo_root: Path) -> dict[str, Any]:
    return json.loads((demo_root / "planted.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    return frame.rename(columns={"target": "diagnosis"})


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """``run_cli(*args) -> (exit code, stdout, stderr)`` through the real entry point."""
    import pipeshield.cli.data  # noqa: F401  (registers the data commands)
    from pipeshield.cli import main

    def _run(*args: str) -> tuple[int, str, str]:
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run
