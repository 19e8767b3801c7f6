"""The audit record: what the gateway logs for every request, and its canonical bytes.

A record is serialised as sorted-key, compact JSON (UTF-8, no NaN/Infinity), and those exact bytes
are stored and hashed (``leaf_hash(record.canonical())``), so anyone can recompute a leaf hash from
the stored text. The store keeps the bytes it hashed; :func:`AuditRecord.from_canonical` refuses
text that is not in canonical form, so an edit that keeps the meaning but changes the bytes is
still an edit.

Schema versions: ``v=2`` records carry ``request_id`` (the ``X-Request-ID`` the caller received, so
an operator can find a request's record by its id); ``v=1`` records, written before that field
existed, have no such key at all and keep their exact bytes, so old logs still verify.

    >>> r = AuditRecord.create(key_id="k1", client="10.0.0.7", model="digits", inputs=[[0.1, 0.2]],
    ...                        output={"label": 3}, decision="allowed", latency_ms=1.5,
    ...                        time="2026-01-02T03:04:05.000006Z")
    >>> r.canonical()[:60]
    b'{"client":"10.0.0.7","decision":"allowed","input":null,"inpu'
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["SCHEMA_VERSION", "AuditRecord", "Decision", "canonical_json", "input_digest"]

SCHEMA_VERSION = 2
_FIELDS_V1 = ("v", "time", "key_id", "client", "model", "input_digest", "input", "output", "decision", "reason",
              "latency_ms")
_FIELDS = {1: _FIELDS_V1, 2: (*_FIELDS_V1, "request_id")}
_FIELD_SETS = {v: frozenset(f) for v, f in _FIELDS.items()}
_TIME = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}Z$")


class Decision(enum.StrEnum):
    allowed = "allowed"
    denied = "denied"


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8, and no NaN/Infinity (they are not JSON)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def input_digest(inputs: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of a request's inputs."""
    return "sha256:" + hashlib.sha256(canonical_json(inputs)).hexdigest()


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class AuditRecord:
    """One request as the gateway saw it. ``input`` is kept only when the operator asks for it;
    ``input_digest`` always is, so a blocklisted input can be found without storing inputs."""

    time: str
    key_id: str | None
    client: str | None
    model: str | None
    input_digest: str
    decision: Decision
    latency_ms: float
    reason: str | None = None
    output: Any = None
    input: Any = None
    request_id: str | None = None
    v: int = SCHEMA_VERSION
    _canonical: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "decision", Decision(self.decision))
        if not isinstance(self.time, str) or not _TIME.match(self.time):
            raise ValueError(f"time must look like 2026-01-02T03:04:05.000006Z (got {self.time!r})")
        if not self.input_digest.startswith("sha256:") or len(self.input_digest) != 71:
            raise ValueError(f"input_digest must be 'sha256:<64 hex>' (got {self.input_digest!r})")
        if isinstance(self.latency_ms, bool) or not isinstance(self.latency_ms, int | float) \
                or not math.isfinite(self.latency_ms) or self.latency_ms < 0:
            raise ValueError(f"latency_ms must be a finite number >= 0 (got {self.latency_ms!r})")
        if isinstance(self.v, bool) or self.v not in _FIELDS:
            raise ValueError(f"unknown record schema version {self.v!r}")
        if self.v == 1 and self.request_id is not None:
            raise ValueError("request_id needs a version 2 record (v=1 records have no such field)")
        if self.request_id is not None and not isinstance(self.request_id, str):
            raise ValueError(f"request_id must be a string or null (got {self.request_id!r})")
        # JSON-serialisable and finite, or raise now; the bytes are kept: serialised once per record
        object.__setattr__(self, "_canonical", canonical_json(self.to_dict()))

    @classmethod
    def create(cls, *, key_id: str | None, client: str | None, model: str | None, inputs: Any,
               decision: Decision | str, latency_ms: float, reason: str | None = None, output: Any = None,
               keep_input: bool = False, time: str | None = None, request_id: str | None = None) -> AuditRecord:
        """A record stamped now (UTC, microseconds), with the digest of ``inputs``."""
        return cls(time=time or _utc_now(), key_id=key_id, client=client, model=model,
                   input_digest=input_digest(inputs), decision=Decision(decision), latency_ms=latency_ms,
                   reason=reason, output=output, input=inputs if keep_input else None, request_id=request_id)

    def to_dict(self) -> dict[str, Any]:
        # shallow: asdict's deep copy is verify's hot spot; a v1 record has no request_id key at all
        d = {name: getattr(self, name) for name in _FIELDS[self.v]}
        d["decision"] = self.decision.value
        return d

    def canonical(self) -> bytes:
        """The bytes stored and hashed (computed once, when the record was made)."""
        return self._canonical

    @classmethod
    def from_canonical(cls, data: bytes | str) -> AuditRecord:
        """Parse stored bytes; ``ValueError`` unless they are a valid record in canonical form."""
        raw = data.encode() if isinstance(data, str) else data
        value = json.loads(raw)
        version = value.get("v") if isinstance(value, dict) else None
        if not isinstance(version, int) or version not in _FIELD_SETS or value.keys() != _FIELD_SETS[version]:
            raise ValueError("not an audit record (wrong or missing fields, or an unknown schema version)")
        record = cls(**value)
        if record.canonical() != raw:
            raise ValueError("not in canonical form (sorted keys, compact JSON)")
        return record
