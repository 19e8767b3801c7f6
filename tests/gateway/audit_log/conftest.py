"""Audit-log fixtures: a store on SQLite (a temp file) or PostgreSQL (unique tables, dropped after)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeshield.gateway.audit_log import AuditLogStore, AuditRecord
from tests.conftest import require_service

PG_URL = os.environ.get("PIPESHIELD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

StoreFactory = Callable[[], AuditLogStore]


def make_record(i: int, **overrides: object) -> AuditRecord:
    fields: dict[str, object] = {
        "key_id": f"key-{i % 3}", "client": f"10.0.0.{i % 7}", "model": "digits", "inputs": [[i, i + 0.5]],
        "output": {"label": i % 10}, "decision": "allowed" if i % 5 else "denied",
        "reason": None if i % 5 else "rate limit", "latency_ms": 1.25 + i, "keep_input": i % 2 == 0,
    }
    fields.update(overrides)
    return AuditRecord.create(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        require_service("PostgreSQL", "127.0.0.1", 5432)
    return str(request.param)


@pytest.fixture
def store_location(backend: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(db, prefix) for a fresh log; PostgreSQL tables are dropped afterwards."""
    if backend == "sqlite":
        yield str(tmp_path / "audit.db"), "audit_log"
        return
    prefix = f"t_audit_{uuid.uuid4().hex[:10]}"
    yield PG_URL, prefix
    cleanup = AuditLogStore(PG_URL, prefix=prefix)
    cleanup.drop()
    cleanup.close()


@pytest.fixture
def store(store_location: tuple[str, str]) -> Iterator[AuditLogStore]:
    db, prefix = store_location
    s = AuditLogStore(db, prefix=prefix)
    yield s
    s.close()


@pytest.fixture(scope="session")
def gateway_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from pipeshield.integrity.keys import generate_keypair

    paths = generate_keypair(tmp_path_factory.mktemp("keys") / "gateway")
    return paths.private, paths.public
