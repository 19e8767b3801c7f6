"""The public facade: everything in ``__all__`` resolves, and nothing heavy loads on import."""

from __future__ import annotations

import subprocess
import sys

import pipeshield


def test_every_public_name_resolves() -> None:
    for name in pipeshield.__all__:
        assert getattr(pipeshield, name) is not None, name
    assert sorted(dir(pipeshield)) == sorted(pipeshield.__all__)


def test_unknown_attribute_raises_attribute_error() -> None:
    try:
        pipeshield.no_such_thing  # noqa: B018
    except AttributeError as err:
        assert "no_such_thing" in str(err)
    else:
        raise AssertionError("expected AttributeError")


def test_import_is_light() -> None:
    code = "import sys, pipeshield; print(','.join(m for m in ('torch','numpy','pandas','pydantic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_errors_share_one_base() -> None:
    for name in ("ConfigError", "DatasetError", "TargetError", "EndpointError", "ArtifactError", "ReportError", "CheckError"):
        assert issubclass(getattr(pipeshield, name), pipeshield.PipeshieldError)
