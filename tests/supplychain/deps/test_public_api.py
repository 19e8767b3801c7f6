"""The dependency-audit and SBOM facades: every public name resolves, and nothing else is exported."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("module", ["pipeshield.supplychain.deps", "pipeshield.supplychain.sbom"])
def test_every_public_name_resolves(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__all__ == sorted(mod.__all__, key=lambda n: (not n.isupper(), n))
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name


def test_service_error_is_a_pipeshield_error() -> None:
    from pipeshield.errors import PipeshieldError
    from pipeshield.supplychain.deps import AdvisoryServiceError

    assert issubclass(AdvisoryServiceError, PipeshieldError)
