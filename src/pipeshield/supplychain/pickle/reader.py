"""Byte reader for the pickle VM, with the two framing behaviours real unpicklers have.

PEP 3154 frames are an optimisation, but the unpicklers disagree on frames that lie:

- ``Framing.LINEAR`` reads straight through, ignoring frame boundaries: this is what CPython's C
  unpickler does when loading from bytes or a peekable file, and what ``pickletools`` does.
- ``Framing.DISCARD`` mimics the C unpickler reading a file without ``peek`` (a ``BytesIO``: that
  is how ``torch.load`` reads ``data.pkl`` out of a zip): the frame is read into a buffer and a read
  that runs past it *drops* the frame's leftover bytes and continues after the frame.

The pure-Python unpickler (and torch's ``weights_only`` one, and joblib) refuses both cases. In
every mode the reader records each violation of the frame rules, so the VM can report the
"FRAME-boundary trick" (python/cpython#154848) and the analysis can replay the pickle under the
other interpretation: a payload hidden from one reading is found by the other.
"""

from __future__ import annotations

import codecs
import enum
import struct

from pipeshield.supplychain.pickle.opcodes import Arg

__all__ = ["Blob", "Framing", "LimitExceeded", "PickleSyntaxError", "Reader", "Truncated"]

#: Bytes values longer than this are kept as a :class:`Blob` (their size), never copied.
_SMALL_BYTES = 4096


class Framing(enum.Enum):
    LINEAR = "linear"
    DISCARD = "discard"


class PickleSyntaxError(Exception):
    """The bytes are not a valid pickle at ``offset`` (a real unpickler raises there too)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class Truncated(PickleSyntaxError):
    """The stream ended inside an opcode or its argument."""


class Blob:
    """A large bytes value: only its size is kept (tensor data, array buffers)."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def __repr__(self) -> str:
        return f"<{self.size} bytes>"


class Reader:
    """Reads opcode arguments out of ``data[start:end]``; never copies large payloads."""

    def __init__(self, data: bytes | memoryview, start: int = 0, end: int | None = None,
                 framing: Framing = Framing.LINEAR, max_text: int = 64 << 20) -> None:
        self.data = memoryview(data) if not isinstance(data, memoryview) else data
        self.pos = start
        self.end = len(self.data) if end is None else end
        self.framing = framing
        self.max_text = max_text
        self.frame_end: int | None = None  # the pure-Python unpickler's view of the open frame
        self._buf_end = start  # the C unpickler's buffer end (DISCARD mode)
        self.violations: list[tuple[int, str]] = []

    # -- framing -----------------------------------------------------------------------------
    def _frame_rule(self, start: int, stop: int) -> None:
        fe = self.frame_end
        if fe is None:
            return
        if start >= fe:
            self.frame_end = None
        elif stop > fe:
            self.violations.append((start, f"an argument at offset {start} runs past the end of its FRAME (offset {fe})"))
            self.frame_end = None

    def _span(self, n: int) -> int:
        """Start offset of the next ``n`` bytes under this reader's framing."""
        start = self.pos
        if self.framing is Framing.DISCARD and start + n > self._buf_end:
            # The C unpickler drops what is left of its buffer and reads n fresh bytes.
            start = max(start, self._buf_end)
            self._buf_end = start + n
        self._frame_rule(start, start + n)
        if start + n > self.end or n < 0:
            raise Truncated(f"pickle truncated: needs {n} bytes at offset {start}", start)
        return start

    def read(self, n: int) -> memoryview:
        start = self._span(n)
        self.pos = start + n
        return self.data[start:start + n]

    def readline(self) -> bytes:
        start = self.pos
        data = self.data
        limit = self.end
        if self.framing is Framing.DISCARD:
            idx = _find_newline(data, start, min(self._buf_end, limit)) if start < self._buf_end else -1
            if idx < 0:
                start = max(start, self._buf_end)
                idx = _find_newline(data, start, limit)
                self._buf_end = idx + 1 if idx >= 0 else limit
        else:
            idx = _find_newline(data, start, limit)
        if idx < 0:
            raise Truncated(f"pickle truncated: no newline after offset {start}", start)
        self._frame_rule(start, idx + 1)
        self.pos = idx + 1
        return bytes(data[start:idx])

    def begin_frame(self, length: int, offset: int) -> None:
        if self.frame_end is not None and self.pos < self.frame_end:
            self.violations.append((offset, f"FRAME at offset {offset} opens before the previous frame ends"))
        start = self._span(length)  # the unpickler reads the whole frame up front
        self.pos = start
        if self.framing is Framing.DISCARD:
            self._buf_end = start + length
        self.frame_end = start + length

    def raw_position(self) -> int:
        """Where a direct ``file.read`` would continue (after an open frame: joblib's arrays)."""
        fe = self.frame_end
        if fe is not None and self.pos < fe:
            self.violations.append((self.pos, f"raw data read at offset {self.pos} inside an unfinished FRAME"))
        pos = max(self.pos, fe or 0, self._buf_end if self.framing is Framing.DISCARD else 0)
        return pos

    def seek_raw(self, pos: int) -> None:
        if pos > self.end:
            raise Truncated(f"inline data runs past the end of the stream ({pos} > {self.end})", self.pos)
        self.pos = pos
        self._buf_end = pos
        self.frame_end = None

    # -- arguments ---------------------------------------------------------------------------
    def arg(self, kind: Arg, offset: int) -> object:
        """Decode one argument; raise :class:`PickleSyntaxError` where CPython would fail."""
        if kind is Arg.NONE:
            return None
        if kind is Arg.UINT1:
            return self.read(1)[0]
        if kind is Arg.UINT2:
            return int(struct.unpack("<H", self.read(2))[0])
        if kind is Arg.INT4:
            return int(struct.unpack("<i", self.read(4))[0])
        if kind is Arg.UINT4:
            return int(struct.unpack("<I", self.read(4))[0])
        if kind is Arg.UINT8:
            return int(struct.unpack("<Q", self.read(8))[0])
        if kind is Arg.FLOAT8:
            return float(struct.unpack(">d", self.read(8))[0])
        if kind in (Arg.LONG1, Arg.LONG4):
            n = self.read(1)[0] if kind is Arg.LONG1 else int(struct.unpack("<i", self.read(4))[0])
            if n < 0:
                raise PickleSyntaxError("LONG pickle has negative byte count", offset)
            if n > self.max_text:
                raise _limit(f"integer of {n} bytes", offset)
            return int.from_bytes(self.read(n), "little", signed=True)
        if kind is Arg.NAME_PAIR:
            module = _utf8(self.readline(), offset)
            name = _utf8(self.readline(), offset)
            return (module, name)
        if kind in (Arg.DECIMAL_LINE, Arg.LONG_LINE, Arg.FLOAT_LINE, Arg.STRING_LINE,
                    Arg.UNICODE_LINE, Arg.NAME_LINE):
            return self._line_arg(kind, self.readline(), offset)
        return self._counted(kind, offset)

    def _line_arg(self, kind: Arg, line: bytes, offset: int) -> object:
        try:
            if kind is Arg.DECIMAL_LINE:
                if line == b"00":
                    return False
                if line == b"01":
                    return True
                return int(line)
            if kind is Arg.LONG_LINE:
                return int(line[:-1] if line.endswith(b"L") else line)
            if kind is Arg.FLOAT_LINE:
                return float(line)
            if kind is Arg.STRING_LINE:
                if len(line) < 2 or line[:1] != line[-1:] or line[:1] not in (b"'", b'"'):
                    raise PickleSyntaxError("the STRING opcode argument must be quoted", offset)
                raw = codecs.escape_decode(line[1:-1])[0]
                return raw.decode("latin-1")
            if kind is Arg.UNICODE_LINE:
                return str(line, "raw-unicode-escape")
            return line.decode("ascii")  # PERSID
        except (ValueError, UnicodeDecodeError) as err:
            raise PickleSyntaxError(f"bad argument: {err}", offset) from None

    def _counted(self, kind: Arg, offset: int) -> object:
        if kind in (Arg.STRING1, Arg.BYTES1, Arg.UNICODE1):
            n = self.read(1)[0]
        elif kind is Arg.STRING4:
            n = int(struct.unpack("<i", self.read(4))[0])
            if n < 0:
                raise PickleSyntaxError("BINSTRING pickle has negative byte count", offset)
        elif kind in (Arg.BYTES4, Arg.UNICODE4):
            n = int(struct.unpack("<I", self.read(4))[0])
        else:
            n = int(struct.unpack("<Q", self.read(8))[0])
        if kind in (Arg.UNICODE1, Arg.UNICODE4, Arg.UNICODE8, Arg.STRING1, Arg.STRING4):
            if n > self.max_text:
                raise _limit(f"string of {n} bytes", offset)
            raw = self.read(n)
            if kind in (Arg.STRING1, Arg.STRING4):
                return bytes(raw).decode("latin-1")
            try:
                return str(raw, "utf-8", "surrogatepass")
            except UnicodeDecodeError as err:
                raise PickleSyntaxError(f"bad UTF-8 in string: {err}", offset) from None
        raw = self.read(n)
        return bytes(raw) if n <= _SMALL_BYTES else Blob(n)


class LimitExceeded(PickleSyntaxError):
    """A resource limit was reached: the rest of the stream was not analysed."""


def _limit(what: str, offset: int) -> LimitExceeded:
    return LimitExceeded(f"{what} exceeds the scanner's limit", offset)


def _find_newline(data: memoryview, start: int, stop: int) -> int:
    # memoryview has no find(); search in bounded chunks so a huge line never gets copied whole.
    pos = start
    while pos < stop:
        chunk_end = min(stop, pos + 65536)
        idx = bytes(data[pos:chunk_end]).find(b"\n")
        if idx >= 0:
            return pos + idx
        pos = chunk_end
    return -1


def _utf8(raw: bytes, offset: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PickleSyntaxError(f"bad UTF-8 in a global name: {err}", offset) from None
