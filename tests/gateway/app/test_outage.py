"""Outages: Redis (the shared limiter) or PostgreSQL (the audit log) goes away mid-run.

Both fail closed -- 503 with the JSON error body -- and the gateway recovers by itself when the
service is back; no request that was answered 200 is missing from the log, and the log verifies.
The outage is a TCP forwarder that the test cuts and restores on the same port.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pipeshield.gateway.app import Gateway
from pipeshield.gateway.audit_log import verify
from tests.conftest import require_service
from tests.gateway.app.conftest import MODEL, GatewayFactory, digest
from tests.gateway.proxy import Cuttable

REDIS = ("127.0.0.1", 6379)
POSTGRES = ("127.0.0.1", 5432)


@pytest.fixture
def cut_redis() -> Iterator[Cuttable]:
    require_service("Redis", *REDIS)
    proxy = Cuttable(REDIS)
    yield proxy
    proxy.stop()


@pytest.fixture
def cut_postgres() -> Iterator[Cuttable]:
    require_service("PostgreSQL", *POSTGRES)
    proxy = Cuttable(POSTGRES)
    yield proxy
    proxy.stop()


def _rows(gateway: Gateway, n: int) -> list[list[list[float]]]:
    """``n`` distinct one-row inputs inside the model's ranges (so each is found in the log by digest)."""
    schema = gateway.models[MODEL].schema
    mid, span = (schema.low + schema.high) / 2, schema.high - schema.low
    return [[(mid + span * 1e-4 * i).tolist()] for i in range(n)]


def _logged(gateway: Gateway) -> list[dict[str, Any]]:
    return [r.record().to_dict() for r in gateway.store.records()]


def test_redis_going_away_fails_closed_then_recovers(make_gateway: GatewayFactory, cut_redis: Cuttable) -> None:
    gateway, client = make_gateway(redis=f"redis://127.0.0.1:{cut_redis.port}")
    secret = gateway.keys.create(f"outage-{uuid.uuid4().hex[:8]}", rate="1000/s").secret
    headers = {"Authorization": f"Bearer {secret}"}
    rows = _rows(gateway, 12)

    def post(i: int) -> Any:
        return client.post(f"/v1/models/{MODEL}:predict", json={"inputs": rows[i]}, headers=headers)

    ok = [i for i in range(4) if post(i).status_code == 200]
    assert ok == [0, 1, 2, 3]
    cut_redis.stop()  # Redis goes away: fail closed, precisely
    for i in range(4, 7):
        r = post(i)
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert error["code"] == "limiter_unavailable" and "refused" in error["message"]
        assert error["request_id"] == r.headers["x-request-id"]
    cut_redis.start()  # back on the same address: the limiter reconnects by itself
    for i in range(7, 12):
        assert post(i).status_code == 200
        ok.append(i)
    records = _logged(gateway)
    assert len(records) == 12  # the denials are logged too: the log itself never went away
    allowed = {r["input_digest"] for r in records if r["decision"] == "allowed"}
    assert allowed == {"sha256:" + digest(rows[i]) for i in ok}
    denied = [r for r in records if r["decision"] == "denied"]
    assert len(denied) == 3 and all(r["reason"].startswith("limiter_unavailable") for r in denied)
    assert verify(gateway.store).size == 12


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A private schema in the ``test`` database, dropped afterwards (the gateway's tables are fixed)."""
    require_service("PostgreSQL", *POSTGRES)
    import psycopg

    name = f"outage_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"postgresql://postgres@{POSTGRES[0]}:{POSTGRES[1]}/test", autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')  # name is ours: letters, digits and '_'
    yield name
    with psycopg.connect(f"postgresql://postgres@{POSTGRES[0]}:{POSTGRES[1]}/test", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def test_audit_log_database_going_away_fails_closed_then_recovers(
    make_gateway: GatewayFactory, cut_postgres: Cuttable, pg_schema: str
) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{cut_postgres.port}/test?options=-csearch_path%3D{pg_schema}"
    gateway, client = make_gateway(log_db=url)
    secret = gateway.keys.create("pg-outage", rate="1000/s").secret
    headers = {"Authorization": f"Bearer {secret}"}
    rows = _rows(gateway, 10)

    def post(i: int) -> Any:
        return client.post(f"/v1/models/{MODEL}:predict", json={"inputs": rows[i]}, headers=headers)

    ok = [i for i in range(3) if post(i).status_code == 200]
    assert ok == [0, 1, 2]
    cut_postgres.stop()  # the log's database goes away: nothing is answered that is not logged
    for i in range(3, 6):
        r = post(i)
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert error["code"] == "audit_log_unavailable" and error["request_id"] == r.headers["x-request-id"]
        assert "outputs" not in r.json()
    cut_postgres.start()
    for i in range(6, 10):
        assert post(i).status_code == 200
        ok.append(i)
    records = _logged(gateway)
    assert [r["input_digest"] for r in records] == ["sha256:" + digest(rows[i]) for i in ok]
    assert all(r["decision"] == "allowed" for r in records)
    assert verify(gateway.store).size == len(ok) == 7
