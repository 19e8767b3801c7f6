"""Streaming, parallel file digests: SHA-256 (interoperable) and BLAKE3 (fast).

Files are hashed in parallel threads (hashlib and blake3 release the GIL while hashing), each one
streamed in 4 MiB chunks, never read whole into memory. A single large file is hashed by one
thread with SHA-256 (the algorithm is sequential); with the ``shards`` method each shard is an
independent work item, so one large file is spread across cores too. BLAKE3 parallelises inside
one file on its own (memory-mapped, all cores).

    >>> digest_file(Path("model.safetensors"), "sha256")          # doctest: +SKIP
    'fdd892...'
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["ALGORITHMS", "Shard", "digest_file", "digest_many", "digest_shard", "shards_of"]

ALGORITHMS = ("sha256", "blake3")
_CHUNK = 4 << 20

Shard = tuple[Path, int, int]  # (path, start, end): bytes [start, end)


def _hasher(algorithm: str):  # type: ignore[no-untyped-def]
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "blake3":
        import blake3

        return blake3.blake3(max_threads=blake3.blake3.AUTO)
    raise ValueError(f"unknown hash algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")


def digest_file(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a whole file, streamed."""
    h = _hasher(algorithm)
    if algorithm == "blake3" and path.stat().st_size > _CHUNK:
        h.update_mmap(path)
        return str(h.hexdigest())
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            h.update(view[:n])
    return str(h.hexdigest())


def digest_shard(shard: Shard, algorithm: str = "sha256") -> str:
    """Hex digest of bytes ``[start, end)`` of a file."""
    path, start, end = shard
    h = _hasher(algorithm)
    with open(path, "rb", buffering=0) as fh:
        fh.seek(start)
        remaining = end - start
        buf = bytearray(min(_CHUNK, max(remaining, 1)))
        view = memoryview(buf)
        while remaining > 0:
            n = fh.readinto(view[: min(len(buf), remaining)])
            if not n:
                raise OSError(f"{path}: file shrank while hashing")
            h.update(view[:n])
            remaining -= n
    return str(h.hexdigest())


def shards_of(path: Path, shard_size: int) -> list[Shard]:
    size = path.stat().st_size
    if size == 0:
        return [(path, 0, 0)]
    return [(path, start, min(start + shard_size, size)) for start in range(0, size, shard_size)]


def _workers(n_items: int, workers: int | None) -> int:
    return max(1, min(n_items, workers or (os.cpu_count() or 1) * 2))


def digest_many(items: Sequence[Path] | Sequence[Shard], algorithm: str = "sha256", workers: int | None = None) -> list[str]:
    """Digests of many files or shards, in parallel threads, in the order given."""
    if not items:
        return []
    is_shard = isinstance(items[0], tuple)

    def one(item: Path | Shard) -> str:
        if is_shard:
            return digest_shard(item, algorithm)  # type: ignore[arg-type]
        return digest_file(item, algorithm)  # type: ignore[arg-type]

    n = _workers(len(items), workers)
    if algorithm == "blake3" or n == 1:
        # blake3 already uses every core inside a file; threads on top only contend.
        return [one(i) for i in items]
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, items))

