"""The package's public names resolve lazily, and a missing Flower says how to install it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import pipeshield.training.federated as federated
from pipeshield.errors import ConfigError


def test_every_public_name_resolves() -> None:
    for name in federated.__all__:
        assert getattr(federated, name) is not None
    assert sorted(dir(federated)) == sorted(federated.__all__)
    assert callable(federated.partition) and callable(federated.compare)


def test_importing_the_package_does_not_import_flower_or_torch() -> None:
    code = ("import sys, pipeshield.training.federated as f; "
            "print(any(m == 'flwr' or m.startswith(('flwr.', 'torch', 'ray')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_missing_flower_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeshield.training.federated._flower import require_flwr

    monkeypatch.setitem(sys.modules, "flwr", None)
    with pytest.raises(ConfigError) as err:
        require_flwr()
    assert "pip install 'pipeshield[train]'" in err.value.diagnostics()
