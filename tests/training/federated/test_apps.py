"""The ServerApp / ClientApp for separate hosts: Flower accepts the app project, and the two apps
run a federated round end to end (here over the in-process grid instead of a network)."""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("flwr")


def test_app_objects_and_the_flower_app_project_are_valid() -> None:
    from flwr.clientapp import ClientApp
    from flwr.common.config import validate_config
    from flwr.serverapp import ServerApp

    from pipeshield.training.federated import apps

    assert isinstance(apps.server_app, ServerApp) and isinstance(apps.client_app, ClientApp)
    project = tomllib.loads(apps.flower_app_toml(config={"model": "digits_cnn", "strategy": "median"}))
    ok, errors, _ = validate_config(project, check_module=True)  # imports the components as `flwr run` does
    assert ok, errors
    components = project["tool"]["flwr"]["app"]["components"]
    assert components == {"serverapp": "pipeshield.training.federated.apps:server_app",
                          "clientapp": "pipeshield.training.federated.apps:client_app"}
    assert project["tool"]["flwr"]["app"]["config"]["strategy"] == "median"


def test_deployed_apps_train_and_write_a_signed_model(demo_copy: Path, tmp_path: Path) -> None:
    from pipeshield.training.federated.apps import client_app, run_server
    from pipeshield.training.federated.engines import run_inprocess

    root = demo_copy.parent
    out = tmp_path / "global.safetensors"
    config = {"pipeline": str(demo_copy), "model": "digits_cnn", "strategy": "median", "clients": 3, "rounds": 1,
              "assumed-malicious": 1, "local-epochs": 1, "out": str(out),
              "key": str(root / ".private/demo-signing.key")}
    summary: dict[str, object] = {}
    run_inprocess(lambda grid: summary.update(run_server(grid, config)), client_app, 3,
                  node_config={"pipeline": str(demo_copy), "model": "digits_cnn"}, run_config=config)
    assert summary["strategy"] == "median" and len(summary["accuracy_per_round"]) == 2  # type: ignore[arg-type]
    assert out.exists()
    sig = out.with_name(out.name + ".provenance.sig")
    envelope = json.loads(sig.read_text())
    statement = json.loads(base64.b64decode(envelope["dsseEnvelope"]["payload"]))
    text = json.dumps(statement)
    for needle in ('"recipe": "federated"', '"strategy": "median"', '"deployment": "flower-deployment-engine"'):
        assert needle in text
    assert json.dumps(summary)  # plain data
