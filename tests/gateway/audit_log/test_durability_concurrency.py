"""Crash and concurrency ground truth: SIGKILL after k acknowledgements loses none of them; threads
and processes appending at once get one dense order 0..n-1 that verifies."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeshield.gateway.audit_log import AuditLogStore, AuditRecord, GroupCommitAppender, verify
from tests.gateway.audit_log.conftest import make_record

APPENDER = Path(__file__).with_name("_appender.py")
REPO = Path(__file__).resolve().parents[3]


def _spawn(db: str, prefix: str, count: int, tag: str, *mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen([sys.executable, str(APPENDER), db, prefix, str(count), tag, *mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _acks(lines: list[str]) -> list[tuple[int, str, int]]:
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[0] == "ACK":
            out.append((int(parts[1]), parts[2], int(parts[3])))
    return out


@pytest.mark.parametrize("mode", [(), ("group",)], ids=["per-record", "group-commit"])
def test_sigkill_loses_no_acknowledged_record(store_location: tuple[str, str], mode: tuple[str, ...]) -> None:
    db, prefix = store_location
    AuditLogStore(db, prefix=prefix).close()  # created before the child starts
    kill_after = random.Random(7 + len(mode)).randint(20, 120)
    child = _spawn(db, prefix, 100_000, "crash", *mode)
    assert child.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while len(lines) < kill_after and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        lines.append(line)
    child.send_signal(signal.SIGKILL)  # mid-append: more records may be committed, none may be lost
    rest, err = child.communicate(timeout=30)
    acked = _acks(lines)  # only what we read before the kill counts as acknowledged
    assert len(acked) >= kill_after, err[-2000:]
    with AuditLogStore(db, prefix=prefix, create=False) as store:
        result = verify(store)
        stored = {r.index: r.record().output["n"] for r in store.records()}
    assert result.size >= len(acked)
    for index, _, i in acked:
        assert stored.get(index) == i, f"acknowledged record {index} is missing after the crash"


def test_threads_get_a_dense_order(store: AuditLogStore) -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(200):
            index = store.append(make_record(t * 1000 + i)).index
            with lock:
                seen.append(index)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(800))
    assert verify(store).size == 800


def test_group_commit_threads_dense_and_durable_promise(store: AuditLogStore) -> None:
    seen: list[int] = []
    lock = threading.Lock()
    with GroupCommitAppender(store, max_batch=64) as log:
        def work(t: int) -> None:
            for i in range(200):
                index = log.append(make_record(t * 1000 + i)).index
                assert index < store.size()  # committed (visible to a new reader) before append returned
                with lock:
                    seen.append(index)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(seen) == list(range(800))
    assert verify(store).size == 800


def test_group_commit_failure_reaches_every_caller_of_the_batch(tmp_path: Path) -> None:
    store = AuditLogStore(tmp_path / "a.db")
    with GroupCommitAppender(store) as log:
        store.drop()  # the database loses its tables under the running gateway
        from pipeshield.gateway.audit_log import AuditLogError

        with pytest.raises(AuditLogError, match="cannot append"):
            log.append(make_record(1))


def test_two_processes_on_one_log(store_location: tuple[str, str]) -> None:
    db, prefix = store_location
    AuditLogStore(db, prefix=prefix).close()
    children = [_spawn(db, prefix, 150, f"replica{k}") for k in range(2)]
    outs = [c.communicate(timeout=120) for c in children]
    assert all(c.returncode == 0 for c in children), [o[1][-1500:] for o in outs]
    acked = [a for out, _ in outs for a in _acks(out.splitlines())]
    assert sorted(a[0] for a in acked) == list(range(300))
    with AuditLogStore(db, prefix=prefix, create=False) as store:
        assert verify(store).size == 300
        by_index = {r.index: (r.record().key_id, r.record().output["n"]) for r in store.records()}
    for index, tag, i in acked:
        assert by_index[index] == (tag, i)


def test_record_round_trip_and_validation() -> None:
    r = make_record(3)
    assert AuditRecord.from_canonical(r.canonical()) == r
    assert r.input_digest.startswith("sha256:") and r.input is None
    with pytest.raises(ValueError):
        make_record(1, latency_ms=float("nan"))
    with pytest.raises(ValueError):
        make_record(1, decision="maybe")
    with pytest.raises(ValueError):
        AuditRecord.from_canonical(b'{"v": 1}')
