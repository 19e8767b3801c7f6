"""Gateway fixtures: a private copy of the demo pipeline, keys for each role, and a TestClient."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from pipeshield.core.datasets import load_dataset
from pipeshield.core.pipeline import load_pipeline
from pipeshield.gateway.app import Gateway, create_app
from pipeshield.gateway.audit_log import canonical_json
from pipeshield.gateway.keys import ApiKeyStore
from pipeshield.gateway.settings import GatewaySettings

MODEL = "tabular_forest"  # skops: loads without torch, so the gateway starts in about a second


def digest(inputs: Any) -> str:
    return hashlib.sha256(canonical_json(inputs)).hexdigest()


@dataclass
class Served:
    gateway: Gateway
    client: TestClient
    keys: dict[str, str]
    ids: dict[str, str]
    rows: list[list[float]]
    folder: Path

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def predict(self, who: str | None, inputs: Any = None, **kwargs: Any) -> Any:
        headers = self.headers(who) if who else {}
        body = {"inputs": self.rows[:2] if inputs is None else inputs}
        return self.client.post(f"/v1/models/{MODEL}:predict", json=body, headers=headers, **kwargs)


def copy_pipeline(demo_pipeline: Path, dest: Path) -> Path:
    shutil.copytree(demo_pipeline.parent, dest)
    return dest / "pipeshield.toml"


KEYS: dict[str, dict[str, Any]] = {
    "full": {"rate": "1000/s"},
    "scoped": {"models": ["digits_cnn"], "rate": "1000/s"},
    "label": {"rate": "1000/s", "output": "label-only"},
    "slow": {"rate": "2/s"},
    "admin": {"rate": "1000/s", "admin": True},
    "blocked": {"rate": "1000/s"},
}


@pytest.fixture(scope="module")
def served(demo_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("gateway")
    pipeline_file = copy_pipeline(demo_pipeline, folder / "pipeline")
    pipeline = load_pipeline(pipeline_file)
    rows = load_dataset(pipeline, "tabular_test").x[:8].astype(float).tolist()
    store = ApiKeyStore(pipeline.base_dir / ".pipeshield" / "gateway.db", cache_s=0)
    created = {name: store.create(name, **opts) for name, opts in KEYS.items()}
    plain = folder / "blocked.txt"
    plain.write_text(f"key:{created['blocked'].key.id}  # a leaked key\nip:203.0.113.0/24\n")
    stix = folder / "feed.json"
    stix.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": [{
        "type": "indicator", "spec_version": "2.1", "id": "indicator--0b1d6a0e-0000-4000-8000-000000000001",
        "name": "known probing input", "pattern_type": "stix", "valid_from": "2020-01-01T00:00:00Z",
        "pattern": f"[file:hashes.'SHA-256' = '{digest([rows[5]])}']"}]}))
    settings = GatewaySettings(models=(MODEL,), intel=(plain, stix), key_cache_s=0, max_batch=16,
                               max_body_bytes=64 * 1024)
    gateway = Gateway(pipeline, settings, keys=store)
    client = TestClient(create_app(gateway))
    yield Served(gateway, client, {n: c.secret for n, c in created.items()},
                 {n: c.key.id for n, c in created.items()}, rows, pipeline.base_dir)
    gateway.close()


GatewayFactory = Callable[..., tuple[Gateway, TestClient]]


@pytest.fixture
def make_gateway(demo_pipeline: Path, tmp_path: Path) -> Iterator[GatewayFactory]:
    """Build extra gateways (on a fresh copy of the pipeline unless ``pipeline_file`` is given)."""
    made: list[Gateway] = []

    def make(pipeline_file: Path | None = None, **settings: Any) -> tuple[Gateway, TestClient]:
        if pipeline_file is None:
            pipeline_file = copy_pipeline(demo_pipeline, tmp_path / f"pipeline{len(made)}")
        settings.setdefault("models", (MODEL,))
        settings.setdefault("key_cache_s", 0)
        gateway = Gateway(load_pipeline(pipeline_file), GatewaySettings(**settings))
        made.append(gateway)
        return gateway, TestClient(create_app(gateway))

    yield make
    for gateway in made:
        gateway.close()
