"""Resource limits that keep a hostile file from hanging or exhausting the scanner.

Reaching a limit is never a crash and never "clean": the file gets an ``inconclusive`` finding that
names the limit. The defaults are far above what real model files need (a 7B-parameter
``data.pkl`` runs about a million opcodes).

    >>> ScanLimits(max_opcodes=1000).max_opcodes
    1000
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ScanLimits"]


@dataclass(frozen=True)
class ScanLimits:
    max_opcodes: int = 20_000_000
    max_memo: int = 1_000_000
    max_stack: int = 1_000_000
    max_depth: int = 10_000  # MARK nesting
    max_text: int = 64 << 20  # one string argument, bytes
    max_pickles: int = 256  # pickles in one stream
    max_seconds: float = 60.0  # per stream
    max_decompressed: int = 1 << 30  # bytes out of one gzip/bz2/xz/deflate stream
    max_ratio: int = 200  # decompressed/compressed above 16 MiB of output: a bomb
    max_archive_depth: int = 6  # archive inside archive inside ...
    max_members: int = 100_000  # entries in one archive
    max_header: int = 100 << 20  # safetensors/npy/gguf headers

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if value <= 0:
                raise ValueError(f"ScanLimits.{name} must be positive (got {value})")
