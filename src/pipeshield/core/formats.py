"""What a file really is, from its bytes, not its name.

A ``.safetensors`` file that is a pickle, or a ``.bin`` that is a zip of pickles, is exactly what
a supply-chain attacker ships. :func:`detect_format` reads a few header bytes (and a zip's member
names) and never deserialises anything.

    >>> detect_format("model.safetensors").name          # doctest: +SKIP
    'safetensors'
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DetectedFormat", "detect_format", "EXECUTABLE_FORMATS"]

#: Formats whose loading can run code chosen by whoever wrote the file.
EXECUTABLE_FORMATS = frozenset({"pickle", "torch-zip", "numpy-pickle", "joblib"})


@dataclass(frozen=True)
class DetectedFormat:
    name: str
    detail: str = ""

    @property
    def can_execute_code(self) -> bool:
        return self.name in EXECUTABLE_FORMATS


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    if n <= 0 or n > min(size - 8, 100_000_000) or head[8:9] != b"{":
        return False
    return True


def _zip_kind(path: Path) -> DetectedFormat:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        return DetectedFormat("zip", f"unreadable zip ({err})")
    if any(n.endswith("data.pkl") for n in names):
        code = any(n.endswith("constants.pkl") or "/code/" in n for n in names)
        if code:
            return DetectedFormat("torchscript", f"{len(names)} members")
        return DetectedFormat("torch-zip", f"{len(names)} members, pickled state")
    if "schema.json" in names:
        return DetectedFormat("skops", f"{len(names)} members")
    if names and all(n.endswith(".npy") for n in names):
        return DetectedFormat("npz", f"{len(names)} arrays")
    if any(n.endswith(".pkl") or n.endswith(".pickle") for n in names):
        return DetectedFormat("torch-zip", "zip holding pickles")
    return DetectedFormat("zip", f"{len(names)} members")


def detect_format(path: Path | str) -> DetectedFormat:
    """The format of a file, judged from its content."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(4096)
        fh.seek(max(0, size - 16))
        tail = fh.read(16)
    if not head:
        return DetectedFormat("empty")
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return DetectedFormat("pickle", f"protocol {head[1]}")
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        return _zip_kind(path)
    if head[:6] == b"\x93NUMPY":
        return DetectedFormat("npy", "")
    if head[:4] == b"PAR1":
        return DetectedFormat("parquet")
    if head[:4] == b"GGUF":
        return DetectedFormat("gguf")
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        return DetectedFormat("hdf5")
    if _looks_like_safetensors(head, size):
        return DetectedFormat("safetensors")
    if head.startswith(b"-----BEGIN") or head.startswith(b"ssh-") or head.startswith(b"ecdsa-"):
        return DetectedFormat("public-key" if b"PUBLIC" in head or not head.startswith(b"-----") else "pem")
    if _looks_like_onnx(head):
        return DetectedFormat("onnx")
    if re.match(rb"^\(?c[A-Za-z_][\w.]*\n[A-Za-z_][\w.]*\n", head):
        return DetectedFormat("pickle", "protocol 0/1 (GLOBAL first)")
    starts = head[:1] in (b"(", b"]", b"}") or (size <= len(head) and head[:1] == b"c")
    if starts and tail.rstrip(b"\n")[-1:] == b".":
        # Protocol 0/1 pickles have no PROTO opcode: GLOBAL ('c') or MARK ('(') first, STOP last.
        # STOP is read from the file's real end: a pickle over 4 KiB must not pass for text.
        return DetectedFormat("pickle", "protocol 0/1")
    text = _as_text(head)
    if text is not None:
        stripped = text.lstrip()
        if stripped.startswith("{") or stripped.startswith("["):
            try:
                json.loads(path.read_text(encoding="utf-8")) if size < 50_000_000 else None
                return DetectedFormat("json")
            except (ValueError, UnicodeDecodeError):
                pass
        lines = text.splitlines()
        if lines and "," in lines[0]:
            return DetectedFormat("csv")
        return DetectedFormat("text")
    return DetectedFormat("binary")


def _looks_like_onnx(head: bytes) -> bool:
    # ModelProto starts with field 1 (ir_version, varint: tag 0x08) and names onnx somewhere early.
    return head[:1] == b"\x08" and (b"onnx" in head[:512].lower() or b"pytorch" in head[:512] or b"skl2onnx" in head[:512])


def _as_text(head: bytes) -> str | None:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:  # a real decode error, not a character cut at 4096 bytes
            return None
        text = head[: err.start].decode("utf-8")
    if "\x00" in text:
        return None
    return text
