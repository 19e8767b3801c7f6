"""Decompression with a budget: a bomb becomes an inconclusive finding, not an exhausted machine.

    >>> import gzip
    >>> out, finding = inflate(gzip.compress(b"x" * 10), "gzip", ScanLimits(), [0])
    >>> bytes(out), finding
    (b'xxxxxxxxxx', None)
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from typing import Any

from pipeshield.supplychain.limits import ScanLimits
from pipeshield.supplychain.results import ScanFinding

__all__ = ["DECOMPRESSORS", "inflate"]

_CHUNK = 1 << 20

#: Codec name -> a fresh decompressor object with ``decompress(data, max_length)``.
DECOMPRESSORS: dict[str, Callable[[], Any]] = {
    "gzip": lambda: zlib.decompressobj(31),
    "zlib": lambda: zlib.decompressobj(15),
    "deflate": lambda: zlib.decompressobj(-15),
    "bz2": bz2.BZ2Decompressor,
    "xz": lambda: lzma.LZMADecompressor(lzma.FORMAT_AUTO),
}


def inflate(data: bytes | memoryview, codec: str, limits: ScanLimits, budget: list[int]) -> tuple[bytes, ScanFinding | None]:
    """Decompress ``data`` (concatenated streams too); stop at the size, ratio or budget limit."""
    out = bytearray()
    pending: bytes | memoryview = data
    cap = limits.max_decompressed
    try:
        while pending:
            dec = DECOMPRESSORS[codec]()
            src = pending
            pending = b""
            chunk_in = src
            while True:
                piece = dec.decompress(chunk_in, _CHUNK)
                out += piece
                budget[0] += len(piece)
                if len(out) > cap or budget[0] > 4 * cap:
                    return bytes(out[:0]), _bomb(f"expands beyond {cap} bytes", len(data))
                if len(out) > 16 << 20 and len(out) > limits.max_ratio * max(1, len(data)):
                    return bytes(out[:0]), _bomb(f"expands more than {limits.max_ratio}x", len(data))
                if getattr(dec, "eof", False):
                    rest = getattr(dec, "unused_data", b"")
                    pending = rest if codec in ("gzip", "bz2", "xz") and rest.strip(b"\x00") else b""
                    break
                if not piece and getattr(dec, "needs_input", True) and not getattr(dec, "unconsumed_tail", b""):
                    return bytes(out), ScanFinding(
                        "PS-ZIP-CORRUPT", f"{codec} stream ends early after {len(out)} bytes")
                chunk_in = getattr(dec, "unconsumed_tail", b"")
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as err:
        return bytes(out), ScanFinding("PS-ZIP-CORRUPT", f"{codec} data is corrupt after {len(out)} bytes: {err}")
    return bytes(out), None


def _bomb(what: str, size: int) -> ScanFinding:
    return ScanFinding("PS-ARCHIVE-BOMB", f"{size} compressed bytes {what}; analysis stopped")
