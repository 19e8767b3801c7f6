"""The ``pipeshield.training.dp`` facade: every public name resolves, and importing it is cheap."""

from __future__ import annotations

import subprocess
import sys

import pipeshield.training.dp as dp


def test_every_public_name_resolves() -> None:
    for name in dp.__all__:
        assert getattr(dp, name) is not None, name


def test_import_does_not_load_torch() -> None:
    code = "import sys, pipeshield.training.dp; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
