"""Audit-log throughput: durable appends/s (SQLite, PostgreSQL; per record and group commit) and
the time ``verify`` takes over 100k records.

Run: .venv/bin/python bench/audit_log.py [--seconds 3] [--threads 8] [--verify-records 100000]
     [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]   (``--pg ''`` skips PostgreSQL)
Every append counted here has returned, that is, committed durably (SQLite WAL with
synchronous=FULL; PostgreSQL with synchronous_commit=on). Group commit runs ``--threads`` callers
at once, as a gateway's request handlers would; per-record runs the same threads without it.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from pipeshield.gateway.audit_log import AuditLogStore, AuditRecord, GroupCommitAppender, verify


def record(i: int) -> AuditRecord:
    return AuditRecord.create(key_id="bench", client="127.0.0.1", model="digits", inputs=[[i] * 64],
                              output={"label": i % 10}, decision="allowed", latency_ms=1.0)


def rate(append: Callable[[AuditRecord], object], threads: int, seconds: float) -> float:
    count = [0] * threads
    stop = time.monotonic() + seconds

    def work(t: int) -> None:
        i = 0
        while time.monotonic() < stop:
            append(record(i))
            i += 1
        count[t] = i

    start = time.perf_counter()
    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(count) / (time.perf_counter() - start)


def run_backend(name: str, db: str, prefix: str, args: argparse.Namespace) -> None:
    store = AuditLogStore(db, prefix=prefix)
    try:
        one = rate(store.append, 1, args.seconds)
        many = rate(store.append, args.threads, args.seconds)
        with GroupCommitAppender(store) as log:
            grouped = rate(log.append, args.threads, args.seconds)
        verify(store)
        print(f"{name}: per-record 1 thread {one:,.0f}/s; per-record {args.threads} threads {many:,.0f}/s; "
              f"group commit {args.threads} threads {grouped:,.0f}/s  (log verifies, {store.size():,} records)")
    finally:
        if name != "sqlite":
            store.drop()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--verify-records", type=int, default=100_000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_backend("sqlite", str(Path(tmp) / "bench.db"), "audit_log", args)
        if args.pg:
            run_backend("postgresql", args.pg, f"bench_{uuid.uuid4().hex[:8]}", args)
        store = AuditLogStore(Path(tmp) / "verify.db")
        n, batch = args.verify_records, 5000
        for lo in range(0, n, batch):
            store.append_many([record(i) for i in range(lo, min(n, lo + batch))])
        start = time.perf_counter()
        result = verify(store)
        elapsed = time.perf_counter() - start
        print(f"verify {result.size:,} records (SQLite): {elapsed:.2f} s ({result.size / elapsed:,.0f} records/s)")
        start = time.perf_counter()
        store.head()
        print(f"tree head (checkpoint input) at {result.size:,} records: {(time.perf_counter() - start) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
