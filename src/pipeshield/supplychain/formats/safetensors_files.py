"""safetensors: no code, but the header must be exactly what every loader agrees on.

Checks what the reference implementation enforces and what differing parsers could be played
against: a JSON object header within the size limit, no duplicate keys, known dtypes, shapes of
non-negative integers, offsets that match dtype x shape, lie inside the file, do not overlap,
leave no gaps and cover the data exactly; ``__metadata__`` maps strings to strings.
"""

from __future__ import annotations

import json
import struct
from math import prod
from typing import Any

from pipeshield.supplychain.formats.base import Context, Scanned, register
from pipeshield.supplychain.results import ScanFinding

__all__ = ["SafetensorsHandler"]

#: dtype -> size in bits.
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64, "U64": 64,
    "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(f"duplicate key {key!r}")
        out[key] = value
    return out


@register(priority=7)
class SafetensorsHandler:
    name = "safetensors"

    def sniff(self, data: memoryview) -> bool:
        if len(data) < 10:
            return False
        (n,) = struct.unpack_from("<Q", data, 0)
        return 2 <= n <= len(data) - 8 and data[8] == ord("{")

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        (n,) = struct.unpack_from("<Q", data, 0)

        def head(msg: str) -> Scanned:
            return Scanned("safetensors", [ScanFinding("PS-SAFETENSORS-HEADER", msg)])

        if n > ctx.limits.max_header:
            return head(f"header of {n} bytes exceeds the limit")
        try:
            header = json.loads(bytes(data[8:8 + n]).decode("utf-8"), object_pairs_hook=_no_duplicates)
        except (ValueError, UnicodeDecodeError, RecursionError) as err:
            return head(f"header is not valid JSON: {err}")
        if not isinstance(header, dict):
            return head("header is not a JSON object")
        findings: list[ScanFinding] = []
        meta = header.pop("__metadata__", None)
        if meta is not None and (not isinstance(meta, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in meta.items())):
            findings.append(ScanFinding("PS-SAFETENSORS-HEADER", "__metadata__ must map strings to strings"))
        spans: list[tuple[int, int, str]] = []
        for name, info in header.items():
            problem = _entry_problem(info)
            if problem:
                findings.append(ScanFinding("PS-SAFETENSORS-HEADER", f"tensor {name!r}: {problem}"))
                continue
            begin, end = info["data_offsets"]
            bits = prod(info["shape"]) * DTYPE_BITS[info["dtype"]]
            if end - begin != (bits + 7) // 8:
                findings.append(ScanFinding(
                    "PS-SAFETENSORS-OFFSETS", f"tensor {name!r}: {end - begin} bytes for "
                    f"{info['dtype']} x {info['shape']} (expected {(bits + 7) // 8})"))
            spans.append((begin, end, name))
        body = len(data) - 8 - n
        findings += _layout_problems(sorted(spans), body)
        return Scanned("safetensors", findings)


def _entry_problem(info: Any) -> str:
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        return "entry must have exactly dtype, shape and data_offsets"
    if info["dtype"] not in DTYPE_BITS:
        return f"unknown dtype {info['dtype']!r}"
    shape, offsets = info["shape"], info["data_offsets"]
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        return "shape must be a list of non-negative integers"
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(
            isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets) and offsets[0] <= offsets[1]):
        return "data_offsets must be [begin, end] with 0 <= begin <= end"
    return ""


def _layout_problems(spans: list[tuple[int, int, str]], body: int) -> list[ScanFinding]:
    out: list[ScanFinding] = []
    cursor = 0
    for begin, end, name in spans:
        if begin < cursor:
            out.append(ScanFinding("PS-SAFETENSORS-OFFSETS", f"tensor {name!r} overlaps the previous tensor"))
        elif begin > cursor:
            out.append(ScanFinding("PS-SAFETENSORS-OFFSETS", f"{begin - cursor} unaccounted bytes before tensor {name!r}"))
        if end > body:
            out.append(ScanFinding("PS-SAFETENSORS-OFFSETS", f"tensor {name!r} ends at {end}, past the data ({body} bytes)"))
        cursor = max(cursor, end)
    if cursor < body:
        out.append(ScanFinding("PS-SAFETENSORS-OFFSETS", f"{body - cursor} bytes after the last tensor are not described"))
    return out
