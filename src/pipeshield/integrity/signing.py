"""Sign and verify models and datasets (a file or a whole folder) with OMS v1.0 signatures.

    >>> sign("models/classifier", "keys/team.key")                              # doctest: +SKIP
    SignResult(signature=PosixPath('models/classifier/model.sig'), ...)
    >>> verify("models/classifier", ["keys/team.pub"])                          # doctest: +SKIP

``verify`` raises :class:`~pipeshield.errors.VerificationError` listing every problem (a changed,
added or missing file, a bad signature, an untrusted key, a symlink); it never returns False.
Signatures live beside what they sign: ``FILE.sig`` for a file, ``FOLDER/model.sig`` for a folder
(ignored when the folder is hashed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeshield.core.files import atomic_write_bytes
from pipeshield.errors import ArtifactError, ConfigError
from pipeshield.integrity import oms
from pipeshield.integrity.envelope import open_sealed, seal, trusted_keys, verification_failed
from pipeshield.integrity.keys import load_private_key, precheck_private_key
from pipeshield.integrity.manifest import (
    DEFAULT_IGNORES,
    DEFAULT_SHARD_SIZE,
    Manifest,
    ManifestDiff,
    Serialization,
    build_manifest,
    diff_manifests,
)

__all__ = ["SignResult", "VerifyResult", "default_signature_path", "sign", "verify"]


@dataclass(frozen=True)
class SignResult:
    signature: Path
    manifest: Manifest


@dataclass(frozen=True)
class VerifyResult:
    signature: Path
    manifest: Manifest
    key_hint: str
    key_path: Path | None


def default_signature_path(path: Path) -> Path:
    return path / "model.sig" if path.is_dir() else path.with_name(path.name + ".sig")


def _ignores_for(path: Path, signature: Path, extra: Iterable[str]) -> tuple[str, ...]:
    ignores = list(DEFAULT_IGNORES) + [str(e) for e in extra]
    if path.is_dir():
        try:
            ignores.append(signature.resolve().relative_to(path.resolve()).as_posix())
        except ValueError:
            pass  # the signature lives outside the folder
    return tuple(dict.fromkeys(ignores))


def sign(
    path: Path | str,
    private_key: Path | str,
    *,
    signature: Path | str | None = None,
    passphrase: str | None = None,
    hash_type: str = "sha256",
    method: str = "files",
    shard_size: int | None = None,
    allow_symlinks: bool = False,
    ignore_paths: Iterable[str] = (),
    workers: int | None = None,
) -> SignResult:
    """Hash ``path`` and write its OMS signature atomically (nothing is written on any error)."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: no such file or folder")
    sig_path = Path(signature) if signature else default_signature_path(path)
    try:
        serialization = Serialization(
            method=method,
            hash_type=hash_type,
            allow_symlinks=allow_symlinks,
            ignore_paths=_ignores_for(path, sig_path, ignore_paths) if path.is_dir() else (),
            shard_size=(shard_size or DEFAULT_SHARD_SIZE) if method == "shards" else None,
        )
    except ValueError as err:  # an unknown --hash or method: a usage error, not a bug
        raise ConfigError(f"--hash/--shard-size: {err}") from None
    precheck_private_key(private_key)  # the usual mistakes fail before any hashing starts
    # Hash in a thread while the key (and cryptography) loads: start-up hides behind the hashing.
    with ThreadPoolExecutor(max_workers=1) as pool:
        hashing = pool.submit(build_manifest, path, serialization, workers=workers)
        try:
            key = load_private_key(private_key, passphrase)
        except BaseException:
            hashing.cancel()
            raise
        manifest = hashing.result()
    if not manifest.resources:
        raise ArtifactError(f"{path}: nothing to sign (the folder is empty once ignored paths are left out)")
    atomic_write_bytes(sig_path, seal(oms.statement_for(manifest), key))
    return SignResult(sig_path, manifest)


def verify(
    path: Path | str,
    public_keys: Sequence[Path | str],
    *,
    signature: Path | str | None = None,
    ignore_unsigned_files: bool = False,
    workers: int | None = None,
) -> VerifyResult:
    """Check the signature's key and bytes, then rehash ``path`` and compare every resource."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: no such file or folder")
    if not public_keys:
        raise ArtifactError(f"{path}: no trusted public key given", hint="pass --key or list keys under [keys] trusted")
    keys = trusted_keys(public_keys)
    sig_path = Path(signature) if signature else default_signature_path(path)
    opened = open_sealed(path, sig_path, keys, unsigned_hint=f"sign it with `pipeshield sign {path}`")
    try:
        signed = oms.manifest_from_statement(opened.payload)
    except oms.FormatError as err:
        raise verification_failed(path, [f"{sig_path}: {err}"]) from None
    problems = _compare(path, sig_path, signed, ignore_unsigned_files, workers)
    if problems:
        raise verification_failed(path, problems)
    return VerifyResult(sig_path, signed, opened.key_hint, opened.key_path)


def _compare(path: Path, sig_path: Path, signed: Manifest, ignore_unsigned: bool, workers: int | None) -> list[str]:
    single = list(signed.resources) in (["."],) or all(n.split(":")[0] == "." for n in signed.resources)
    if single and path.is_dir():
        return [f"{sig_path} signs a single file, but {path} is a folder"]
    if not single and path.is_file():
        return [f"{sig_path} signs a folder, but {path} is a file"]
    ser = signed.serialization
    ignores = _ignores_for(path, sig_path, ser.ignore_paths) if path.is_dir() else ()
    rebuilt = Serialization(ser.method, ser.hash_type, ser.allow_symlinks, ignores, ser.shard_size)
    try:
        actual = build_manifest(path, rebuilt, workers=workers)
    except ArtifactError as err:  # a symlink, a file vanished mid-hash
        return [err.message]
    diff = diff_manifests(signed, actual)
    if ignore_unsigned:
        diff = ManifestDiff(diff.changed, (), diff.removed)
    return diff.problems(path)

