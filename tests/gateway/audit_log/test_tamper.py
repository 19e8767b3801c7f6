"""Planted tampering on SQLite and PostgreSQL: verify names the exact first bad record each time.

The attacker here has write access to the database (not to the off-host checkpoint): they edit,
delete, insert and swap rows with plain SQL, and finally rewrite the log with every hash recomputed,
which only a signed checkpoint catches.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from pipeshield.gateway.audit_log import (
    AuditLogError,
    AuditLogStore,
    Checkpoint,
    CompactRange,
    LogTamperedError,
    TamperKind,
    chain_hash,
    leaf_hash,
    verify,
)
from pipeshield.integrity.keys import load_private_key, load_public_key
from tests.gateway.audit_log.conftest import make_record

N = 20


@pytest.fixture
def filled(store: AuditLogStore) -> AuditLogStore:
    store.append_many([make_record(i) for i in range(N)])
    return store


def _sql(store: AuditLogStore, sql: str, **params: object) -> None:
    records, head = store.table_names
    with store.engine.begin() as conn:
        conn.execute(text(sql.format(records=records, head=head)), params)


def _row(store: AuditLogStore, i: int) -> tuple[bytes, bytes, str]:
    row = next(store.records(i, i + 1))
    return row.leaf_hash, row.chain_hash, row.body


def _expect(store: AuditLogStore, index: int | None, kind: TamperKind, **kwargs: object) -> LogTamperedError:
    with pytest.raises(LogTamperedError) as info:
        verify(store, **kwargs)  # type: ignore[arg-type]
    assert (info.value.index, info.value.kind) == (index, kind), info.value.message
    if index is not None:
        assert f"record {index}" in info.value.message
    return info.value


def _edited_body(body: str) -> str:
    d = json.loads(body)
    d["decision"] = "denied" if d["decision"] == "allowed" else "allowed"
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


def _rewrite(store: AuditLogStore, rows: list[tuple[int, str]]) -> None:
    """Replace the whole log by ``rows`` (index, body) with every hash and the head recomputed."""
    records, head = store.table_names
    chain, rng, values = bytes(32), CompactRange(), []
    for i, body in rows:
        leaf = leaf_hash(body.encode())
        chain = chain_hash(chain, leaf)
        rng.append(leaf)
        values.append({"i": i, "l": leaf, "c": chain, "b": body})
    with store.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {records}"))
        if values:
            conn.execute(text(f"INSERT INTO {records} (idx, leaf_hash, chain_hash, body) VALUES (:i, :l, :c, :b)"), values)
        conn.execute(text(f"UPDATE {head} SET size = :s, chain = :c, compact = :k WHERE id = 1"),
                     {"s": rng.size, "c": chain, "k": rng.to_bytes()})


def _bodies(store: AuditLogStore) -> list[tuple[int, str]]:
    return [(r.index, r.body) for r in store.records()]


def test_intact_log_verifies(filled: AuditLogStore) -> None:
    result = verify(filled)
    assert result.size == N and result.root_hash == filled.head().root_hash


def test_edited_field(filled: AuditLogStore) -> None:
    _sql(filled, "UPDATE {records} SET body = :b WHERE idx = 7", b=_edited_body(_row(filled, 7)[2]))
    _expect(filled, 7, TamperKind.edited)


def test_edited_field_with_leaf_hash_recomputed(filled: AuditLogStore) -> None:
    body = _edited_body(_row(filled, 7)[2])
    _sql(filled, "UPDATE {records} SET body = :b, leaf_hash = :l WHERE idx = 7", b=body, l=leaf_hash(body.encode()))
    _expect(filled, 7, TamperKind.unchained)


def test_deleted_record(filled: AuditLogStore) -> None:
    _sql(filled, "DELETE FROM {records} WHERE idx = 7")
    _expect(filled, 7, TamperKind.missing)


def test_deleted_record_with_indices_closed_up(filled: AuditLogStore) -> None:
    _sql(filled, "DELETE FROM {records} WHERE idx = 7")
    _sql(filled, "UPDATE {records} SET idx = idx + 1000 WHERE idx > 7")
    _sql(filled, "UPDATE {records} SET idx = idx - 1001 WHERE idx > 1000")
    _expect(filled, 7, TamperKind.unchained)


def test_deleted_newest_record(filled: AuditLogStore) -> None:
    _sql(filled, f"DELETE FROM {{records}} WHERE idx = {N - 1}")
    _expect(filled, N - 1, TamperKind.missing)


def test_inserted_forged_record(filled: AuditLogStore) -> None:
    forged = make_record(99, key_id="attacker").canonical().decode()
    _sql(filled, "UPDATE {records} SET idx = idx + 1000 WHERE idx >= 5")
    _sql(filled, "UPDATE {records} SET idx = idx - 999 WHERE idx >= 1000")
    _sql(filled, "INSERT INTO {records} (idx, leaf_hash, chain_hash, body) VALUES (5, :l, :c, :b)",
         l=leaf_hash(forged.encode()), c=_row(filled, 6)[1], b=forged)
    _expect(filled, 5, TamperKind.unchained)


def test_forged_record_appended_behind_the_stores_back(filled: AuditLogStore) -> None:
    forged = make_record(99).canonical()
    leaf = leaf_hash(forged)
    _sql(filled, "INSERT INTO {records} (idx, leaf_hash, chain_hash, body) VALUES (:i, :l, :c, :b)",
         i=N, l=leaf, c=chain_hash(_row(filled, N - 1)[1], leaf), b=forged.decode())
    _expect(filled, N, TamperKind.head)


@pytest.mark.parametrize("whole_rows", [True, False], ids=["rows", "bodies"])
def test_swapped_records(filled: AuditLogStore, whole_rows: bool) -> None:
    (l3, c3, b3), (l11, c11, b11) = _row(filled, 3), _row(filled, 11)
    if whole_rows:  # a consistent move: each body still matches its leaf hash, only the order breaks
        _sql(filled, "UPDATE {records} SET leaf_hash = :l, chain_hash = :c, body = :b WHERE idx = 3", l=l11, c=c11, b=b11)
        _sql(filled, "UPDATE {records} SET leaf_hash = :l, chain_hash = :c, body = :b WHERE idx = 11", l=l3, c=c3, b=b3)
        _expect(filled, 3, TamperKind.unchained)
    else:
        _sql(filled, "UPDATE {records} SET body = :b WHERE idx = 3", b=b11)
        _sql(filled, "UPDATE {records} SET body = :b WHERE idx = 11", b=b3)
        _expect(filled, 3, TamperKind.edited)


def test_non_canonical_record_is_malformed(filled: AuditLogStore) -> None:
    body = json.dumps(json.loads(_row(filled, 4)[2]), indent=1)  # same content, other bytes: rehashed
    _rewrite(filled, [(i, body if i == 4 else b) for i, b in _bodies(filled)])
    _expect(filled, 4, TamperKind.malformed)


def test_full_rewrite_is_caught_only_by_a_checkpoint(filled: AuditLogStore, gateway_keys: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    private, public = gateway_keys
    cp_file = tmp_path / "cp.json"
    filled.checkpoint(load_private_key(private)).write(cp_file)
    filled.append_many([make_record(i) for i in range(N, N + 5)])  # the log grows after the checkpoint
    cp = Checkpoint.read(cp_file)
    assert verify(filled, cp, public_key=public).checkpoints == (cp,)

    rows = _bodies(filled)
    rows[6] = (6, _edited_body(rows[6][1]))
    _rewrite(filled, rows)
    verify(filled)  # every hash recomputed: the log alone looks intact
    err = _expect(filled, None, TamperKind.checkpoint, checkpoint=cp, public_key=public)
    assert f"records 0..{N - 1}" in err.message

    # a rewrite after the checkpointed prefix is not something this checkpoint can see
    rows = _bodies(filled)
    _rewrite(filled, [*rows[:6], (6, _edited_body(rows[6][1])), *rows[7:N + 2], (N + 2, _edited_body(rows[N + 2][1])),
                      *rows[N + 3:]])
    verify(filled, cp, public_key=public)


def test_checkpoint_series_names_the_exact_rewritten_record(store: AuditLogStore,
                                                            gateway_keys: tuple[Path, Path]) -> None:
    private, public = gateway_keys
    key = load_private_key(private)
    series = []
    for i in range(N):  # a checkpoint after every append: the finest localisation there is
        store.append(make_record(i))
        series.append(store.checkpoint(key))
    rows = _bodies(store)
    rows[13] = (13, _edited_body(rows[13][1]))
    _rewrite(store, rows)
    _expect(store, 13, TamperKind.checkpoint, checkpoint=series, public_key=public)


def test_truncation_with_recomputed_head_is_caught_by_a_checkpoint(filled: AuditLogStore,
                                                                   gateway_keys: tuple[Path, Path]) -> None:
    private, public = gateway_keys
    cp = filled.checkpoint(load_private_key(private))
    _rewrite(filled, _bodies(filled)[:N - 3])
    verify(filled)
    _expect(filled, N - 3, TamperKind.missing, checkpoint=cp, public_key=public)


def test_altered_or_foreign_checkpoint(filled: AuditLogStore, gateway_keys: tuple[Path, Path], tmp_path: Path) -> None:
    from pipeshield.integrity.keys import generate_keypair

    private, public = gateway_keys
    cp = filled.checkpoint(load_private_key(private))
    d = cp.to_dict()
    d["size"] = N - 1
    altered = Checkpoint.from_json(json.dumps(d))
    _expect(filled, None, TamperKind.signature, checkpoint=altered, public_key=public)
    other = generate_keypair(tmp_path / "other")
    _expect(filled, None, TamperKind.signature, checkpoint=cp, public_key=load_public_key(other.public))
    with pytest.raises(AuditLogError, match="public key"):
        verify(filled, cp)
    with pytest.raises(AuditLogError, match="not a pipeshield-audit-checkpoint"):
        Checkpoint.from_json('{"size": 3}', source="x.json")
