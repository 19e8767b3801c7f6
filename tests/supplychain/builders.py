"""Hostile and benign bytes built by hand, so every test plants its own ground truth.

Nothing here loads a pickle: dumping and concatenating opcodes only builds bytes.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile


def s(text: str) -> bytes:
    """SHORT_BINUNICODE."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def call(module: str, name: str, *args: str, proto: int = 4, stack_global: bool = True) -> bytes:
    """A pickle that calls ``module.name(*args)`` with string arguments."""
    head = b"\x80" + bytes([proto])
    ref = s(module) + s(name) + b"\x93" if stack_global else b"c" + module.encode() + b"\n" + name.encode() + b"\n"
    argv = b"(" + b"".join(s(a) for a in args) + b"t"
    return head + ref + argv + b"R."


def global_only(module: str, name: str) -> bytes:
    """Protocol 0: GLOBAL + call with no PROTO opcode (STRING operands)."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n(S'x'\ntR."


class Reduce:
    """``pickle.dumps(Reduce(f, args))`` pickles the call ``f(*args)``."""

    def __init__(self, fn: object, args: tuple[object, ...]) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (self.fn, self.args)


def dumps_call(fn: object, *args: object, protocol: int = 4) -> bytes:
    return pickle.dumps(Reduce(fn, args), protocol=protocol)  # safe: dumping builds bytes


def zip_bytes(members: dict[str, bytes], compress: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def patch_zip(data: bytes, *, flags: int | None = None, crc: int | None = None,
              local_name: tuple[bytes, bytes] | None = None) -> bytes:
    """Edit every entry's local and central header: flag bits, CRC, or the local name."""
    out = bytearray(data)
    pos = 0
    while True:
        pos = out.find(b"PK\x03\x04", pos)
        if pos < 0:
            break
        if flags is not None:
            struct.pack_into("<H", out, pos + 6, flags)
        if crc is not None:
            struct.pack_into("<I", out, pos + 14, crc)
        if local_name is not None:
            old, new = local_name
            nlen = struct.unpack_from("<H", out, pos + 26)[0]
            if bytes(out[pos + 30:pos + 30 + nlen]) == old:
                assert len(new) == nlen
                out[pos + 30:pos + 30 + nlen] = new
        pos += 4
    pos = 0
    while True:
        pos = out.find(b"PK\x01\x02", pos)
        if pos < 0:
            break
        if flags is not None:
            struct.pack_into("<H", out, pos + 8, flags)
        if crc is not None:
            struct.pack_into("<I", out, pos + 16, crc)
        pos += 4
    return bytes(out)


def torch_like_zip(payload: bytes, member: str = "archive/data.pkl") -> bytes:
    return zip_bytes({member: payload, "archive/version": b"3\n", "archive/byteorder": b"little"})
