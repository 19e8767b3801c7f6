"""Child process for the durability and multi-process tests (run as a script, never imported).

    python _appender.py DB PREFIX COUNT TAG [group]

Appends COUNT records and prints ``ACK <index>`` after each append returns (that is, after the
commit), flushing at once, so the parent knows exactly what was acknowledged when it kills us.
"""

from __future__ import annotations

import sys
import threading

from pipeshield.gateway.audit_log import AuditLogStore, AuditRecord, GroupCommitAppender


def main() -> None:
    db, prefix, count, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    group = len(sys.argv) > 5 and sys.argv[5] == "group"
    store = AuditLogStore(db, prefix=prefix)
    out_lock = threading.Lock()

    def record(i: int) -> AuditRecord:
        return AuditRecord.create(key_id=tag, client="127.0.0.1", model="m", inputs=[i], output={"n": i},
                                  decision="allowed", latency_ms=0.5)

    def ack(index: int, i: int) -> None:
        with out_lock:
            sys.stdout.write(f"ACK {index} {tag} {i}\n")
            sys.stdout.flush()

    if not group:
        for i in range(count):
            ack(store.append(record(i)).index, i)
        return
    appender = GroupCommitAppender(store)

    def worker(offset: int) -> None:
        for i in range(offset, count, 4):
            ack(appender.append(record(i)).index, i)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    appender.close()


if __name__ == "__main__":
    main()
