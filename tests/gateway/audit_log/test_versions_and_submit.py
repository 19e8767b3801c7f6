"""Record schema versions (``request_id`` since v2; v1 logs still verify) and the appender's
non-blocking ``submit``."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from pipeshield.errors import AuditLogError as MovedAuditLogError
from pipeshield.errors import LogTamperedError, PipeshieldError, VerificationError
from pipeshield.gateway.audit_log import (
    AuditLogError,
    AuditLogStore,
    AuditRecord,
    GroupCommitAppender,
    verify,
)
from pipeshield.gateway.audit_log._errors import AuditLogError as OldPathAuditLogError
from tests.gateway.audit_log.conftest import make_record

V1_BYTES = (b'{"client":"10.0.0.7","decision":"allowed","input":null,"input_digest":"sha256:'
            + b"a" * 64 + b'","key_id":"k1","latency_ms":1.5,"model":"digits","output":{"label":3},'
            b'"reason":null,"time":"2026-01-02T03:04:05.000006Z","v":1}')


def test_a_v1_record_keeps_its_exact_bytes_and_a_mixed_log_verifies(tmp_path: Path) -> None:
    old = AuditRecord.from_canonical(V1_BYTES)
    assert old.v == 1 and old.request_id is None and old.canonical() == V1_BYTES
    store = AuditLogStore(tmp_path / "log.db")
    store.append_many([old, make_record(1, request_id="r-1"), make_record(2)])
    rows = list(store.records())
    assert rows[0].body.encode() == V1_BYTES and "request_id" not in rows[0].body
    assert rows[1].record().request_id == "r-1" and rows[2].record().request_id is None
    assert verify(store).size == 3
    store.close()


def test_versions_are_strict() -> None:
    with pytest.raises(ValueError, match="version 2"):
        AuditRecord.from_canonical(V1_BYTES).__class__(**{**_fields(V1_BYTES), "request_id": "x"})
    with pytest.raises(ValueError, match="wrong or missing fields"):  # a v1 record with a request_id key
        AuditRecord.from_canonical(V1_BYTES.replace(b'"time"', b'"request_id":"x","time"'))
    with pytest.raises(ValueError, match="wrong or missing fields"):  # a v2 record without one
        AuditRecord.from_canonical(V1_BYTES.replace(b'"v":1', b'"v":2'))
    with pytest.raises(ValueError, match="unknown record schema version"):
        AuditRecord(**{**_fields(V1_BYTES), "v": 3})


def _fields(raw: bytes) -> dict[str, object]:
    import json

    return dict(json.loads(raw))


def test_errors_live_in_pipeshield_errors() -> None:
    assert AuditLogError is MovedAuditLogError is OldPathAuditLogError
    assert issubclass(AuditLogError, PipeshieldError) and issubclass(LogTamperedError, VerificationError)


def test_submit_returns_before_the_commit_and_completes_when_durable(tmp_path: Path) -> None:
    store = AuditLogStore(tmp_path / "log.db")
    release = threading.Event()
    real = store.append_many

    def slow(records: list[AuditRecord]) -> object:
        release.wait(5)
        return real(records)

    store.append_many = slow  # type: ignore[method-assign]
    with GroupCommitAppender(store) as log:
        started = time.perf_counter()
        futures = [log.submit(make_record(i)) for i in range(5)]
        assert time.perf_counter() - started < 1 and not any(f.done() for f in futures)
        release.set()
        indices = sorted(f.result(5).index for f in futures)
    assert indices == [0, 1, 2, 3, 4] and store.size() == 5
    store.close()


def test_a_caller_that_gives_up_cannot_break_the_committer(tmp_path: Path) -> None:
    """An asyncio request cancelled while awaiting its commit (the client hung up) cancels its
    wrap_future; the record still commits and the committer keeps serving later records."""
    store = AuditLogStore(tmp_path / "log.db")
    release = threading.Event()
    real = store.append_many
    store.append_many = lambda records: (release.wait(5), real(records))[1]  # type: ignore[method-assign]

    async def main(log: GroupCommitAppender) -> None:
        task = asyncio.ensure_future(asyncio.wrap_future(log.submit(make_record(0))))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        assert (await asyncio.wrap_future(log.submit(make_record(1)))).index == 1

    with GroupCommitAppender(store) as log:
        asyncio.run(main(log))
    assert store.size() == 2
    store.close()


def test_submit_after_close_raises(tmp_path: Path) -> None:
    store = AuditLogStore(tmp_path / "log.db")
    log = GroupCommitAppender(store)
    log.close()
    with pytest.raises(AuditLogError, match="closed"):
        log.submit(make_record(0))
    store.close()
