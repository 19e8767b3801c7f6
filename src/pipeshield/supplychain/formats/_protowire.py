"""A minimal, bounded reader of the protobuf wire format (no schema, no protobuf import).

Enough to walk a few known fields of a large message without decoding the rest: length-delimited
fields are returned as offsets into the buffer, never copied. Malformed input raises
:class:`WireError`.

    >>> [(f.number, f.wire, f.value) for f in fields(memoryview(b"\\x08\\x01"), 0, 2)]
    [(1, 0, 1)]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Field", "WireError", "fields", "read_varint"]

VARINT, I64, LEN, I32 = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


@dataclass(frozen=True)
class Field:
    number: int
    wire: int
    value: int  # the varint, or the start offset of a LEN / fixed-size payload
    end: int  # end offset of the payload (== value's offset + size; varints: after the varint)


def read_varint(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise WireError("varint runs past the end")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def fields(data: memoryview, start: int, end: int) -> Iterator[Field]:
    """The fields of the message in ``data[start:end]``, in order."""
    pos = start
    while pos < end:
        key, pos = read_varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == VARINT:
            value, pos = read_varint(data, pos, end)
            yield Field(number, wire, value, pos)
        elif wire == LEN:
            size, pos = read_varint(data, pos, end)
            if pos + size > end:
                raise WireError(f"field {number} runs past the end of its message")
            yield Field(number, wire, pos, pos + size)
            pos += size
        elif wire in (I64, I32):
            size = 8 if wire == I64 else 4
            if pos + size > end:
                raise WireError(f"field {number} runs past the end of its message")
            yield Field(number, wire, pos, pos + size)
            pos += size
        else:  # groups (3, 4) are not used by any TensorFlow message
            raise WireError(f"unsupported wire type {wire}")
