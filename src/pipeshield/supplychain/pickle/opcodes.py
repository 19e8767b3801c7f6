"""The pickle opcode table (protocols 0-5), written out so the VM owns its own parser.

``pickletools.genops`` is not used for analysis: it stops at the first error (so a payload before
a broken tail would be lost with everything after it) and it ignores FRAME boundaries, which real
unpicklers do not. Each opcode names how its argument is encoded; :mod:`.reader` decodes them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["OPCODES", "Arg", "Op"]


class Arg(enum.Enum):
    """How an opcode's argument is laid out in the stream."""

    NONE = "none"
    UINT1 = "uint1"
    UINT2 = "uint2"
    INT4 = "int4"
    UINT4 = "uint4"
    UINT8 = "uint8"
    FLOAT8 = "float8"  # big-endian IEEE double
    LONG1 = "long1"  # 1-byte length, little-endian two's complement
    LONG4 = "long4"
    DECIMAL_LINE = "decimal_line"  # INT/GET/PUT: decimal digits, newline
    LONG_LINE = "long_line"  # LONG: digits with optional trailing 'L'
    FLOAT_LINE = "float_line"
    STRING_LINE = "string_line"  # STRING: a quoted, escaped repr
    UNICODE_LINE = "unicode_line"  # UNICODE: raw-unicode-escape
    NAME_LINE = "name_line"  # PERSID: one line
    NAME_PAIR = "name_pair"  # GLOBAL/INST: module line, name line
    STRING1 = "string1"
    STRING4 = "string4"  # signed 4-byte length
    BYTES1 = "bytes1"
    BYTES4 = "bytes4"
    BYTES8 = "bytes8"
    UNICODE1 = "unicode1"
    UNICODE4 = "unicode4"
    UNICODE8 = "unicode8"


@dataclass(frozen=True)
class Op:
    code: int
    name: str
    arg: Arg
    proto: int


def _table() -> dict[int, Op]:
    rows = [
        ("(", "MARK", Arg.NONE, 0), (".", "STOP", Arg.NONE, 0), ("0", "POP", Arg.NONE, 0),
        ("1", "POP_MARK", Arg.NONE, 1), ("2", "DUP", Arg.NONE, 0),
        ("F", "FLOAT", Arg.FLOAT_LINE, 0), ("I", "INT", Arg.DECIMAL_LINE, 0),
        ("J", "BININT", Arg.INT4, 1), ("K", "BININT1", Arg.UINT1, 1),
        ("L", "LONG", Arg.LONG_LINE, 0), ("M", "BININT2", Arg.UINT2, 1), ("N", "NONE", Arg.NONE, 0),
        ("P", "PERSID", Arg.NAME_LINE, 0), ("Q", "BINPERSID", Arg.NONE, 1),
        ("R", "REDUCE", Arg.NONE, 0), ("S", "STRING", Arg.STRING_LINE, 0),
        ("T", "BINSTRING", Arg.STRING4, 1), ("U", "SHORT_BINSTRING", Arg.STRING1, 1),
        ("V", "UNICODE", Arg.UNICODE_LINE, 0), ("X", "BINUNICODE", Arg.UNICODE4, 1),
        ("a", "APPEND", Arg.NONE, 0), ("b", "BUILD", Arg.NONE, 0),
        ("c", "GLOBAL", Arg.NAME_PAIR, 0), ("d", "DICT", Arg.NONE, 0),
        ("}", "EMPTY_DICT", Arg.NONE, 1), ("e", "APPENDS", Arg.NONE, 1),
        ("g", "GET", Arg.DECIMAL_LINE, 0), ("h", "BINGET", Arg.UINT1, 1),
        ("i", "INST", Arg.NAME_PAIR, 0), ("j", "LONG_BINGET", Arg.UINT4, 1),
        ("l", "LIST", Arg.NONE, 0), ("]", "EMPTY_LIST", Arg.NONE, 1), ("o", "OBJ", Arg.NONE, 1),
        ("p", "PUT", Arg.DECIMAL_LINE, 0), ("q", "BINPUT", Arg.UINT1, 1),
        ("r", "LONG_BINPUT", Arg.UINT4, 1), ("s", "SETITEM", Arg.NONE, 0),
        ("t", "TUPLE", Arg.NONE, 0), (")", "EMPTY_TUPLE", Arg.NONE, 1),
        ("u", "SETITEMS", Arg.NONE, 1), ("G", "BINFLOAT", Arg.FLOAT8, 1),
        ("\x80", "PROTO", Arg.UINT1, 2), ("\x81", "NEWOBJ", Arg.NONE, 2),
        ("\x82", "EXT1", Arg.UINT1, 2), ("\x83", "EXT2", Arg.UINT2, 2),
        ("\x84", "EXT4", Arg.INT4, 2), ("\x85", "TUPLE1", Arg.NONE, 2),
        ("\x86", "TUPLE2", Arg.NONE, 2), ("\x87", "TUPLE3", Arg.NONE, 2),
        ("\x88", "NEWTRUE", Arg.NONE, 2), ("\x89", "NEWFALSE", Arg.NONE, 2),
        ("\x8a", "LONG1", Arg.LONG1, 2), ("\x8b", "LONG4", Arg.LONG4, 2),
        ("B", "BINBYTES", Arg.BYTES4, 3), ("C", "SHORT_BINBYTES", Arg.BYTES1, 3),
        ("\x8c", "SHORT_BINUNICODE", Arg.UNICODE1, 4), ("\x8d", "BINUNICODE8", Arg.UNICODE8, 4),
        ("\x8e", "BINBYTES8", Arg.BYTES8, 4), ("\x8f", "EMPTY_SET", Arg.NONE, 4),
        ("\x90", "ADDITEMS", Arg.NONE, 4), ("\x91", "FROZENSET", Arg.NONE, 4),
        ("\x92", "NEWOBJ_EX", Arg.NONE, 4), ("\x93", "STACK_GLOBAL", Arg.NONE, 4),
        ("\x94", "MEMOIZE", Arg.NONE, 4), ("\x95", "FRAME", Arg.UINT8, 4),
        ("\x96", "BYTEARRAY8", Arg.BYTES8, 5), ("\x97", "NEXT_BUFFER", Arg.NONE, 5),
        ("\x98", "READONLY_BUFFER", Arg.NONE, 5),
    ]
    return {ord(c): Op(ord(c), name, arg, proto) for c, name, arg, proto in rows}


#: Opcode byte -> its definition. A byte not in here is an error, as in CPython.
OPCODES: dict[int, Op] = _table()
