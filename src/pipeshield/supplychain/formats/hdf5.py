"""Keras HDF5 (``.h5``) files, read without h5py.

The model architecture is a JSON string in the root group's ``model_config`` attribute; HDF5
stores attribute values uncompressed, so the JSON is found in the raw bytes and checked like a
``.keras`` config. A file whose config cannot be recovered is inconclusive, not clean.
"""

from __future__ import annotations

import json

from pipeshield.supplychain.formats.base import Context, Scanned, register
from pipeshield.supplychain.formats.keras_config import check_keras_config
from pipeshield.supplychain.results import ScanFinding

__all__ = ["Hdf5Handler", "find_all"]

_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def find_all(data: memoryview, needle: bytes, limit: int = 64) -> list[int]:
    """Offsets of ``needle`` in ``data``, searched in overlapping chunks (no whole-file copy)."""
    out: list[int] = []
    chunk = 64 << 20
    pos = 0
    while pos < len(data) and len(out) < limit:
        block = bytes(data[pos:pos + chunk + len(needle)])
        at = block.find(needle)
        while at >= 0 and len(out) < limit:
            if pos + at not in out:
                out.append(pos + at)
            at = block.find(needle, at + 1)
        pos += chunk
    return out


@register(priority=6)
class Hdf5Handler:
    name = "hdf5"

    def sniff(self, data: memoryview) -> bool:
        return bytes(data[:8]) == _SIGNATURE

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        if not find_all(data, b"model_config", 1):
            return Scanned("hdf5", [])  # weights only: no architecture to deserialise
        findings: list[ScanFinding] = []
        decoder = json.JSONDecoder()
        parsed = False
        for at in find_all(data, b'{"class_name"'):
            text = bytes(data[at:at + ctx.limits.max_header]).decode("utf-8", "replace")
            try:
                value, _ = decoder.raw_decode(text)
            except (ValueError, RecursionError):
                continue
            parsed = True
            findings += check_keras_config(value)
        if not parsed:
            hits = find_all(data, b"Lambda", 1)
            findings.append(ScanFinding(
                "PS-KERAS-LAMBDA" if hits else "PS-ARCHIVE-UNSUPPORTED",
                "HDF5 model_config could not be parsed without h5py"
                + ("; the bytes mention a Lambda layer" if hits else "; architecture not analysed"),
                callable="Lambda" if hits else None))
        return Scanned("keras-h5", findings)
