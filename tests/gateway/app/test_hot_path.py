"""The gateway's hot path (issue 7): request ids in the log, one read of the model file, the
opt-in SQLite ``synchronous=normal`` mode, and the audit commit awaited on the event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeshield.core.datasets import load_dataset
from pipeshield.core.pipeline import load_pipeline
from pipeshield.core.targets import load_target
from pipeshield.errors import AuditLogError, ConfigError
from pipeshield.gateway import serving
from pipeshield.gateway.audit_log import verify
from pipeshield.gateway.settings import GatewaySettings
from tests.gateway.app.conftest import MODEL, GatewayFactory, Served, copy_pipeline


def _records(served_gateway: Any) -> list[Any]:
    return [row.record() for row in served_gateway.store.records()]


def test_every_record_carries_the_answers_request_id(make_gateway: GatewayFactory, served: Served) -> None:
    gateway, client = make_gateway()
    secret = gateway.keys.create("k", rate="1000/s").secret
    ok = client.post(f"/v1/models/{MODEL}:predict", json={"inputs": served.rows[:1]},
                     headers={"Authorization": f"Bearer {secret}"})
    denied = client.post(f"/v1/models/{MODEL}:predict", json={"inputs": served.rows[:1]})
    bad = client.post(f"/v1/models/{MODEL}:predict", json={"inputs": [[float("1e9")] * 30]},
                      headers={"Authorization": f"Bearer {secret}"})
    assert (ok.status_code, denied.status_code, bad.status_code) == (200, 401, 422)
    by_id = {r.request_id: r for r in _records(gateway)}
    assert set(by_id) == {ok.headers["x-request-id"], denied.headers["x-request-id"], bad.headers["x-request-id"]}
    assert by_id[ok.headers["x-request-id"]].decision.value == "allowed"
    assert by_id[ok.headers["x-request-id"]].output["labels"] == ok.json()["labels"]
    assert by_id[denied.headers["x-request-id"]].reason.startswith("unauthenticated")
    assert by_id[bad.headers["x-request-id"]].reason.startswith("invalid_input")
    assert all(r.v == 2 for r in by_id.values())
    assert verify(gateway.store).size == 3


def test_a_too_large_body_is_refused_only_after_authentication(make_gateway: GatewayFactory) -> None:
    """The body is read before the worker-thread hop, but the answers keep their documented order."""
    gateway, client = make_gateway(max_body_bytes=128)
    secret = gateway.keys.create("k", rate="1000/s").secret
    body = {"inputs": [[0.5] * 30]}
    assert client.post(f"/v1/models/{MODEL}:predict", json=body).status_code == 401
    assert client.post("/v1/models/nope:predict", json=body,
                       headers={"Authorization": f"Bearer {secret}"}).status_code == 404
    r = client.post(f"/v1/models/{MODEL}:predict", json=body, headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    assert [rec.reason.split(":")[0] for rec in _records(gateway)] == ["unauthenticated", "unknown_model",
                                                                       "body_too_large"]


def test_the_served_model_is_the_verified_bytes_even_if_the_file_is_swapped(
        demo_pipeline: Path, tmp_path: Path, make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Swap the model file right after its signature and scan passed: the gateway must serve what
    it verified (it read the file once), not the swapped file."""
    import skops.io as sio
    from sklearn.dummy import DummyClassifier

    pipeline_file = copy_pipeline(demo_pipeline, tmp_path / "swap")
    pipeline = load_pipeline(pipeline_file)
    model_file = pipeline.resolve(pipeline.models[MODEL].path)
    data = load_dataset(pipeline, "tabular_test")
    x = data.x[:20].astype(np.float32)
    expected = load_target(pipeline, MODEL).predict_proba(x)
    impostor = DummyClassifier(strategy="constant", constant=data.y[0]).fit(data.x[:50], data.y[:50])
    swapped = tmp_path / "impostor.skops"
    sio.dump(impostor, swapped)

    checked = serving._refusal
    calls: list[str | None] = []

    def refusal_then_swap(pipeline: Any, name: str, data: bytes) -> str | None:
        reason = checked(pipeline, name, data)
        calls.append(reason)
        model_file.write_bytes(swapped.read_bytes())  # the attacker's moment: after the checks
        return reason

    monkeypatch.setattr(serving, "_refusal", refusal_then_swap)
    gateway, _ = make_gateway(pipeline_file)
    assert calls == [None] and gateway.failed == {}
    assert model_file.read_bytes() == swapped.read_bytes()  # the file on disk is now the impostor
    np.testing.assert_allclose(gateway.models[MODEL].target.predict_proba(x), expected)
    assert not np.allclose(load_target(load_pipeline(pipeline_file), MODEL).predict_proba(x), expected)


def test_verification_uses_the_bytes_read_not_the_file(demo_pipeline: Path, tmp_path: Path) -> None:
    pipeline = load_pipeline(copy_pipeline(demo_pipeline, tmp_path / "bytes"))
    good = pipeline.resolve(pipeline.models[MODEL].path).read_bytes()
    assert serving._refusal(pipeline, MODEL, good) is None
    reason = serving._refusal(pipeline, MODEL, good + b"\0")
    assert reason is not None and reason.startswith("signature: ") and "changed since it was signed" in reason


def test_synchronous_normal_is_opt_in_and_sqlite_only(make_gateway: GatewayFactory, demo_pipeline: Path) -> None:
    from pipeshield.gateway.settings import serve_config

    pipeline = load_pipeline(demo_pipeline)
    assert serve_config(pipeline).settings.audit_sync == "full"  # the file cannot weaken it; the CLI can
    assert serve_config(pipeline, audit_sync="normal").settings.audit_sync == "normal"
    gateway, client = make_gateway()
    with gateway.store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL by default
    normal, _ = make_gateway(audit_sync="normal")
    with normal.store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    with pytest.raises(ConfigError, match="--audit-sync"):
        GatewaySettings(audit_sync="off")
    with pytest.raises(ConfigError, match="SQLite audit log only"):
        GatewaySettings(audit_sync="normal", log_db="postgresql+psycopg://u@127.0.0.1/db")
    from pipeshield.gateway.audit_log import AuditLogStore

    with pytest.raises(AuditLogError, match="SQLite only"):
        AuditLogStore("postgresql+psycopg://u@127.0.0.1:9/db", synchronous="normal")


def test_a_failed_commit_is_awaited_on_the_event_loop_as_a_503(make_gateway: GatewayFactory, served: Served,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    gateway, client = make_gateway()
    secret = gateway.keys.create("k", rate="1000/s").secret

    def broken(records: Any) -> Any:
        raise AuditLogError("disk full (planted)")

    monkeypatch.setattr(gateway.store, "append_many", broken)
    r = client.post(f"/v1/models/{MODEL}:predict", json={"inputs": served.rows[:1]},
                    headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "audit_log_unavailable"
    assert "outputs" not in r.json()  # the prediction is never sent without its record
    assert asyncio.iscoroutinefunction(gateway.settle)
