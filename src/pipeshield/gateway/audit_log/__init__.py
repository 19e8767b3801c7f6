"""Tamper-evident audit log for the inference gateway (issue 7, item 7).

Every request becomes an :class:`AuditRecord`, appended durably to an append-only store (SQLite
in WAL mode by default, PostgreSQL through a SQLAlchemy URL). Records are RFC 6962 Merkle leaves
and links of a hash chain; signed :class:`Checkpoint`\\s of the tree head, kept off the host, let
:func:`verify` catch even a log rewritten with recomputed hashes.

    from pipeshield.gateway.audit_log import AuditLogStore, AuditRecord, verify
    from pipeshield.integrity.keys import load_private_key

    store = AuditLogStore("audit.db")
    index, leaf = store.append(AuditRecord.create(key_id="k1", client="10.0.0.7", model="digits",
                                                  inputs=[[0.0] * 64], output={"label": 3},
                                                  decision="allowed", latency_ms=2.1))
    store.checkpoint(load_private_key("gateway.key")).write("/mnt/offhost/cp.json")
    verify(store, Checkpoint.read("/mnt/offhost/cp.json"), public_key="gateway.pub")
"""

from __future__ import annotations

from pipeshield.errors import AuditLogError, LogTamperedError, TamperKind
from pipeshield.gateway.audit_log._checkpoint import CHECKPOINT_FORMAT, Checkpoint, sign_checkpoint
from pipeshield.gateway.audit_log._group import GroupCommitAppender
from pipeshield.gateway.audit_log._merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from pipeshield.gateway.audit_log._record import AuditRecord, Decision, canonical_json, input_digest
from pipeshield.gateway.audit_log._store import (
    DEFAULT_DB,
    Appended,
    AuditLogStore,
    StoredRecord,
    TreeHead,
    chain_hash,
)
from pipeshield.gateway.audit_log._verify import VerifiedLog, verify

__all__ = [
    "CHECKPOINT_FORMAT",
    "DEFAULT_DB",
    "EMPTY_ROOT",
    "Appended",
    "AuditLogError",
    "AuditLogStore",
    "AuditRecord",
    "Checkpoint",
    "CompactRange",
    "Decision",
    "GroupCommitAppender",
    "LogTamperedError",
    "ProofError",
    "StoredRecord",
    "TamperKind",
    "TreeHead",
    "VerifiedLog",
    "canonical_json",
    "chain_hash",
    "consistency_proof",
    "inclusion_proof",
    "input_digest",
    "leaf_hash",
    "node_hash",
    "root",
    "sign_checkpoint",
    "verify",
    "verify_consistency",
    "verify_inclusion",
]
