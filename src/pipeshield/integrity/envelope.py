"""Signed statements: seal an in-toto Statement in a DSSE envelope inside a Sigstore bundle, and
open one against a set of trusted keys.

Both model signatures (OMS) and training provenance (SLSA) are statements sealed this way; only
the predicate differs. Opening checks, in order: the bundle is well-formed, the payload is an
in-toto statement, the key hint names a trusted key (or, without a hint, any trusted key), and
the ECDSA signature covers exactly the payload bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeshield.errors import VerificationError
from pipeshield.integrity import oms
from pipeshield.integrity.keys import ec_hash, key_hint, load_public_key

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["Opened", "TrustedKeys", "open_sealed", "seal", "trusted_keys", "verification_failed"]

TrustedKeys = list[tuple[Path, "ec.EllipticCurvePublicKey"]]


@dataclass(frozen=True)
class Opened:
    payload: bytes
    statement: dict[str, Any]
    key_path: Path
    key_hint: str


def trusted_keys(paths: Sequence[Path | str]) -> TrustedKeys:
    return [(Path(p), load_public_key(p)) for p in paths]


def verification_failed(path: Path, problems: list[str], hint: str | None = None) -> VerificationError:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return VerificationError(f"{path}: verification failed: {problems[0]}{more}", problems=problems, hint=hint)


def seal(statement: dict[str, Any], key: ec.EllipticCurvePrivateKey) -> bytes:
    """The bundle bytes for ``statement`` signed with ``key``."""
    from cryptography.hazmat.primitives.asymmetric import ec

    payload = json.dumps(statement, indent=2).encode()
    der = key.sign(oms.pae(oms.PAYLOAD_TYPE, payload), ec.ECDSA(ec_hash(key.public_key())))
    return oms.encode_bundle(payload, der, key_hint(key.public_key()))


def open_sealed(subject: Path, sig_path: Path, keys: TrustedKeys, *, unsigned_hint: str | None = None) -> Opened:
    """The verified statement of ``sig_path``; raises VerificationError naming ``subject``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        raw = sig_path.read_bytes()
    except FileNotFoundError:
        raise verification_failed(subject, [f"unsigned: no signature at {sig_path}"], hint=unsigned_hint) from None
    except OSError as err:
        raise verification_failed(subject, [f"cannot read the signature {sig_path}: {err.strerror}"]) from None
    try:
        bundle = oms.parse_bundle(raw)
    except oms.FormatError as err:
        raise verification_failed(subject, [f"{sig_path}: malformed signature: {err}"]) from None
    if bundle.payload_type != oms.PAYLOAD_TYPE:
        raise verification_failed(subject, [f"{sig_path}: payload type {bundle.payload_type!r}, expected {oms.PAYLOAD_TYPE!r}"])
    candidates = keys if bundle.key_hint is None else [(p, k) for p, k in keys if key_hint(k) == bundle.key_hint]
    if not candidates:
        names = ", ".join(str(p) for p, _ in keys)
        hint = (bundle.key_hint or "")[:16]
        raise verification_failed(
            subject, [f"{sig_path}: signed by a key that is not trusted (key hint {hint}..., trusted: {names})"]
        )
    message = oms.pae(bundle.payload_type, bundle.payload)
    for key_path, key in candidates:
        try:
            key.verify(bundle.signature, message, ec.ECDSA(ec_hash(key)))
        except InvalidSignature:
            continue
        try:
            statement = json.loads(bundle.payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise verification_failed(subject, [f"{sig_path}: the signed payload is not JSON"]) from None
        if not isinstance(statement, dict):
            raise verification_failed(subject, [f"{sig_path}: the signed payload is not a statement"])
        return Opened(bundle.payload, statement, key_path, key_hint(key))
    raise verification_failed(
        subject, [f"{sig_path}: the signature does not match the signed statement (bad signature or wrong key)"]
    )
