"""Signing keys: ECDSA P-256 / P-384 (/ P-521 to verify), PEM, the private half written 0600.

These are the key types OpenSSF Model Signing accepts for key-based signatures; the hash that
goes with each curve (SHA-256 / SHA-384 / SHA-512) is fixed by the curve.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeshield.core.files import atomic_write_bytes
from pipeshield.errors import KeyFileError

if TYPE_CHECKING:  # cryptography is imported when a key is used: `sign` hashes while it loads
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "CURVES",
    "KeyPairPaths",
    "ec_hash",
    "generate_keypair",
    "key_hint",
    "load_private_key",
    "load_public_key",
    "precheck_private_key",
]

CURVES: dict[str, str] = {"P-256": "SECP256R1", "P-384": "SECP384R1"}
_SUPPORTED = {"secp256r1", "secp384r1", "secp521r1"}


@dataclass(frozen=True)
class KeyPairPaths:
    private: Path
    public: Path


def ec_hash(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    from cryptography.hazmat.primitives import hashes

    size = key.curve.key_size
    return {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[size]


def key_hint(key: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 of the PEM SubjectPublicKeyInfo: the bundle's ``publicKey.hint``."""
    from cryptography.hazmat.primitives import serialization

    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def _check_curve(key: ec.EllipticCurvePublicKey, path: Path) -> None:
    if key.curve.name not in _SUPPORTED:
        raise KeyFileError(f"{path}: unsupported curve {key.curve.name} (use P-256, P-384 or P-521)")


def generate_keypair(prefix: Path | str, *, curve: str = "P-256", passphrase: str | None = None, force: bool = False) -> KeyPairPaths:
    """Write ``PREFIX.key`` (PKCS#8 PEM, 0600, encrypted if a passphrase is given) and ``PREFIX.pub``."""
    if curve not in CURVES:
        raise KeyFileError(f"--curve: unknown curve {curve!r} (expected {' or '.join(CURVES)})")
    prefix = Path(prefix)
    paths = KeyPairPaths(prefix.with_name(prefix.name + ".key"), prefix.with_name(prefix.name + ".pub"))
    for p in (paths.private, paths.public):
        if p.exists() and not force:
            raise KeyFileError(f"{p}: already exists", hint="pass --force to overwrite it")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(getattr(ec, CURVES[curve])())
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    old = os.umask(0o077)
    try:
        atomic_write_bytes(paths.private, private, mode=0o600)
    finally:
        os.umask(old)
    atomic_write_bytes(paths.public, public)
    return paths


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise KeyFileError(f"{path}: is a folder, expected a {what} file") from None
    except OSError as err:
        raise KeyFileError(f"{path}: cannot read {what}: {err.strerror}") from None


def precheck_private_key(path: Path | str) -> None:
    """Cheap checks (exists, readable, a PEM private key) that need no cryptography import."""
    path = Path(path)
    raw = _read(path, "private key")
    if b"PRIVATE KEY-----" not in raw:
        kind = "a public key" if b"PUBLIC KEY" in raw else "not a PEM private key"
        raise KeyFileError(f"{path}: {kind}; signing takes the private key (.key)")


def load_private_key(path: Path | str, passphrase: str | None = None) -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = Path(path)
    raw = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(raw, passphrase.encode() if passphrase else None)
    except TypeError:
        if passphrase:
            raise KeyFileError(f"{path}: the key is not encrypted; do not pass a passphrase") from None
        raise KeyFileError(f"{path}: the private key is encrypted", hint="pass --passphrase or set PIPESHIELD_KEY_PASSPHRASE") from None
    except ValueError as err:
        text = str(err)
        if "password" in text.lower() or "decrypt" in text.lower():
            raise KeyFileError(f"{path}: wrong passphrase for the private key") from None
        raise KeyFileError(f"{path}: not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(f"{path}: a {type(key).__name__.removeprefix('_')} key; signing needs an ECDSA (P-256/P-384) key")
    _check_curve(key.public_key(), path)
    return key


def load_public_key(path: Path | str) -> ec.EllipticCurvePublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = Path(path)
    raw = _read(path, "public key")
    if b"PRIVATE KEY" in raw:
        raise KeyFileError(f"{path}: is a PRIVATE key; verification takes the public key (.pub)")
    try:
        key = serialization.load_pem_public_key(raw)
    except ValueError:
        raise KeyFileError(f"{path}: not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeyFileError(f"{path}: a {type(key).__name__.removeprefix('_')} key; signatures use ECDSA keys")
    _check_curve(key, path)
    return key
