"""The OpenSSF Model Signing (OMS) v1.0 signature format, written and read without sigstore.

A signature file is a Sigstore bundle (``application/vnd.dev.sigstore.bundle.v0.3+json``) that
holds a DSSE envelope. The envelope's payload is an in-toto Statement v1 whose predicate
(``https://model_signing/signature/v1.0``) lists every resource with its digest; the one subject
is the model's name with, as its ``sha256``, the SHA-256 of the resources' raw digests
concatenated in listed order. The signature is ECDSA (DER, base64) over the DSSE
pre-authentication encoding of the exact payload bytes. The ``model_signing`` package reads and
writes this format; the interoperability tests prove it both ways.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pipeshield.integrity.manifest import Manifest, Serialization

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "Bundle",
    "encode_bundle",
    "manifest_from_statement",
    "pae",
    "parse_bundle",
    "statement_for",
]

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"


class FormatError(ValueError):
    """The signature file is not a well-formed OMS bundle; the message says which field."""


@dataclass(frozen=True)
class Bundle:
    payload_type: str
    payload: bytes
    signature: bytes
    key_hint: str | None


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature is actually over."""
    return b" ".join([f"DSSEv1 {len(payload_type)} {payload_type} {len(payload)}".encode(), payload])


def root_digest(manifest: Manifest) -> str:
    h = hashlib.sha256()
    for digest in manifest.resources.values():
        h.update(bytes.fromhex(digest))
    return h.hexdigest()


def statement_for(manifest: Manifest) -> dict[str, Any]:
    algorithm = manifest.serialization.hash_type
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": manifest.model_name, "digest": {"sha256": root_digest(manifest)}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "resources": [{"algorithm": algorithm, "digest": d, "name": n} for n, d in manifest.resources.items()],
            "serialization": manifest.serialization.to_dict(),
        },
    }


def encode_bundle(payload: bytes, signature_der: bytes, key_hint: str) -> bytes:
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key_hint}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature_der).decode(), "keyid": ""}],
        },
    }
    return (json.dumps(bundle, indent=2) + "\n").encode()


def _get(obj: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise FormatError(f"{where}.{key} is missing")
    value = obj[key]
    if not isinstance(value, kind):
        raise FormatError(f"{where}.{key} should be a {kind.__name__}")
    return value


def _b64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"{where} is not valid base64") from None


def parse_bundle(raw: bytes) -> Bundle:
    """Read a bundle's envelope; raises FormatError naming the first bad field."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FormatError("not a JSON signature bundle") from None
    media = _get(data, "mediaType", str, "bundle")
    if media != BUNDLE_MEDIA_TYPE:
        raise FormatError(f"bundle.mediaType is {media!r}, expected {BUNDLE_MEDIA_TYPE!r}")
    envelope = _get(data, "dsseEnvelope", dict, "bundle")
    payload = _b64(_get(envelope, "payload", str, "dsseEnvelope"), "dsseEnvelope.payload")
    payload_type = _get(envelope, "payloadType", str, "dsseEnvelope")
    signatures = _get(envelope, "signatures", list, "dsseEnvelope")
    if not signatures:
        raise FormatError("dsseEnvelope.signatures is empty")
    sig = _b64(_get(signatures[0], "sig", str, "dsseEnvelope.signatures[0]"), "dsseEnvelope.signatures[0].sig")
    material = data.get("verificationMaterial") or {}
    hint = (material.get("publicKey") or {}).get("hint") if isinstance(material, dict) else None
    return Bundle(payload_type, payload, sig, hint if isinstance(hint, str) and hint else None)


def manifest_from_statement(payload: bytes) -> Manifest:
    """The signed manifest, after checking the statement's type and its root digest."""
    try:
        statement = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FormatError("the signed payload is not JSON") from None
    if _get(statement, "_type", str, "statement") != STATEMENT_TYPE:
        raise FormatError(f"statement._type is not {STATEMENT_TYPE!r}")
    predicate_type = _get(statement, "predicateType", str, "statement")
    if predicate_type != PREDICATE_TYPE:
        raise FormatError(f"statement.predicateType is {predicate_type!r}, expected {PREDICATE_TYPE!r}")
    subjects = _get(statement, "subject", list, "statement")
    if len(subjects) != 1:
        raise FormatError(f"statement.subject has {len(subjects)} entries, expected 1")
    name = _get(subjects[0], "name", str, "statement.subject[0]")
    expected_root = _get(_get(subjects[0], "digest", dict, "statement.subject[0]"), "sha256", str, "statement.subject[0].digest")
    predicate = _get(statement, "predicate", dict, "statement")
    try:
        serialization = Serialization.from_dict(_get(predicate, "serialization", dict, "predicate"))
    except FormatError:
        raise
    except ValueError as err:
        raise FormatError(f"predicate.serialization: {err}") from None
    resources: dict[str, str] = {}
    for i, res in enumerate(_get(predicate, "resources", list, "predicate")):
        where = f"predicate.resources[{i}]"
        rname = _get(res, "name", str, where)
        digest = _get(res, "digest", str, where)
        algorithm = _get(res, "algorithm", str, where)
        if algorithm != serialization.hash_type:
            raise FormatError(f"{where}.algorithm is {algorithm!r} but serialization.hash_type is {serialization.hash_type!r}")
        try:
            bytes.fromhex(digest)
        except ValueError:
            raise FormatError(f"{where}.digest is not hex") from None
        if rname in resources:
            raise FormatError(f"{where}.name {rname!r} is listed twice")
        resources[rname] = digest.lower()
    manifest = Manifest(name, resources, serialization)
    if root_digest(manifest) != expected_root.lower():
        raise FormatError("the subject digest does not match the listed resources (the statement was altered)")
    return manifest
