"""Group commit: many concurrent appenders, one durable transaction per batch.

The promise, the same as :meth:`AuditLogStore.append`: **``append`` returns only after the
transaction holding its record has committed durably.** Callers arriving while a commit is in
flight wait for the next batch; one committer thread writes each batch (up to ``max_batch``
records) in a single transaction, then releases every caller in it. If that commit fails, every
caller of the batch gets the error and none of its records is in the log (the transaction is
atomic), so the gateway fails closed for exactly those requests.

What it buys: one fsync (SQLite) or one commit round trip (PostgreSQL) per batch instead of per
record, with no added wait when the log is idle (``max_wait_ms=0``, the default: the committer takes
whatever is queued the moment it is free and commits it at once, so a batch is "what arrived during
the previous commit"; a positive value holds the first record of a batch up to that long to collect
more, which only adds latency unless commits are far cheaper than arrivals).

:meth:`submit` queues a record and returns at once with a :class:`~concurrent.futures.Future` that
completes when the record is durable, so an asyncio server can await it
(``await asyncio.wrap_future(fut)``) without parking a worker thread on the fsync; the committer
completes each future as soon as its batch commits, which wakes the waiting event loop at once.

    with GroupCommitAppender(store) as log:
        index, leaf = log.append(record)   # durable here, from any thread
        pending = log.submit(record)       # durable when pending.result() returns
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

from pipeshield.errors import AuditLogError
from pipeshield.gateway.audit_log._record import AuditRecord
from pipeshield.gateway.audit_log._store import Appended, AuditLogStore

__all__ = ["GroupCommitAppender"]

_STOP = object()


class GroupCommitAppender:
    """Appends through one committer thread that commits whatever is waiting as one transaction."""

    def __init__(self, store: AuditLogStore, *, max_batch: int = 512, max_wait_ms: float = 0.0) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise AuditLogError("group commit: max_batch must be >= 1 and max_wait_ms >= 0")
        self.store = store
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="audit-log-committer", daemon=True)
        self._thread.start()

    def submit(self, record: AuditRecord) -> Future[Appended]:
        """Queue ``record``; the future's result (index and leaf hash) is set once it is durable, or
        its exception once the batch's commit failed (then the record is not in the log)."""
        future: Future[Appended] = Future()
        future.set_running_or_notify_cancel()  # a caller giving up (a cancelled wrap_future) cannot cancel it
        with self._close_lock:
            if self._closed:
                raise AuditLogError("the audit log appender is closed")
            self._queue.put((record, future))
        return future

    def append(self, record: AuditRecord, timeout: float | None = None) -> Appended:
        """Queue ``record`` and wait until its batch has committed; returns its index and leaf hash."""
        return self.submit(record).result(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            deadline = time.monotonic() + self.max_wait_ms / 1000 if self.max_wait_ms else 0.0
            stop = False
            while len(batch) < self.max_batch:
                try:  # no fixed wait by default: take what is queued now, commit as soon as it drains
                    wait = deadline - time.monotonic() if deadline else 0.0
                    nxt = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch)  # type: ignore[arg-type]
            if stop:
                return

    def _commit(self, batch: list[tuple[AuditRecord, Future[Appended]]]) -> None:
        try:
            results = self.store.append_many([record for record, _ in batch])
        except BaseException as err:  # every caller of the batch learns its record is not logged
            for _, future in batch:
                future.set_exception(err)
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)  # wakes a thread in result() or an event loop's wrap_future at once

    def close(self) -> None:
        """Commit what is queued, then stop the committer thread."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    def __enter__(self) -> GroupCommitAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
