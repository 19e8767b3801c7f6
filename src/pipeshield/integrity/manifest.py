"""Manifests: what a signature covers — every file (or shard) of a model or dataset, with digests.

The layout follows OpenSSF Model Signing v1.0: resource names are POSIX paths relative to the
signed folder (``"."`` when a single file is signed), or ``"path:start:end"`` for shards; the
``serialization`` block records how the manifest was made so that a verifier rebuilds it the same
way. Git metadata and the signature file itself are never part of a manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pipeshield.errors import ArtifactError
from pipeshield.integrity.digests import ALGORITHMS, Shard, digest_many, shards_of

__all__ = ["DEFAULT_IGNORES", "Manifest", "ManifestDiff", "Serialization", "build_manifest", "diff_manifests"]

#: Ignored in every manifest, as the model_signing CLI does by default.
DEFAULT_IGNORES = (".git", ".gitattributes", ".github", ".gitignore")
DEFAULT_SHARD_SIZE = 1 << 30


@dataclass(frozen=True)
class Serialization:
    """How a manifest was built (``predicate.serialization`` in the signature)."""

    method: str = "files"
    hash_type: str = "sha256"
    allow_symlinks: bool = False
    ignore_paths: tuple[str, ...] = ()
    shard_size: int | None = None

    def __post_init__(self) -> None:
        if self.method not in ("files", "shards"):
            raise ValueError(f"unknown serialization method {self.method!r} (expected files or shards)")
        if self.hash_type not in ALGORITHMS:
            raise ValueError(f"unknown hash_type {self.hash_type!r} (expected {' or '.join(ALGORITHMS)})")
        if self.method == "shards" and (self.shard_size is None or self.shard_size <= 0):
            raise ValueError("the shards method needs a positive shard_size")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "hash_type": self.hash_type}
        if self.method == "shards":
            out["shard_size"] = self.shard_size
        out["allow_symlinks"] = self.allow_symlinks
        if self.ignore_paths:
            out["ignore_paths"] = list(self.ignore_paths)
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> Serialization:
        if not isinstance(raw, dict):
            raise ValueError("predicate.serialization is not an object")
        shard = raw.get("shard_size")
        if isinstance(shard, float) and shard.is_integer():  # written as a float by some signers
            shard = int(shard)
        ignores = raw.get("ignore_paths", [])
        if not isinstance(ignores, list) or not all(isinstance(p, str) for p in ignores):
            raise ValueError("predicate.serialization.ignore_paths is not a list of strings")
        return cls(
            method=str(raw.get("method")),
            hash_type=str(raw.get("hash_type")),
            allow_symlinks=bool(raw.get("allow_symlinks", False)),
            ignore_paths=tuple(ignores),
            shard_size=shard if isinstance(shard, int) else None,
        )


@dataclass(frozen=True)
class Manifest:
    """Resource name -> hex digest, in signing order, plus how it was made."""

    model_name: str
    resources: dict[str, str]
    serialization: Serialization = field(default_factory=Serialization)


@dataclass(frozen=True)
class ManifestDiff:
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not (self.changed or self.added or self.removed)

    def problems(self, root: Path) -> list[str]:
        """One line per difference, naming the file under ``root`` (and the shard, if any)."""

        def where(name: str) -> str:
            path, _, shard = name.partition(":")
            shown = str(root) if path == "." else str(root / path)
            return f"{shown} (bytes {shard.replace(':', '-')})" if shard else shown

        out = [f"{where(n)}: changed since it was signed" for n in self.changed]
        out += [f"{where(n)}: not covered by the signature (appeared after signing)" for n in self.added]
        out += [f"{where(n)}: signed but missing now" for n in self.removed]
        return out


def _sort_key(name: str) -> tuple[tuple[str, ...], int]:
    path, _, rest = name.partition(":")
    start = int(rest.split(":")[0]) if rest else 0
    return PurePosixPath(path).parts, start


def _is_ignored(rel: PurePosixPath, ignores: tuple[PurePosixPath, ...]) -> bool:
    return any(rel == ig or rel.is_relative_to(ig) for ig in ignores)


def list_files(root: Path, ignore_paths: tuple[str, ...], allow_symlinks: bool) -> list[tuple[str, Path]]:
    """Every file under ``root`` (or ``root`` itself) as ``(resource name, path)``."""
    if root.is_symlink() and not allow_symlinks:
        raise ArtifactError(f"{root}: is a symlink (pass --allow-symlinks to follow it)")
    if root.is_file():
        return [(".", root)]
    if not root.is_dir():
        raise ArtifactError(f"{root}: no such file or folder")
    ignores = tuple(PurePosixPath(p) for p in ignore_paths)
    out: list[tuple[str, Path]] = []
    for path in root.rglob("*"):
        rel = PurePosixPath(path.relative_to(root).as_posix())
        if _is_ignored(rel, ignores):
            continue
        if path.is_symlink():
            if not allow_symlinks:
                raise ArtifactError(f"{root}: {rel} is a symlink (pass --allow-symlinks to follow it)")
            if not path.exists():
                raise ArtifactError(f"{root}: {rel} is a broken symlink")
        if path.is_file():
            out.append((str(rel), path))
    return out


def build_manifest(root: Path, serialization: Serialization, *, workers: int | None = None) -> Manifest:
    """Hash everything ``root`` holds the way ``serialization`` says."""
    files = list_files(root, serialization.ignore_paths, serialization.allow_symlinks)
    try:
        return _hash(root, files, serialization, workers)
    except OSError as err:
        raise ArtifactError(f"{err.filename or root}: cannot read: {err.strerror or err}") from None


def _hash(root: Path, files: list[tuple[str, Path]], serialization: Serialization, workers: int | None) -> Manifest:
    if serialization.method == "files":
        names = [name for name, _ in files]
        digests = digest_many([p for _, p in files], serialization.hash_type, workers)
    else:
        assert serialization.shard_size is not None
        shards: list[Shard] = []
        names = []
        for name, path in files:
            for shard in shards_of(path, serialization.shard_size):
                shards.append(shard)
                names.append(f"{name}:{shard[1]}:{shard[2]}")
        digests = digest_many(shards, serialization.hash_type, workers)
    resources = dict(sorted(zip(names, digests, strict=True), key=lambda kv: _sort_key(kv[0])))
    return Manifest(root.resolve().name, resources, serialization)


def diff_manifests(signed: Manifest, actual: Manifest) -> ManifestDiff:
    changed = tuple(n for n, d in signed.resources.items() if n in actual.resources and actual.resources[n] != d)
    added = tuple(n for n in actual.resources if n not in signed.resources)
    removed = tuple(n for n in signed.resources if n not in actual.resources)
    return ManifestDiff(changed, added, removed)
