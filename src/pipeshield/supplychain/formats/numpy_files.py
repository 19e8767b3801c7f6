"""NumPy ``.npy``: a plain dtype is data; an object dtype is a pickle after the header.

``numpy.load(allow_pickle=True)`` unpickles object arrays, so their payload is analysed like any
pickle. ``.npz`` files are zips of ``.npy`` members and go through the zip handler.
"""

from __future__ import annotations

import ast
import struct
from math import prod
from typing import Any

from pipeshield.supplychain.formats.base import Context, Scanned, register
from pipeshield.supplychain.pickle.analyze import analyse_pickle
from pipeshield.supplychain.pickle.inline import dtype_layout
from pipeshield.supplychain.results import ScanFinding

__all__ = ["NpyHandler"]


def _has_objects(descr: Any) -> bool | None:
    if isinstance(descr, str):
        layout = dtype_layout(descr)
        return None if layout is None else layout[1]
    if isinstance(descr, list):
        flags = [_has_objects(f[1]) if isinstance(f, (tuple, list)) and len(f) >= 2 else None for f in descr]
        if any(f is None for f in flags):
            return None
        return any(flags)
    return None


def _itemsize(descr: Any) -> int | None:
    if isinstance(descr, str):
        layout = dtype_layout(descr)
        return None if layout is None else layout[0]
    if isinstance(descr, list):
        total = 0
        for f in descr:
            if not isinstance(f, (tuple, list)) or len(f) < 2:
                return None
            size = _itemsize(f[1])
            if size is None:
                return None
            count = prod(f[2]) if len(f) > 2 and isinstance(f[2], tuple) else 1
            total += size * count
        return total
    return None


@register(priority=4)
class NpyHandler:
    name = "npy"

    def sniff(self, data: memoryview) -> bool:
        return bytes(data[:6]) == b"\x93NUMPY"

    def scan(self, data: memoryview, ctx: Context) -> Scanned:
        def bad(message: str) -> Scanned:
            return Scanned("npy", [ScanFinding("PS-NPY-HEADER", message)])

        if len(data) < 10:
            return bad("file ends inside the .npy header")
        major = data[6]
        if major == 1:
            hlen, start = struct.unpack_from("<H", data, 8)[0], 10
        elif major in (2, 3):
            hlen, start = struct.unpack_from("<I", data, 8)[0], 12
        else:
            return bad(f"unknown .npy version {major}")
        if hlen > ctx.limits.max_header or start + hlen > len(data):
            return bad(f"header length {hlen} is implausible")
        try:
            header = ast.literal_eval(bytes(data[start:start + hlen]).decode("utf-8" if major == 3 else "latin-1"))
        except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError) as err:
            return bad(f"header is not a Python literal: {type(err).__name__}")
        if not isinstance(header, dict) or not {"descr", "shape", "fortran_order"} <= header.keys():
            return bad("header lacks descr/shape/fortran_order")
        descr, shape = header["descr"], header["shape"]
        objects = _has_objects(descr)
        body = start + hlen
        if objects is None:
            return bad(f"dtype {descr!r} cannot be read")
        if objects:
            analysis = analyse_pickle(data, start=body, limits=ctx.limits, deadline=ctx.deadline)
            return Scanned("npy-object", analysis.findings)
        size = _itemsize(descr)
        if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape) or size is None:
            return bad(f"shape {shape!r} is invalid")
        if len(data) - body < prod(shape) * size:
            return bad(f"array data is shorter than shape {shape} x {size} bytes")
        return Scanned("npy", [])
