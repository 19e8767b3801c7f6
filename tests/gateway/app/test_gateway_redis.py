"""Two gateway replicas sharing one Redis enforce one key's limit together."""

from __future__ import annotations

from pathlib import Path

from pipeshield.gateway.audit_log import verify
from tests.conftest import require_service
from tests.gateway.app.conftest import MODEL, GatewayFactory, copy_pipeline


def test_two_replicas_share_one_keys_limit(make_gateway: GatewayFactory, demo_pipeline: Path, tmp_path: Path) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    pipeline_file = copy_pipeline(demo_pipeline, tmp_path / "shared")
    first, client_a = make_gateway(pipeline_file, redis="redis://127.0.0.1:6379")
    _second, client_b = make_gateway(pipeline_file, redis="redis://127.0.0.1:6379")  # same key store and log
    secret = first.keys.create("shared", rate="4/min").secret
    headers = {"Authorization": f"Bearer {secret}"}
    schema = first.models[MODEL].schema
    rows = [((schema.low + schema.high) / 2).tolist()]
    codes = []
    for i in range(8):
        client = client_a if i % 2 else client_b
        codes.append(client.post(f"/v1/models/{MODEL}:predict", json={"inputs": rows}, headers=headers).status_code)
    assert codes == [200] * 4 + [429] * 4
    assert first.store.size() == 8  # both replicas wrote to the one log, and it verifies
    assert verify(first.store).size == 8
