"""``verify``: recompute the log from its records and name the first record that is wrong.

One pass over one snapshot, O(n) hashing:

1. indices must run 0, 1, 2, ... (a gap is a deleted record);
2. each record's bytes must hash to its stored leaf hash (else it was edited);
3. each record's chain hash must equal ``SHA-256(0x02 || previous chain || leaf)`` (else it was
   moved, inserted, removed, or edited with its leaf hash recomputed);
4. each record must parse as a canonical :class:`AuditRecord`;
5. the cached head (size, Merkle root) must match the records (else records were cut from or added
   to the end behind the store's back);
6. for each signed checkpoint: its signature must verify with the given public key, the log must
   hold at least its size, and the Merkle root of its first ``size`` records must be the signed
   root; an RFC 6962 consistency proof from the checkpoint to the current root is then checked.

Without a checkpoint, someone with write access to the database can rewrite the whole log with
recomputed hashes, or drop its newest records and fix the head, and steps 1-5 pass: only a
checkpoint kept off the host catches that. A single checkpoint says *that* its first ``size``
records were rewritten, not which one (a root cannot be inverted); a series of checkpoints narrows
it to the records between the last one that verifies and the first that does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeshield.errors import AuditLogError, LogTamperedError, TamperKind
from pipeshield.gateway.audit_log._checkpoint import Checkpoint
from pipeshield.gateway.audit_log._merkle import (
    CompactRange,
    ProofError,
    consistency_proof,
    leaf_hash,
    verify_consistency,
)
from pipeshield.gateway.audit_log._record import AuditRecord
from pipeshield.gateway.audit_log._store import GENESIS_CHAIN, AuditLogStore, chain_hash

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["VerifiedLog", "verify"]

_HINT = "compare with an export or backup from before that time; the log after this point cannot be trusted"


@dataclass(frozen=True)
class VerifiedLog:
    """What verified: the log's size and root, and the checkpoints it extends consistently."""

    size: int
    root_hash: bytes
    checkpoints: tuple[Checkpoint, ...] = ()


def _bad(message: str, index: int | None, kind: TamperKind) -> LogTamperedError:
    return LogTamperedError(message, index=index, kind=kind, hint=_HINT)


def verify(store: AuditLogStore | str | Path,
           checkpoint: Checkpoint | Sequence[Checkpoint] | None = None,
           *, public_key: ec.EllipticCurvePublicKey | str | Path | None = None) -> VerifiedLog:
    """Verify the whole log (and ``checkpoint``\\s); raise :class:`LogTamperedError` at the first bad record.

    ``store`` is an open store or a database URL / SQLite path (opened read-only: never created).
    A checkpoint needs ``public_key``: the gateway's public key (a ``.pub`` path or a loaded key).
    """
    checkpoints = [checkpoint] if isinstance(checkpoint, Checkpoint) else list(checkpoint or [])
    key = None
    if checkpoints:
        if public_key is None:
            raise AuditLogError("a checkpoint is only as good as its signature: give the gateway's public key",
                                hint="pass --key gateway.pub")
        if isinstance(public_key, str | Path):
            from pipeshield.integrity.keys import load_public_key

            key = load_public_key(public_key)
        else:
            key = public_key
        for cp in checkpoints:
            cp.verify_signature(key)
    checkpoints.sort(key=lambda c: c.size)
    if not isinstance(store, AuditLogStore):
        with AuditLogStore(store, create=False) as opened:
            return _verify(opened, checkpoints)
    return _verify(store, checkpoints)


def _verify(store: AuditLogStore, checkpoints: list[Checkpoint]) -> VerifiedLog:
    wanted = {cp.size for cp in checkpoints}
    roots_at: dict[int, bytes] = {}
    leaves: list[bytes] = []
    rng = CompactRange()
    chain = GENESIS_CHAIN
    if 0 in wanted:
        roots_at[0] = rng.root()
    with store._read() as conn, conn.begin():  # one snapshot: the head and the rows agree in time
        head = store._head_in(conn)
        for row in store._rows_in(conn):
            i = rng.size
            if row.index != i:
                raise _bad(f"record {i} is missing (deleted): the indices jump from {i - 1} to {row.index}",
                           i, TamperKind.missing)
            body = row.body.encode()
            leaf = leaf_hash(body)
            if leaf != row.leaf_hash:
                raise _bad(f"record {i} was edited: its content does not match its stored leaf hash",
                           i, TamperKind.edited)
            chain = chain_hash(chain, leaf)
            if chain != row.chain_hash:
                what = "the first record" if i == 0 else f"record {i - 1}"
                raise _bad(f"record {i} does not follow {what}: its chain hash does not match (a record was "
                           "inserted, removed or moved here, or edited with its leaf hash recomputed)",
                           i, TamperKind.unchained)
            try:
                AuditRecord.from_canonical(body)
            except (ValueError, TypeError) as err:
                raise _bad(f"record {i} is not a valid audit record: {err}", i, TamperKind.malformed) from None
            rng.append(leaf)
            if checkpoints:
                leaves.append(leaf)
            if rng.size in wanted:
                roots_at[rng.size] = rng.root()
    n, root = rng.size, rng.root()
    if head.size > n:
        raise _bad(f"record {n} is missing (deleted): the log's head says it holds {head.size} records, "
                   f"only {n} are stored", n, TamperKind.missing)
    if head.size < n:
        raise _bad(f"record {head.size} was added behind the log's back: the head says {head.size} records, "
                   f"{n} are stored", head.size, TamperKind.head)
    if head.root_hash != root:
        raise _bad("the log's cached tree head does not match its records (the head row was altered)",
                   None, TamperKind.head)
    verified_below = 0
    for cp in checkpoints:
        if cp.size > n:
            raise _bad(f"record {n} is missing (deleted): the checkpoint of {cp.timestamp} signed {cp.size} "
                       f"records, the log holds {n}", n, TamperKind.missing)
        if roots_at[cp.size] != cp.root_hash:
            lo, hi = verified_below, cp.size - 1
            where = f"record {lo} was" if lo == hi else f"one or more of records {lo}..{hi} were"
            raise _bad(f"{where} rewritten (hashes and all): the first {cp.size} records do not match the "
                       f"checkpoint signed {cp.timestamp}", lo if lo == hi else None, TamperKind.checkpoint)
        try:
            verify_consistency(cp.size, n, cp.root_hash, root, consistency_proof(leaves, cp.size, n))
        except ProofError as err:  # unreachable once the roots matched; kept as the RFC's check
            raise _bad(f"the log is not a consistent extension of the checkpoint: {err}", None,
                       TamperKind.checkpoint) from None
        verified_below = cp.size
    return VerifiedLog(n, root, tuple(checkpoints))
