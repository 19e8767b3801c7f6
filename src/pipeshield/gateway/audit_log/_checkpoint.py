"""Signed checkpoints: the log's size and Merkle root, signed with the gateway's ECDSA key.

A hash chain or tree proves integrity only if its head is anchored somewhere the attacker cannot
rewrite. A checkpoint is that anchor: write one periodically (``pipeshield log checkpoint``) and
copy it off the host (object storage with retention, a ticket, another team's server). Later,
``pipeshield log verify --checkpoint FILE --key gateway.pub`` checks that the log still holds the
checkpointed tree as its prefix, so even someone who rewrote every record *and* every hash is
caught, as long as the rewrite touched a record the checkpoint covers.

The file is small JSON (format ``pipeshield-audit-checkpoint/v1``)::

    {
      "format": "pipeshield-audit-checkpoint/v1",
      "origin": "pipeshield/audit_log",          # which log (like a tlog checkpoint's origin line)
      "size": 1024,                              # records covered: indices 0..size-1
      "root_hash": "<64 hex>",                   # RFC 6962 root of those records' leaf hashes
      "timestamp": "2026-01-02T03:04:05.000006Z",
      "key_hint": "<64 hex>",                    # SHA-256 of the public key's PEM (as in `pipeshield sign`)
      "signature": "<base64 DER ECDSA>"
    }

The signature covers the canonical JSON (sorted keys, compact) of every field but ``signature``.
It mirrors the C2SP ``tlog-checkpoint`` body (origin, size, root) plus a timestamp; it is JSON
rather than a signed note because signed notes use Ed25519 and pipeshield's keys (``pipeshield
keygen``) are ECDSA P-256/P-384, the same ones used to sign models.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeshield.core.files import atomic_write_text
from pipeshield.errors import AuditLogError, LogTamperedError, TamperKind
from pipeshield.gateway.audit_log._record import canonical_json
from pipeshield.integrity.keys import ec_hash, key_hint

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["CHECKPOINT_FORMAT", "Checkpoint", "sign_checkpoint"]

CHECKPOINT_FORMAT = "pipeshield-audit-checkpoint/v1"
_KEYS = {"format", "origin", "size", "root_hash", "timestamp", "key_hint", "signature"}


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    timestamp: str
    key_hint: str
    signature: bytes

    def __post_init__(self) -> None:
        if self.size < 0 or len(self.root_hash) != 32:
            raise ValueError("a checkpoint needs size >= 0 and a 32-byte root hash")

    def signed_message(self) -> bytes:
        return canonical_json({"format": CHECKPOINT_FORMAT, "origin": self.origin, "size": self.size,
                               "root_hash": self.root_hash.hex(), "timestamp": self.timestamp,
                               "key_hint": self.key_hint})

    def to_dict(self) -> dict[str, Any]:
        return {"format": CHECKPOINT_FORMAT, "origin": self.origin, "size": self.size,
                "root_hash": self.root_hash.hex(), "timestamp": self.timestamp, "key_hint": self.key_hint,
                "signature": base64.b64encode(self.signature).decode()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def write(self, path: Path | str) -> None:
        """Write atomically (temp file, fsync, rename): a reader never sees half a checkpoint."""
        atomic_write_text(path, self.to_json())

    @classmethod
    def from_json(cls, text: str, *, source: str = "checkpoint") -> Checkpoint:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as err:
            raise AuditLogError(f"{source}: not JSON ({err.msg} at line {err.lineno})") from None
        if not isinstance(d, dict) or set(d) != _KEYS or d.get("format") != CHECKPOINT_FORMAT:
            raise AuditLogError(f"{source}: not a {CHECKPOINT_FORMAT} checkpoint")
        try:
            if not isinstance(d["size"], int) or isinstance(d["size"], bool):
                raise ValueError("size")
            if not all(isinstance(d[k], str) for k in ("origin", "timestamp", "key_hint")):
                raise ValueError("text field")
            return cls(origin=d["origin"], size=d["size"], root_hash=bytes.fromhex(d["root_hash"]),
                       timestamp=d["timestamp"], key_hint=d["key_hint"],
                       signature=base64.b64decode(d["signature"], validate=True))
        except (ValueError, TypeError, binascii.Error):
            raise AuditLogError(f"{source}: malformed checkpoint field values") from None

    @classmethod
    def read(cls, path: Path | str) -> Checkpoint:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise AuditLogError(f"{path}: cannot read the checkpoint: {getattr(err, 'strerror', None) or err}") from None
        return cls.from_json(text, source=str(path))

    def verify_signature(self, public_key: ec.EllipticCurvePublicKey) -> None:
        """Raise :class:`LogTamperedError` (kind ``signature``) unless ``public_key`` signed this."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric import ec

        if self.key_hint != key_hint(public_key):
            raise LogTamperedError("the checkpoint was not signed by the given key (key hints differ)",
                                   index=None, kind=TamperKind.signature,
                                   hint="pass --key with the gateway's public key")
        try:
            public_key.verify(self.signature, self.signed_message(), ec.ECDSA(ec_hash(public_key)))
        except InvalidSignature:
            raise LogTamperedError("the checkpoint's signature does not verify: it was altered after signing",
                                   index=None, kind=TamperKind.signature) from None


def sign_checkpoint(size: int, root_hash: bytes, private_key: ec.EllipticCurvePrivateKey, *, origin: str,
                    timestamp: str | None = None) -> Checkpoint:
    """Sign (size, root) now with the gateway's key."""
    from cryptography.hazmat.primitives.asymmetric import ec

    public = private_key.public_key()
    unsigned = Checkpoint(origin=origin, size=size, root_hash=root_hash,
                          timestamp=timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                          key_hint=key_hint(public), signature=b"")
    signature = private_key.sign(unsigned.signed_message(), ec.ECDSA(ec_hash(public)))
    return Checkpoint(origin=unsigned.origin, size=size, root_hash=root_hash, timestamp=unsigned.timestamp,
                      key_hint=unsigned.key_hint, signature=signature)
